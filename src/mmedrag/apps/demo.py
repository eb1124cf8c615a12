"""The end-to-end demo on real open data, offline, in two parts.

1. Image retrieval: MedPix 2.0 is the knowledge base, VQA-RAD's held-out closed questions are the queries.
2. What a knowledge base can answer: MMed-RAG's IU-Xray closed test questions answered by the extractive generator
   with no reference, with the reference authors' own top-1 retrieved report, and with the gold report (the
   ceiling), beside the majority answer, with the Human Phenotype Ontology explaining the questions' words
   (docs/concepts/knowledge.md; without the kg extra, without it); it ends with one evidence card (question,
   answer, the deciding sentence highlighted in the cited case). Skipped, with a note, when ``mmed_rag_iuxray/``
   is not in the data folder.

No pretrained medical image encoder can be downloaded offline, so the demo trains a small image tower against the
frozen pretrained MiniLM text encoder for about a minute (symmetric contrastive loss) and reports recall@k on
MedPix cases it did not train on. Every answer is graded by its evidence and withheld when the evidence is weak
(another patient's silence never answers); its confidence is calibrated on a development split (VQA-RAD train,
RULE's IU-Xray val questions) and the tables report coverage, accuracy on answered questions, AURC and ECE beside the
majority answer (:mod:`mmedrag.apps.demo_runs`). The tower and the index are cached: a second run reuses both.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.io.readers import read_source
from mmedrag.types import Question, Record

HELD_OUT_FRACTION = 0.15


@dataclass
class DemoSettings:
    data_dir: Path
    work_dir: Path
    k: int = 3
    epochs: int = 20
    image_size: int = 96
    seed: int = 0
    limit: int | None = None
    near_duplicate_bits: int = 6  # dHash distance treated as the same picture (catches re-crops; io/images.py)
    retrain: bool = False
    progress: bool = False
    plot: bool = True


def default_data_dir() -> Path:
    """``MMEDRAG_DATA`` if set, else ``~/.cache/mmedrag/data`` (where ``mmedrag data fetch`` puts datasets)."""
    from mmedrag.datasets import data_root

    return data_root()


def default_work_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "mmedrag" / "demo"


def _fingerprint(records: list[Record], settings: DemoSettings) -> str:
    digest = hashlib.sha256(f"{settings.epochs}:{settings.image_size}:{settings.seed}".encode())
    for record in records:
        digest.update(f"{record.id}\0{record.text}\0".encode())
    return digest.hexdigest()[:16]


def _tower(settings: DemoSettings, records: list[Record], log: Callable[[str], None]) -> dict[str, Any]:
    """Train (or reuse) the image tower with the retriever trainer; return its folder and held-out recall."""
    from mmedrag.training.retriever import RetrieverSettings, train_retriever
    from mmedrag.training.retriever_pairs import pairs_from_records

    folder = settings.work_dir / "tower"
    stamp = folder / "demo.json"
    key = _fingerprint(records, settings)
    if stamp.is_file() and not settings.retrain:
        saved = json.loads(stamp.read_text(encoding="utf-8"))
        if saved.get("key") == key:
            log(f"reusing the image tower trained earlier in {folder}")
            return {**saved, "reused": True}
    # Whole MedPix cases are held out, so no held-out image's case text was seen in training.
    train, held = pairs_from_records(records, heldout_fraction=HELD_OUT_FRACTION, seed=settings.seed)
    log(
        f"training an image tower on {len(train)} MedPix images for {settings.epochs} epochs "
        f"({len(held)} images of held-out cases kept for recall@k)"
    )
    tower = RetrieverSettings(
        base="tower",
        epochs=settings.epochs,
        seed=settings.seed,
        image_size=settings.image_size,
        resume=False,
        allow_worse=True,
        progress=settings.progress,
    )
    report = train_retriever(train, held, folder, tower, log=log)
    recall = report.after["pair"]["image_to_text"]
    info = {
        "key": key,
        "path": str(folder),
        "seconds": report.seconds,
        "epochs": report.epochs_run,
        "final_loss": round(report.losses[-1], 4),
        "held_out_pairs": report.heldout_pairs,
        "held_out_recall": {k: round(v, 4) for k, v in recall.items()},
        "chance_R@1": round(report.chance["pair"]["image_to_text"]["R@1"], 4),
    }
    stamp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    return {**info, "reused": False}


def _closed_questions(data_dir: Path, split: str, limit: int | None) -> list[Question]:
    questions = [q for q in read_source(data_dir / "vqa_rad").questions if q.split == split and q.task == "closed"]
    return questions[:limit] if limit else questions


def _example(questions: list[Question], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first question the retrieval pipeline answered correctly, with its cited cases."""
    for question, row in zip(questions, rows, strict=True):
        if row["citations"] and row["label"] is not None and row["correct"]:
            return {
                "question_id": question.id,
                "image": question.image_path,
                "question": question.question,
                "gold": question.answer,
                "answer": row["answer"],
                "grade": row["grade"],
                "confidence": row["confidence"],
                "citations": row["citations"],
            }
    return None


