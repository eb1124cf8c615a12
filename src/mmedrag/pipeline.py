"""The RAG pipeline, readable top to bottom: route -> retrieve -> select -> prompt -> generate, with a trace.

Routing follows the written order of :func:`mmedrag.routing.route`: the query's own domain, then the router, then
the default; a query the router finds out of scope is not answered, nor one whose image the knowledge base's own
in-scope check flags (:mod:`mmedrag.retrieval.scope`, on unless ``scope_check`` is False; the router and the check
both apply). Each domain may have its own bundle (index, selector, prompts, adapter: MMed-RAG's per-domain
retrievers, method.md §2.1); domains without one use the pipeline's default bundle. No graph engine, no callbacks:
each stage is a plain object with one method.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mmedrag.calibration.confidence import ConfidenceCalibrator
from mmedrag.domains import OUT_OF_SCOPE
from mmedrag.errors import ConfigError
from mmedrag.generation.base import Generator
from mmedrag.generation.grading import WEAK_POLICIES, grade_generation
from mmedrag.generation.prompts import PromptBuilder, infer_task, refers_to_image
from mmedrag.io.images import query_image
from mmedrag.kg.boost import prefer_asserting
from mmedrag.kg.links import ConceptLinks, Link
from mmedrag.progress import batches, track
from mmedrag.retrieval.consistency import screen
from mmedrag.retrieval.context import ContextSelector, TopK
from mmedrag.retrieval.retriever import Filters, Mode, Retriever
from mmedrag.routing.base import DomainRouter, RouteDecision, route_batch
from mmedrag.types import UNKNOWN, Answer, Context, Generation, Grade, Hit, Prompt, Query


@dataclass
class Bundle:
    """What answers one domain: its retriever (index + encoder), selector, prompt settings and generator adapter.

    Retrieval fetches ``max(fetch_k, selector.max_k)`` hits, so the selector always sees as many as it may keep.
    """

    name: str = "default"
    retriever: Retriever | None = None
    selector: ContextSelector = field(default_factory=TopK)
    prompts: PromptBuilder = field(default_factory=PromptBuilder)
    fetch_k: int = 10
    retrieval_mode: Mode = "auto"
    filters: Filters | None = None
    adapter: str | None = None
    concept_links: ConceptLinks | None = None
    """Which concepts each case's report asserts (:mod:`mmedrag.kg.links`): with a knowledge graph in ``prompts``,
    cases that assert the asked concept fill the selector's places first (:mod:`mmedrag.kg.boost`)."""

    @property
    def retrieve_k(self) -> int:
        return max(self.fetch_k, self.selector.max_k or 0)


@dataclass
class Planned:
    """A query after routing and retrieval: everything generation needs, kept so selection can be re-run.

    It is not changed by :meth:`RAGPipeline.respond`, so one plan can be answered several ways (k calibration,
    reliance runs): each answer's bundle comes from the answering pipeline, by the routed domain.
    """

    query: Query
    route: RouteDecision
    hits: list[Hit] = field(default_factory=list)
    inconsistent: list[dict[str, str]] = field(default_factory=list)
    """Hits set aside because their body region or modality contradicts the query's, with the reason."""
    abstained: str | None = None
    """Why the input itself cannot be answered (a question about "this image" without one)."""
    note: str = ""
    """What the reader should know about the input (no image given)."""
    asserting: dict[str, dict[str, Link]] = field(default_factory=dict)
    """Retrieved case id -> asked concept id -> what its report (or its MeSH annotation) says of it."""
    by_words: bool = False
    """The cases were found by the question's words (no image, or text retrieval), not as cases like this image."""

    def without_retrieval(self) -> Planned:
        """This plan answered from the query alone (the no-retrieval baseline of reliance and preference runs)."""
        return replace(self, query=replace(self.query, retrieval=False))

    @property
    def answerable(self) -> bool:
        """In scope (router and in-scope check) and a well-formed input."""
        return self.route.domain is not None and self.abstained is None


@dataclass
class _Step:
    """One query on its way through :meth:`RAGPipeline.respond`: what each stage made of it."""

    planned: Planned
    bundle: Bundle | None = None
    context: Context | None = None
    prompt: Prompt | None = None
    generation: Generation | None = None


