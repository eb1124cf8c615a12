"""The RAG pipeline, readable top to bottom: domain -> retrieve -> select -> prompt -> generate, with a trace.

No graph engine, no callbacks: each stage is a plain object with one method, composed here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mmedrag.domains import check_domain
from mmedrag.generation.base import Generator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.io.images import load_image
from mmedrag.progress import batches, track
from mmedrag.retrieval.context import ContextSelector, TopK
from mmedrag.retrieval.retriever import Filters, Mode, Retriever
from mmedrag.types import Answer, Context, Hit, Query


@dataclass
class RAGPipeline:
    """Answers queries with a generator, optionally grounded in retrieved cases.

    Args:
        generator: any :class:`~mmedrag.generation.base.Generator`.
        retriever: None answers without retrieval (the baseline every evaluation compares against).
        selector: how many retrieved hits the generator sees.
        fetch_k: hits retrieved before selection.
        default_domain: used when the query names none (a router comes first once configured).

    Example:
        >>> pipeline = RAGPipeline(generator=ExtractiveGenerator(), retriever=retriever)  # doctest: +SKIP
        >>> pipeline.answer(Query(text="Is there a pleural effusion?", image=image)).text  # doctest: +SKIP
    """

    generator: Generator
    retriever: Retriever | None = None
    selector: ContextSelector = field(default_factory=TopK)
    prompts: PromptBuilder = field(default_factory=PromptBuilder)
    fetch_k: int = 10
    retrieval_mode: Mode = "auto"
    filters: Filters | None = None
    default_domain: str = "radiology"

    def answer(self, query: Query) -> Answer:
        return self.answer_batch([query])[0]

    def answer_batch(self, queries: Sequence[Query], batch_size: int = 16, progress: bool = False) -> list[Answer]:
        """Answer many queries; retrieval and generation run batched. Timings are per query (batch time / size)."""
        answers: list[Answer] = []
        chunks = batches(list(queries), batch_size)
        for chunk in track(chunks, "answering", total=len(chunks), enabled=progress):
            answers.extend(self._answer_chunk(chunk))
        return answers

    def _answer_chunk(self, queries: Sequence[Query]) -> list[Answer]:
        clock = _Clock(len(queries))
        loaded = [self._with_image(query) for query in queries]
        domains = [(check_domain(q.domain), "query") if q.domain else (self.default_domain, "default") for q in loaded]
        clock.lap("route")
        hit_lists: list[list[Hit]] = [[] for _ in loaded]
        if self.retriever is not None:
            hit_lists = self.retriever.search_batch(
                loaded, k=self.fetch_k, mode=self.retrieval_mode, filters=self.filters
            )
        clock.lap("retrieve")
        contexts = [self.selector.select(q, hits) for q, hits in zip(loaded, hit_lists, strict=True)]
        clock.lap("select")
        prompts = [
            self.prompts.build(q, context, domain, count_tokens=self.generator.count_tokens)
            for q, context, (domain, _) in zip(loaded, contexts, domains, strict=True)
        ]
        clock.lap("prompt")
        generations = self.generator.generate(prompts)
        clock.lap("generate")
        answers = []
        for query, hits, context, prompt, generation, (domain, source) in zip(
            loaded, hit_lists, contexts, prompts, generations, domains, strict=True
        ):
            trace: dict[str, Any] = {
                "query_id": query.id,
                "domain_source": source,
                "retrieved": [{"id": h.record.id, "score": round(h.score, 6)} for h in hits],
                "selector": dict(context.trace),
                "prompt": dict(prompt.trace),
                "generator": self.generator.name,
                "generation": dict(generation.meta),
            }
            answers.append(
                Answer(
                    text=generation.text,
                    domain=domain,
                    task=prompt.task,
                    context=_cited(context, prompt.references),
                    prompt_tokens=generation.prompt_tokens,
                    timings_ms=clock.per_query(),
                    trace=trace,
                )
            )
        return answers

    @staticmethod
    def _with_image(query: Query) -> Query:
        if query.image is None and query.image_path:
            from dataclasses import replace

            return replace(query, image=load_image(query.image_path))
        return query


def _cited(context: Context, references: Sequence[Any]) -> Context:
    """The context as the generator saw it: references dropped by the token budget are not cited."""
    shown = {reference.record_id for reference in references}
    return Context(hits=tuple(h for h in context.hits if h.record.id in shown), trace=context.trace)


class _Clock:
    """Stage timings in milliseconds, amortised over the queries of a batch."""

    def __init__(self, size: int) -> None:
        self._size, self._last = size, time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._laps[stage] = (now - self._last) * 1000.0 / self._size
        self._last = now

    def per_query(self) -> dict[str, float]:
        return {**self._laps, "total": sum(self._laps.values())}