IU_FOLDER = "mmed_rag_iuxray"
IU_QUESTIONS = "vqa_test_retrieved_top1.jsonl"  # MMed-RAG's test questions with the authors' top-1 retrieval
IU_UNPARSABLE = "iuxray-unparsable_gold.jsonl"  # written to the demo folder: the questions left out of n
IU_DEV = "rule_alignment.json"  # RULE's val-split questions: where part 2's confidence is calibrated


def _iuxray_part(settings: DemoSettings, log: Callable[[str], None]) -> dict[str, Any] | None:
    """Part 2 of the demo (see the module docstring); None when the IU-Xray files are not there."""
    from mmedrag.apps.demo_runs import calibrate, run
    from mmedrag.evaluation.alignment_questions import load_alignment_questions
    from mmedrag.evaluation.results import write_unparsable_gold
    from mmedrag.evaluation.runner import EvalSettings
    from mmedrag.generation.extractive import ExtractiveGenerator
    from mmedrag.generation.prompts import PromptBuilder
    from mmedrag.io.readers.mmed_rag import read_mmed_rag
    from mmedrag.pipeline import Bundle, RAGPipeline

    folder = settings.data_dir / IU_FOLDER
    if not (folder / IU_QUESTIONS).is_file():
        log(f"IU-Xray part skipped: {folder / IU_QUESTIONS} not found")
        return None
    questions = [q for q in read_mmed_rag(folder / IU_QUESTIONS) if isinstance(q, Question)][: settings.limit]
    dev = load_alignment_questions(folder / IU_DEV)[: settings.limit]
    pipeline = RAGPipeline(ExtractiveGenerator(), Bundle(prompts=PromptBuilder(knowledge=_graph(log))))
    rows, calibration, cards = [], {}, {}
    for name, source in (
        ("no reference", "none"),
        ("the authors' top-1 retrieved report", "reference_reports"),
        ("the gold report (the ceiling)", "gold_report"),
    ):
        evaluation = EvalSettings(references=source, images=False)  # type: ignore[arg-type]
        answering = pipeline
        if source != "none":
            fit_settings = replace(evaluation, bootstrap=0)
            answering, report = calibrate(pipeline, dev, settings.work_dir / f"confidence-{source}", fit_settings)
            calibration[name] = report
        row, per_question = run(name, answering, questions, evaluation)
        rows.append(row)
        log(f"IU-Xray, {name}: coverage {row['coverage']:.3f}, accuracy on answered {row['answered_accuracy']:.3f}")
        if source == "reference_reports":
            cards[name] = per_question
            lean, _ = run(f"{name}, every answer given", answering.leaning(), questions, evaluation)
            rows.append(lean)
    card = _evidence_card(folder, questions, cards[rows[1]["name"]])
    # The questions left out of n, so a reader can check why n is less than the file's question count.
    write_unparsable_gold(cards[rows[1]["name"]], settings.work_dir / IU_UNPARSABLE)
    return {
        "source": f"{IU_FOLDER}/{IU_QUESTIONS}",
        "count": len(questions),
        "unparsable_gold_file": IU_UNPARSABLE,
        "rows": rows,
        "calibration": calibration,
        "card": card,
    }