@dataclass
class RAGPipeline:
    """Answers queries with a generator, grounded in the cases its domain's retriever finds.

    ``default`` answers every domain without an entry in ``bundles``.

    Example:
        >>> pipeline = RAGPipeline(ExtractiveGenerator(), Bundle(retriever=retriever))  # doctest: +SKIP
        >>> pipeline.answer(Query(text="Is there a pleural effusion?", image=image)).text  # doctest: +SKIP
    """

    generator: Generator
    default: Bundle = field(default_factory=Bundle)
    bundles: Mapping[str, Bundle] = field(default_factory=dict)
    router: DomainRouter | None = None
    default_domain: str | None = "radiology"
    consistency: bool = True
    """Set aside retrieved cases whose body region or modality contradicts the query's (traced as "inconsistent")."""
    image_questions: bool = True
    """Abstain on a question about "this image" that comes without an image (off for deliberate text-only runs)."""
    scope_check: bool = True
    """Abstain (grade ``out_of_scope``) on a query image unlike every image of the index (its in-scope fit)."""
    answer_weak: str = "abstain"
    """``abstain``: a weakly supported answer is withheld with the reason (the default: a confident answer the
    evidence does not support is worse than none); ``lean``: it is given, graded ``weak``."""
    calibrator: ConfidenceCalibrator | None = None
    """Maps (grade, raw confidence) to the probability of being right; None: the raw number, marked uncalibrated."""
    min_confidence: float = 0.5
    """A yes/no answer less likely right than this is withheld: below 0.5 the other answer is the likelier one."""

    def __post_init__(self) -> None:
        if self.answer_weak not in WEAK_POLICIES:
            raise ConfigError(f"answer_weak={self.answer_weak!r}; use one of {', '.join(WEAK_POLICIES)}")

    def leaning(self) -> RAGPipeline:
        """The same pipeline giving every answer it has (weakly supported or unlikely ones too) instead of withholding
        it: the generator's own behaviour, which preference mining, k calibration and reliance diagnostics measure,
        and the literature's answer-every-question setting."""
        return replace(self, answer_weak="lean", min_confidence=0.0)

    def bundle_for(self, domain: str) -> Bundle:
        return self.bundles.get(domain, self.default)

    def answer(self, query: Query) -> Answer:
        return self.answer_batch([query])[0]

    def answer_batch(self, queries: Sequence[Query], batch_size: int = 16, progress: bool = False) -> list[Answer]:
        """Answer many queries; routing, retrieval and generation run batched. Timings are per query."""
        answers: list[Answer] = []
        chunks = batches(list(queries), batch_size)
        for chunk in track(chunks, "answering", total=len(chunks), enabled=progress):
            clock = _Clock(len(chunk))
            planned = self.plan(chunk, clock)
            answers.extend(self.respond(planned, clock=clock))
        return answers

    def with_selector(self, selector: ContextSelector) -> RAGPipeline:
        """The same pipeline choosing references with ``selector`` in every bundle: a fixed k for calibration and
        preference mining, every gold reference in evaluation."""
        bundles = {name: replace(bundle, selector=selector) for name, bundle in self.bundles.items()}
        return replace(self, default=replace(self.default, selector=selector), bundles=bundles)

    def plan(self, queries: Sequence[Query], clock: _Clock | None = None) -> list[Planned]:
        """Load images, route each query, and retrieve its domain's bundle's ``retrieve_k`` hits."""
        clock = clock or _Clock(len(queries))
        loaded = [replace(query, image=query_image(query)) for query in queries]
        decisions = route_batch([q.domain for q in loaded], [q.image for q in loaded], self.router, self.default_domain)
        clock.lap("route")
        planned = [Planned(q, d) for q, d in zip(loaded, decisions, strict=True)]
        groups: dict[int, list[Planned]] = {}  # by retriever: bundles may share one
        for item in planned:  # a query asking for no retrieval (Query.retrieval) is answered from itself alone
            bundle = self._bundle(item)
            if bundle is not None and bundle.retriever is not None and item.query.retrieval:
                groups.setdefault(id(bundle.retriever), []).append(item)
        for group in groups.values():
            bundle = self._bundle(group[0])
            assert bundle is not None and bundle.retriever is not None
            asked = max((p.query.max_references or 0) for p in group)  # a request may ask for more than the bundle
            found, verdicts = bundle.retriever.search_checked(
                [p.query for p in group],
                k=max(bundle.retrieve_k, asked),
                mode=bundle.retrieval_mode,
                filters=bundle.filters,
                check_scope=self.scope_check,
            )
            for item, hits, verdict in zip(group, found, verdicts, strict=True):
                item.hits = hits
                item.by_words = bundle.retrieval_mode == "text" or item.query.image is None
                item.route = item.route.with_scope(verdict.to_dict(), verdict.out_of_scope)
        for item in planned:
            self._screen(item)
            item.asserting = self._asserting(item)
        clock.lap("retrieve")
        return planned

    def _bundle(self, planned: Planned) -> Bundle | None:
        return self.bundle_for(planned.route.domain) if planned.route.domain is not None else None

    def _screen(self, item: Planned) -> None:
        """The input checks: a question about "this image" without one abstains, a question without an image is
        answered text-only (and says so), and references that contradict the query are set aside."""
        if not item.answerable:
            return
        if item.query.image is None:
            if self.image_questions and refers_to_image(item.query.text):
                item.hits, item.abstained, item.note = [], NO_IMAGE, NO_IMAGE
                return
            item.note = TEXT_ONLY
        if self.consistency:
            item.hits, item.inconsistent = screen(item.query, item.hits)

    def _asserting(self, item: Planned) -> dict[str, dict[str, Link]]:
        bundle = self._bundle(item) if item.answerable else None
        if bundle is None or bundle.concept_links is None or bundle.prompts.knowledge is None or not item.hits:
            return {}
        asked = [concept.id for concept in bundle.prompts.knowledge.find(item.query.text)]
        return bundle.concept_links.of([hit.record.id for hit in item.hits], asked)

    def respond(self, planned: Sequence[Planned], clock: _Clock | None = None) -> list[Answer]:
        """Select, prompt and generate for planned queries, one answer (or abstention) per query, in order."""
        clock = clock or _Clock(len(planned))
        steps = [_Step(p, self._bundle(p) if p.answerable else None) for p in planned]
        for step in steps:
            step.context = self._select(step)
        clock.lap("select")
        for step in steps:
            step.prompt = self._prompt(step)
        clock.lap("prompt")
        live = [step for step in steps if step.prompt is not None]
        for step, generation in zip(live, self.generator.generate([s.prompt for s in live if s.prompt]), strict=True):
            step.generation = generation
        clock.lap("generate")
        timings = clock.per_query()
        return [self._answer(step, timings) if step.generation else _abstention(step, timings) for step in steps]

    def _select(self, step: _Step) -> Context | None:
        if step.bundle is None:
            return None
        query = step.planned.query
        if not query.retrieval:
            return Context(trace={"rule": "no_retrieval"})
        context = _capped(step.bundle.selector.select(query, step.planned.hits), query.max_references)
        if step.planned.asserting and not context.trace.get("abstain"):
            context = prefer_asserting(context, step.planned.hits, set(step.planned.asserting))
        return context

    def _prompt(self, step: _Step) -> Prompt | None:
        """None when there is nothing to generate: no bundle, or the selector abstained (e.g. no k was certified:
        abstaining keeps the risk guarantee honest)."""
        domain = step.planned.route.domain
        if step.bundle is None or step.context is None or step.context.trace.get("abstain") or domain is None:
            return None
        prompt = step.bundle.prompts.build(
            step.planned.query, step.context, domain, count_tokens=self.generator.count_tokens
        )
        return replace(prompt, adapter=step.bundle.adapter) if step.bundle.adapter else prompt

    def _answer(self, step: _Step, timings: dict[str, float]) -> Answer:
        p, bundle, context, prompt, generation = step.planned, step.bundle, step.context, step.prompt, step.generation
        assert bundle is not None and context is not None and prompt is not None and generation is not None
        verdict = grade_generation(prompt, generation)
        if p.by_words and verdict.grade == "supported" and verdict.evidence.get("tier") == "similar_sentence":
            # A case found because its report uses the question's words is no case like this patient's: what it
            # states is no evidence about this patient (without an image, "Is there an effusion?" finds effusions).
            note = f"These cases were found by the question's words, not by an image like yours. {verdict.note}"
            verdict = replace(verdict, grade="weak", note=note)
        text, grade = generation.text, verdict.grade
        trace: dict[str, Any] = {
            "query_id": p.query.id,
            "route": p.route.to_dict(),
            "domain_source": p.route.source,
            "bundle": bundle.name,
            "retrieved": [{"id": h.record.id, "score": round(h.score, 6)} for h in p.hits],
            "inconsistent": list(p.inconsistent),
            **(_links_trace(p, bundle) if p.asserting else {}),
            "selector": dict(context.trace),
            "prompt": {**prompt.trace, "messages": list(prompt.messages)},
            "generator": self.generator.name,
            "generation": dict(generation.meta),
            "grading": {
                "grade": verdict.grade,
                "group": verdict.group,
                "raw_confidence": verdict.raw_confidence,
                **verdict.evidence,
            },
        }
        confidence = self._confidence(verdict.group, verdict.raw_confidence)
        note = verdict.note
        weak = grade == "weak" and self.answer_weak == "abstain"
        unsure = grade != "abstained" and confidence is not None and confidence < self.min_confidence
        if prompt.task == "closed" and (weak or unsure):
            # Withheld, not lost: the leaning answer and its confidence stay in the trace (risk-coverage curves).
            trace["withheld"] = {"answer": text, "confidence": confidence}
            if not weak:
                note = (
                    f"Withheld: answers resting on such evidence are right {confidence:.0%} of the time, below the "
                    f"{self.min_confidence:.0%} this pipeline answers at. {note}"
                )
            text, grade, confidence = UNKNOWN, "abstained", None
        if grade == "abstained":
            confidence = None
        cited = _cited(context, prompt.references) if grade != "abstained" else Context(trace=context.trace)
        return Answer(
            text=text,
            domain=p.route.domain or OUT_OF_SCOPE,
            task=prompt.task,
            context=cited,
            prompt_tokens=generation.prompt_tokens,
            timings_ms=timings,
            trace=trace,
            yes_probability=generation.yes_probability,
            grade=grade,
            confidence=confidence,
            confidence_calibrated=confidence is not None and self.calibrator is not None,
            note=" ".join(n for n in (note, p.note) if n),
        )

    def _confidence(self, group: str, raw: float | None) -> float | None:
        if raw is None:
            return None
        return self.calibrator(group, raw) if self.calibrator is not None else raw


