"""The end-to-end demo on real open data, offline, in two parts.

1. Image retrieval: MedPix 2.0 is the knowledge base, VQA-RAD's held-out closed questions are the queries.
2. What a knowledge base can answer: MMed-RAG's IU-Xray closed test questions answered by the extractive generator
   with no reference, with the reference authors' own top-1 retrieved report, and with the gold report (the
   ceiling), beside the majority answer; it ends with one evidence card (question, answer, the deciding sentence
   highlighted in the cited case). Skipped, with a note, when ``mmed_rag_iuxray/`` is not in the data folder.

No pretrained medical image encoder can be downloaded offline, so the demo trains a small image tower against the
frozen pretrained MiniLM text encoder for about a minute (symmetric contrastive loss) and reports recall@k on
MedPix cases it did not train on. It then answers every question with the extractive generator, without and with
retrieval, and reports accuracy, abstentions and time. The tower and the index are cached: a second run reuses both.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.evaluation.closed_table import closed_summary
from mmedrag.io.images import load_image
from mmedrag.io.readers import read_source
from mmedrag.types import Answer, Question, Record

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


def _closed_questions(data_dir: Path, limit: int | None) -> list[Question]:
    questions = [q for q in read_source(data_dir / "vqa_rad").questions if q.split == "test" and q.task == "closed"]
    return questions[:limit] if limit else questions


def _score(name: str, questions: list[Question], answers: list[Answer], seconds: float) -> dict[str, Any]:
    return _score_texts(name, questions, [a.text for a in answers], seconds)


def _score_texts(name: str, questions: list[Question], texts: list[str], seconds: float) -> dict[str, Any]:
    metrics = closed_summary([parse_yes_no(t) for t in texts], [parse_yes_no(q.answer) for q in questions])
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    return {"name": name, **rounded, "seconds": round(seconds, 2)}


def _example(questions: list[Question], answers: list[Answer]) -> dict[str, Any] | None:
    """The first question the retrieval pipeline answered correctly, with its cited cases."""
    for question, answer in zip(questions, answers, strict=True):
        if answer.context.hits and parse_yes_no(answer.text) == parse_yes_no(question.answer):
            return {
                "question_id": question.id,
                "image": question.image_path,
                "question": question.question,
                "gold": question.answer,
                "answer": answer.text,
                "citations": [
                    {"id": h.record.id, "score": round(h.score, 4), "first_line": h.record.first_line}
                    for h in answer.context.hits
                ],
            }
    return None


IU_FOLDER = "mmed_rag_iuxray"
IU_QUESTIONS = "vqa_test_retrieved_top1.jsonl"  # MMed-RAG's test questions with the authors' top-1 retrieval


def _iuxray_part(data_dir: Path, limit: int | None, log: Callable[[str], None]) -> dict[str, Any] | None:
    """Part 2 of the demo (see the module docstring); None when the IU-Xray files are not there."""
    from mmedrag.generation.extractive import ClosedPolicy, answer_closed
    from mmedrag.io.readers.mmed_rag import read_mmed_rag
    from mmedrag.types import Reference

    folder = data_dir / IU_FOLDER
    if not (folder / IU_QUESTIONS).is_file():
        log(f"IU-Xray part skipped: {folder / IU_QUESTIONS} not found")
        return None
    questions = [q for q in read_mmed_rag(folder / IU_QUESTIONS) if isinstance(q, Question)][:limit]
    policy = ClosedPolicy()
    conditions: tuple[tuple[str, Callable[[Question], list[str]]], ...] = (
        ("no reference", lambda q: []),
        ("authors' top-1 retrieved report", lambda q: list(q.metadata.get("reference_reports") or [])),
        ("gold report (the ceiling)", lambda q: [str(q.metadata.get("gold_report") or "")]),
    )
    rows, runs = [], {}
    for name, texts_of in conditions:
        clock = time.perf_counter()
        answered = [
            answer_closed(q.question, [Reference(i, f"r{i}", t, 1.0) for i, t in enumerate(texts_of(q), 1)], policy)
            for q in questions
        ]
        rows.append(_score_texts(name, questions, [text for text, _ in answered], time.perf_counter() - clock))
        runs[name] = answered
        log(f"IU-Xray, {name}: accuracy {rows[-1]['accuracy']:.3f}, balanced {rows[-1]['balanced_accuracy']:.3f}")
    card = _evidence_card(folder, questions, runs[conditions[1][0]])
    return {"source": f"{IU_FOLDER}/{IU_QUESTIONS}", "count": len(questions), "rows": rows, "card": card}


def _evidence_card(
    folder: Path, questions: list[Question], answered: list[tuple[str, dict[str, Any]]]
) -> dict[str, Any] | None:
    """The first "yes" question the authors' top-1 report answers right from one of its sentences."""
    for question, (text, trace) in zip(questions, answered, strict=True):
        gold = parse_yes_no(question.answer)
        if gold != "yes" or parse_yes_no(text) != gold or trace.get("rule") != "sentence":
            continue
        report = question.metadata["reference_reports"][0]
        return {
            "question_id": question.id,
            "image": "/".join(Path(str(question.image_path)).parts[-2:]),  # <study>/<view>.png
            "question": question.question,
            "gold": question.answer,
            "answer": text,
            "rule": trace["rule"],
            "deciding_sentence": trace["votes"][0]["sentence"],
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


def run_demo(settings: DemoSettings, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run the demo; returns every number it prints (see the module docstring)."""
    from mmedrag.config import PipelineConfig
    from mmedrag.encoders.tower import TowerEncoder
    from mmedrag.factory import build_pipeline
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
    questions = _closed_questions(settings.data_dir, settings.limit)
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
    retriever = Retriever(FolderIndex.load(index_dir), encoder, near_duplicate_bits=settings.near_duplicate_bits)
    queries = [q.to_query(load_image(q.image_path)) for q in questions]  # type: ignore[arg-type]
    rows = []
    answers_by_name: dict[str, list[Answer]] = {}
    for name, use_retrieval, mode in (
        ("no retrieval", False, "auto"),
        (f"retrieval image->report top-{settings.k}", True, "image"),
        (f"retrieval question->report top-{settings.k}", True, "text"),
    ):
        config = PipelineConfig.model_validate({"selector": {"k": settings.k}, "retrieval": {"mode": mode}})
        pipeline = build_pipeline(config, retriever=retriever if use_retrieval else None)
        clock = time.perf_counter()
        answers = pipeline.answer_batch(queries, progress=settings.progress)
        rows.append(_score(name, questions, answers, time.perf_counter() - clock))
        answers_by_name[name] = answers
        log(f"{name}: accuracy {rows[-1]['accuracy']:.3f}, abstentions {rows[-1]['abstention_rate']:.3f}")
    image_rows = answers_by_name[rows[1]["name"]]
    iuxray = _iuxray_part(settings.data_dir, settings.limit, log)
    return {
        "data": str(settings.data_dir),
        "knowledge_base": {"source": "medpix2", "records": len(records)},
        "queries": {"source": "vqa_rad test, closed yes/no", "count": len(questions)},
        "tower": {k: v for k, v in tower.items() if k != "key"},
        "index": index_info,
        "rows": rows,
        "example": _example(questions, image_rows),
        "iuxray": iuxray,
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