def _graph(log: Callable[[str], None]) -> Any:
    """The HPO concept graph for part 2 (docs/concepts/knowledge.md); None, said once, without the kg extra."""
    from mmedrag.errors import MissingExtraError
    from mmedrag.kg.load import open_graph

    try:
        return open_graph("hpo")
    except MissingExtraError as exc:
        log(f"IU-Xray part without the concept graph: {exc}")
        return None


def _evidence_card(folder: Path, questions: list[Question], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first "yes" question the authors' top-1 report answers right from one of its sentences."""
    for question, row in zip(questions, rows, strict=True):
        grading = row.get("grading") or {}
        if parse_yes_no(question.answer) != "yes" or not row["correct"] or not grading.get("sentence"):
            continue
        report = question.metadata["reference_reports"][0]
        return {
            "question_id": question.id,
            "image": "/".join(Path(str(question.image_path)).parts[-2:]),  # <study>/<view>.png
            "question": question.question,
            "gold": question.answer,
            "answer": row["answer"],
            "grade": row["grade"],
            "confidence": row["confidence"],
            "deciding_sentence": grading["sentence"],
            "cited_report": report,
            "cited_case": _openi_case(folder.parent / "iu_xray_reports" / "reports.jsonl", report),
        }
    return None


def _openi_case(reports: Path, text: str) -> str | None:
    """The Open-i report id (``CXR<n>``) whose FINDINGS or IMPRESSION is ``text``: the authors' retrieved reports
    are Open-i report sections without their ids."""
    try:
        with reports.open(encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                if text.strip() in {
                    str(entry.get("findings") or "").strip(),
                    str(entry.get("impression") or "").strip(),
                }:
                    return f"Open-i {entry['uid']}"
    except (OSError, ValueError, KeyError):
        return None
    return None


def ensure_scope(index_dir: Path, log: Callable[[str], None] = lambda _: None) -> None:
    """Fit the in-scope check of a demo index cached before the check existed (seconds: nothing is encoded)."""
    from mmedrag.indexing import refit_scope
    from mmedrag.retrieval.scope_fit import scope_of
    from mmedrag.stores.index import FolderIndex

    if scope_of(FolderIndex.load(index_dir)) is None:
        log(f"fitting the in-scope check of {index_dir} (cached before the check existed)")
        refit_scope(index_dir)


def run_demo(settings: DemoSettings, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the demo; returns every number it prints (see the module docstring)."""
    from mmedrag.encoders.tower import TowerEncoder
    from mmedrag.indexing import build_index
    from mmedrag.retrieval.retriever import Retriever
    from mmedrag.stores.index import FolderIndex

    started = time.perf_counter()
    medpix, vqa_rad = settings.data_dir / "medpix2", settings.data_dir / "vqa_rad"
    for folder in (medpix, vqa_rad):
        if not folder.is_dir():
            raise DataError(
                f"{folder}: not found; pass --data DIR (or set MMEDRAG_DATA) to the folder holding "
                f"medpix2/ and vqa_rad/"
            )
    records = read_source(medpix).records
    questions = _closed_questions(settings.data_dir, "test", settings.limit)
    log(f"knowledge base: {len(records)} MedPix 2.0 images; queries: {len(questions)} VQA-RAD test closed questions")
    tower = _tower(settings, records, log)
    encoder = TowerEncoder(tower["path"])  # loads the frozen text encoder the tower was aligned to
    index_dir = settings.work_dir / "index"
    index_info: dict[str, Any] = {"path": str(index_dir), "reused": False}
    fresh = not FolderIndex.exists(index_dir) or not tower["reused"]
    if not fresh and FolderIndex.load(index_dir).records.count() != len(records):
        fresh = True
    if fresh:
        log(f"indexing {len(records)} records into {index_dir}")
        report = build_index(records, index_dir, encoder, rebuild=True, progress=settings.progress)
        index_info.update(records=report.total, seconds=report.seconds, store=report.store)
    else:
        log(f"reusing the index in {index_dir}")
        index_info.update(reused=True, records=len(records))
        ensure_scope(index_dir, log)
    retriever = Retriever(FolderIndex.load(index_dir), encoder, near_duplicate_bits=settings.near_duplicate_bits)
    rows, example, calibration = _vqa_rad_part(settings, retriever, questions, log)
    iuxray = _iuxray_part(settings, log)
    if settings.plot:
        _plot(rows, iuxray, settings.work_dir / "risk-coverage.png")
    return {
        "data": str(settings.data_dir),
        "knowledge_base": {"source": "medpix2", "records": len(records)},
        "queries": {"source": "vqa_rad test, closed yes/no", "count": len(questions)},
        "tower": {k: v for k, v in tower.items() if k != "key"},
        "index": index_info,
        "rows": rows,
        "calibration": calibration,
        "example": example,
        "iuxray": iuxray,
        "plot": str(settings.work_dir / "risk-coverage.png") if settings.plot else None,
        "settings": {
            "k": settings.k,
            "epochs": settings.epochs,
            "image_size": settings.image_size,
            "seed": settings.seed,
            "near_duplicate_bits": settings.near_duplicate_bits,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "seconds": round(time.perf_counter() - started, 1),
    }


def _vqa_rad_part(
    settings: DemoSettings, retriever: Any, questions: list[Question], log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, dict[str, Any]]:
    """Part 1: VQA-RAD test closed questions against the MedPix index, confidence calibrated on VQA-RAD train."""
    from mmedrag.apps.demo_runs import calibrate, run
    from mmedrag.config import PipelineConfig
    from mmedrag.evaluation.runner import EvalSettings
    from mmedrag.factory import build_pipeline

    def pipeline(mode: str, with_retrieval: bool = True) -> Any:
        config = PipelineConfig.model_validate({"selector": {"k": settings.k}, "retrieval": {"mode": mode}})
        return build_pipeline(config, retriever=retriever if with_retrieval else None)

    development = _closed_questions(settings.data_dir, "train", settings.limit and 4 * settings.limit)
    log(f"calibrating confidence on {len(development)} VQA-RAD train closed questions (half held out for its ECE)")
    image, report = calibrate(
        pipeline("image"), development, settings.work_dir / "confidence", EvalSettings(bootstrap=0)
    )
    # Each retrieval mode gets its own calibrator: the image mode's would map the question mode's scores onto
    # another accuracy (once it showed answers at 0.41 accuracy, below the majority answer, as confident).
    text, text_report = calibrate(
        pipeline("text"), development, settings.work_dir / "confidence-text", EvalSettings(bootstrap=0)
    )
    evaluation = EvalSettings()
    rows, example = [], None
    for name, answering in (
        ("no retrieval", pipeline("auto", with_retrieval=False)),
        (f"retrieval image->report top-{settings.k}", image),
        (f"retrieval image->report top-{settings.k}, every answer given", image.leaning()),
        (f"retrieval question->report top-{settings.k}", text),
    ):
        row, per_question = run(name, answering, questions, evaluation, settings.progress)
        rows.append(row)
        example = example or (_example(questions, per_question) if answering is image else None)
        log(f"{name}: coverage {row['coverage']:.3f}, accuracy on answered {row['answered_accuracy']:.3f}")
    return rows, example, {"vqa_rad_train (image->report)": report, "vqa_rad_train (question->report)": text_report}


def _plot(rows: list[dict[str, Any]], iuxray: dict[str, Any] | None, path: Path) -> None:
    """Risk-coverage curves of the demo's retrieval runs (part 1 and part 2) in one figure."""
    from mmedrag._optional import available

    if not available("matplotlib"):
        return
    from mmedrag.evaluation.plots import curve_entry, plot_risk_coverage

    curves = {f"VQA-RAD, {r['name']}": curve_entry(r["selective"]) for r in rows[1:2]}
    shown = [row for row in (iuxray or {}).get("rows", [])[1:] if "every answer given" not in row["name"]]
    for number, row in enumerate(shown):  # one majority line per question set
        curves[f"IU-Xray, {row['name']}"] = curve_entry(row["selective"], majority=number == len(shown) - 1)
    plot_risk_coverage(curves, path, title="Risk against coverage, answers ranked by calibrated confidence")