def _links_trace(planned: Planned, bundle: Bundle) -> dict[str, Any]:
    """What the retrieved cases' reports say about the asked concepts, whether the report text or its MeSH
    annotation says it (``sources``), and which index version the links are of (compare with the index version
    served: links older than it cover only the records they knew)."""
    links = bundle.concept_links
    version = links.meta.get("index_version") if links is not None else None
    said = planned.asserting
    return {
        "concept_links": {
            "asserting": {record: {c: link.status for c, link in by.items()} for record, by in said.items()},
            "sources": {record: {c: link.source for c, link in by.items()} for record, by in said.items()},
            "index_version": version,
        }
    }


def _capped(context: Context, cap: int | None) -> Context:
    """The request's ``max_references``, applied once after whichever selector chose (calibrated included)."""
    if cap is None or len(context.hits) <= cap:
        return context
    return Context(hits=context.hits[:cap], trace={**context.trace, "max_references": cap})


NO_IMAGE = "No image was given; the question asks about this image."
TEXT_ONLY = "Text-only: no image given, answered from the question's text."


def _abstention(step: _Step, timings: dict[str, float]) -> Answer:
    """No answer: the router or the in-scope check found the image out of scope (a chart, a photo), the input cannot
    be answered (no image), or the selector abstained."""
    planned, context = step.planned, step.context
    task = planned.query.task or infer_task(planned.query.text)
    trace: dict[str, Any] = {
        "query_id": planned.query.id,
        "route": planned.route.to_dict(),
        "domain_source": planned.route.source,
        "retrieved": [{"id": h.record.id, "score": round(h.score, 6)} for h in planned.hits],
    }
    grade: Grade
    if planned.abstained:
        trace["abstained"] = planned.abstained
        grade, note = "abstained", planned.note
    elif context is None:
        grade = "out_of_scope"
        scope = planned.route.scope or {}
        if scope.get("status") == "out_of_scope":
            trace["abstained"] = f"the in-scope check flagged the image ({scope.get('reason')})"
            share = 1.0 - float(scope.get("alpha") or 0.05)
            note = (
                f"Its nearest knowledge-base cases are less alike than {share:.0%} of the knowledge base's own images "
                "are to theirs (a chart, a photograph or a screenshot is): it is not answered and nothing is cited."
            )
        else:
            trace["abstained"] = "the router found the image out of scope for every configured domain"
            note = "The image does not look like any domain this router covers, so it is not answered."
    else:
        trace["abstained"] = f"the context selector abstained ({context.trace.get('reason')})"
        trace["selector"] = dict(context.trace)
        grade, note = (
            "abstained",
            f"No number of references is certified for this query ({context.trace.get('reason')}).",
        )
    return Answer(
        text=UNKNOWN,
        domain=planned.route.domain or OUT_OF_SCOPE,
        task=task,
        context=Context(),
        timings_ms=timings,
        trace=trace,
        grade=grade,
        note=note,
    )


def _cited(context: Context, references: Sequence[Any]) -> Context:
    """The context as the generator saw it: references dropped by the token budget are not cited."""
    shown = {reference.record_id for reference in references}
    return Context(hits=tuple(h for h in context.hits if h.record.id in shown), trace=context.trace)


class _Clock:
    """Stage timings in milliseconds, amortised over the queries of a batch."""

    def __init__(self, size: int) -> None:
        self._size, self._last = max(size, 1), time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._laps[stage] = (now - self._last) * 1000.0 / self._size
        self._last = now

    def per_query(self) -> dict[str, float]:
        return {**self._laps, "total": sum(self._laps.values())}
