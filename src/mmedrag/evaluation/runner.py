"""`mmedrag evaluate`: answer a question set with a pipeline and write exact, documented metrics.

Outputs in one folder: ``results.json`` (every number, the report-metrics protocol, the implementations used,
confidence intervals), ``results.md`` (tables), ``per_question.jsonl`` (what `mmedrag compare` reads),
``unparsable_gold.jsonl`` (closed questions whose gold label is not yes/no, left out of n), ``summary.png`` and
``config.yaml`` (the resolved configuration). Answers are cached by prompt (``answers.sqlite``), so re-running with
another metric or selector does not regenerate what was already generated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from mmedrag.errors import ConfigError
from mmedrag.evaluation.cares import cares_metrics
from mmedrag.evaluation.closed import auroc, parse_yes_no
from mmedrag.evaluation.closed_table import closed_summary
from mmedrag.evaluation.judges import Judge, rouge_l_f1
from mmedrag.evaluation.open_answers import exact_match, open_metrics, token_recall
from mmedrag.evaluation.reliance import noise_image, reliance_metrics
from mmedrag.evaluation.report_metrics import report_metrics
from mmedrag.evaluation.results import write_results
from mmedrag.evaluation.retrieval_metrics import retrieval_metrics
from mmedrag.evaluation.selective import selective_inputs, selective_metrics
from mmedrag.evaluation.stats import bootstrap_ci
from mmedrag.generation.cache import CachedGenerator
from mmedrag.pipeline import Planned, RAGPipeline
from mmedrag.progress import batches, track
from mmedrag.retrieval.context import TopK
from mmedrag.types import Answer, Hit, Question, Record

ReferenceSource = Literal["retrieve", "none", "gold_report", "reference_reports"]


@dataclass(frozen=True)
class EvalSettings:
    """What to measure. ``references``: ``retrieve`` (the pipeline's retriever), ``none``, or references carried
    by the questions (``gold_report``: the question's own report, an upper bound; ``reference_reports``: a given
    retrieval output, e.g. the reference authors' top-1 file)."""

    references: ReferenceSource = "retrieve"
    images: bool = True  # False: questions are asked without their images (e.g. the IU-Xray files, images absent)
    reliance: bool = False
    report_metrics: tuple[str, ...] = ("bleu", "rouge_l", "cider", "meteor")
    metrics_protocol: str = "coco"  # report metrics: "coco" or "nltk" (evaluation/report_metrics.py)
    tokenizer: str = "auto"  # coco protocol: "auto", "java" (the PTBTokenizer jar) or "python"
    bootstrap: int = 1000  # resamples for the intervals; 0: no intervals
    seed: int = 0
    batch_size: int = 16


def _fixed_hits(question: Question, source: ReferenceSource) -> list[Hit]:
    texts = (
        [question.metadata.get("gold_report")]
        if source == "gold_report"
        else list(question.metadata.get("reference_reports") or [])
    )
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise ConfigError(f"question {question.id} carries no {source}; use a source that provides it")
    # The gold report is the study's own (its silence may answer); given retrievals are other patients'.
    study = _study_of(question) if source == "gold_report" else None
    return [
        Hit(Record(id=f"{question.id}:{source}:{i}", text=str(t), study_id=study), 1.0, i)
        for i, t in enumerate(texts, start=1)
    ]


def _study_of(question: Question) -> str:
    return question.study_id or f"question:{question.id}"


def _plan(pipeline: RAGPipeline, chunk: Sequence[Question], settings: EvalSettings) -> list[Planned]:
    queries = [q.to_query() if settings.images else replace(q.to_query(), image_path=None) for q in chunk]
    # Questions asked without their images on purpose are answered text-only, not refused for lacking one.
    planned = (pipeline if settings.images else replace(pipeline, image_questions=False)).plan(queries)
    if settings.references in {"gold_report", "reference_reports"}:
        for item, question in zip(planned, chunk, strict=True):
            item.hits, item.inconsistent, item.by_words = _fixed_hits(question, settings.references), [], False
            item.query = replace(item.query, study_id=_study_of(question))
    if settings.references == "none":  # retrieved all the same: the in-scope check runs on the knowledge base
        return [item.without_retrieval() for item in planned]
    return planned


def _scored(question: Question, text: str, judge: Judge, **details: Any) -> dict[str, Any]:
    """One per-question row: the question, the answer, its judgement, and whatever the run knows besides."""
    return {
        "id": question.id,
        "task": question.task,
        "question": question.question,
        "gold": question.answer,
        "answer": text,
        "correct": judge.correct(question.task, text, question.answer),
        "label": parse_yes_no(text) if question.task == "closed" else None,
        "relevant": list(question.metadata.get("relevant_ids") or []),
        **details,
    }


def _row(question: Question, answer: Answer, judge: Judge) -> dict[str, Any]:
    withheld = answer.trace.get("withheld")
    lean = str(withheld["answer"]) if withheld else None
    return _scored(
        question,
        answer.text,
        judge,
        yes_probability=answer.yes_probability,
        domain=answer.domain,
        k=answer.context.k,
        citations=answer.citations,
        retrieved=[hit["id"] for hit in answer.trace.get("retrieved", [])],
        grade=answer.grade,
        confidence=answer.confidence,
        grading=answer.trace.get("grading"),
        withheld=withheld,
        withheld_correct=None if lean is None else judge.correct(question.task, lean, question.answer),
    )


def answer_all(
    pipeline: RAGPipeline, questions: Sequence[Question], settings: EvalSettings, judge: Judge, progress: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Per-question rows for the main run and, with ``settings.reliance``, the no-retrieval and noise runs."""
    runs: dict[str, list[dict[str, Any]]] = {"main": []}
    if settings.reliance:
        runs.update(without_retrieval=[], noise_image=[])
    order = image_order(questions)  # questions about one image share a batch, so generators share their prefix
    chunks = batches([questions[i] for i in order], settings.batch_size)
    for chunk in track(chunks, "evaluating", total=len(chunks), enabled=progress):
        planned = _plan(pipeline, chunk, settings)
        main = pipeline
        if settings.references in {"gold_report", "reference_reports"}:
            main = pipeline.with_selector(TopK(max(len(p.hits) for p in planned)))
        answers = main.respond(planned)
        runs["main"].extend(_row(q, a, judge) for q, a in zip(chunk, answers, strict=True))
        if not settings.reliance:
            continue
        bare = pipeline.leaning().respond([p.without_retrieval() for p in planned])
        runs["without_retrieval"].extend(_row(q, a, judge) for q, a in zip(chunk, bare, strict=True))
        noisy = [
            replace(p, query=replace(p.query, image=noise_image(p.query.image.size, f"{settings.seed}:{q.id}")))
            if p.query.image is not None
            else p
            for p, q in zip(planned, chunk, strict=True)
        ]
        with_noise = main.leaning().respond(noisy)
        runs["noise_image"].extend(_row(q, a, judge) for q, a in zip(chunk, with_noise, strict=True))
    for name, rows in runs.items():  # back to the input order
        restored: list[dict[str, Any]] = [{}] * len(rows)
        for position, index in enumerate(order):
            restored[index] = rows[position]
        runs[name] = restored
    return runs


def chunk_size(requested: int, generator: object) -> int:
    """Questions per pipeline call: at least two of the generator's own batches (``batch_size`` of the local model,
    ``concurrency`` of a server), so that its batches run full and a group about one image is rarely cut."""
    own = getattr(generator, "batch_size", None) or getattr(generator, "concurrency", None) or 0
    return max(requested, 2 * int(own))


def image_order(questions: Sequence[Question]) -> list[int]:
    """Question indices with questions about the same image adjacent (images in order of first appearance, questions
    in input order within an image); questions without an image keep their own place."""
    first: dict[str, int] = {}
    keys = [first.setdefault(q.image_path, i) if q.image_path else i for i, q in enumerate(questions)]
    return sorted(range(len(questions)), key=lambda i: (keys[i], i))


def rows_from_answers(questions: Sequence[Question], path: str | Path, judge: Judge) -> list[dict[str, Any]]:
    """Rows for answers produced elsewhere: a JSONL of ``{"id": question id, "answer": text}`` lines.

    Raises:
        DataError: the file does not answer exactly the given questions (ids missing, unknown or repeated).
    """
    from mmedrag.errors import DataError

    answers: dict[str, str] = {}
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                identifier, text = str(data["id"]), data["answer"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(f"{path}:{number}: expected {{'id': ..., 'answer': ...}} ({exc})") from exc
            if not isinstance(text, str):
                raise DataError(f"{path}:{number}: answer of {identifier} is not a string")
            if identifier in answers:
                raise DataError(f"{path}:{number}: question {identifier} answered twice")
            answers[identifier] = text
    wanted = {q.id for q in questions}
    missing, extra = sorted(wanted - set(answers)), sorted(set(answers) - wanted)
    if missing or extra:
        raise DataError(
            f"{path} does not match the questions: {len(missing)} unanswered (e.g. {missing[:3]}), "
            f"{len(extra)} unknown ids (e.g. {extra[:3]})"
        )
    return [
        _scored(q, answers[q.id], judge, yes_probability=None, domain=q.domain, k=None, citations=[], retrieved=[])
        for q in questions
    ]


def _closed(rows: list[dict[str, Any]], settings: EvalSettings) -> dict[str, Any]:
    golds = [parse_yes_no(r["gold"]) for r in rows]
    labels = [r["label"] for r in rows]
    result = closed_summary(labels, golds, samples=settings.bootstrap, seed=settings.seed)
    probabilities = [r["yes_probability"] for r in rows]
    scored = [(p, g) for p, g in zip(probabilities, golds, strict=True) if p is not None and g is not None]
    result["auroc"] = auroc(*zip(*scored, strict=True)) if scored and len(scored) == len(rows) else None
    result["auroc_note"] = None if result["auroc"] is not None else "needs P(yes) (transformers generator)"
    result["unparsable_gold"] = sum(g is None for g in golds)
    result["questions"] = len(rows)
    # The reference scorer reads every answer and gold label its own way (evaluation/cares.py): both numbers shown.
    result["cares"] = cares_metrics([r["answer"] for r in rows], [r["gold"] or "" for r in rows])
    judged = [r for r, g in zip(rows, golds, strict=True) if g is not None]
    result["selective"] = selective_metrics(*selective_inputs(judged), result.get("majority_accuracy", 0.0))
    return result


def _open(rows: list[dict[str, Any]], settings: EvalSettings) -> dict[str, Any]:
    result: dict[str, Any] = open_metrics([r["answer"] for r in rows], [r["gold"] for r in rows])
    if settings.bootstrap > 0:
        recalls = [token_recall(r["answer"], r["gold"]) for r in rows]
        matches = [exact_match(r["answer"], r["gold"]) for r in rows]
        result["token_recall_ci"] = bootstrap_ci(recalls, samples=settings.bootstrap, seed=settings.seed)[1:]
        result["exact_match_ci"] = bootstrap_ci(matches, samples=settings.bootstrap, seed=settings.seed)[1:]
    return result


def _report(rows: list[dict[str, Any]], settings: EvalSettings) -> dict[str, Any]:
    result = report_metrics(
        [r["answer"] for r in rows],
        [r["gold"] for r in rows],
        settings.report_metrics,
        protocol=settings.metrics_protocol,
        tokenizer=settings.tokenizer,
    )
    if settings.bootstrap > 0:
        per_report = [rouge_l_f1(r["answer"], r["gold"]) for r in rows]
        interval = bootstrap_ci(per_report, samples=settings.bootstrap, seed=settings.seed)[1:]
        result["rouge_l_f1_per_report_ci"] = interval
    return result


def summarize(runs: dict[str, list[dict[str, Any]]], settings: EvalSettings) -> dict[str, Any]:
    main = runs["main"]
    summary: dict[str, Any] = {"n": len(main), "tasks": {}}
    for task, scorer in (("closed", _closed), ("open", _open), ("report", _report)):
        rows = [r for r in main if r["task"] == task]
        if rows:
            summary["tasks"][task] = scorer(rows, settings)
    judged = [r for r in main if r.get("relevant")]
    if judged:  # relevance is known only where the questions say which records answer them
        summary["retrieval"] = retrieval_metrics([r["retrieved"] for r in judged], [set(r["relevant"]) for r in judged])
    summary["abstentions"] = sum(r["answer"].strip().lower() == "unknown" for r in main)
    summary["empty_answers"] = sum(not r["answer"].strip() for r in main)
    if settings.reliance:
        summary["reliance"] = reliance_metrics(
            [r["correct"] for r in runs["without_retrieval"]],
            [r["correct"] for r in main],
            [r["correct"] for r in runs["noise_image"]],
        )
    return summary


def evaluate(
    pipeline: RAGPipeline | None,
    questions: Sequence[Question],
    out_dir: str | Path,
    settings: EvalSettings | None = None,
    judge: Judge | None = None,
    config_yaml: str | None = None,
    cache: str | Path | None = None,
    progress: bool = False,
    answers: str | Path | None = None,
) -> dict[str, Any]:
    """Answer ``questions`` and write the result folder; returns ``results.json``'s content.

    Args:
        pipeline: None with ``answers`` given: score answers produced elsewhere.
        answers: a JSONL of ``{"id", "answer"}`` to score instead of running the pipeline.
    """
    settings, judge = settings or EvalSettings(), judge or Judge()
    if not questions:
        raise ConfigError("no questions to evaluate")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if answers is not None:
        if settings.reliance:
            raise ConfigError("reliance diagnostics re-run the pipeline; they cannot use a fixed answer file")
        runs, name, cache_stats = {"main": rows_from_answers(questions, answers, judge)}, f"answers:{answers}", {}
    elif pipeline is not None:
        settings = replace(settings, batch_size=chunk_size(settings.batch_size, pipeline.generator))
        cached = CachedGenerator(pipeline.generator, cache or out / "answers.sqlite")
        runs = answer_all(replace(pipeline, generator=cached), questions, settings, judge, progress)
        name, cache_stats = pipeline.generator.name, {"hits": cached.hits, "misses": cached.misses}
    else:
        raise ConfigError("give a pipeline or an answer file to evaluate")
    seconds = time.perf_counter() - started
    return write_results(out, runs, summarize(runs, settings), settings, judge, name, cache_stats, seconds, config_yaml)
