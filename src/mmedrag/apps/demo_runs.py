"""The demo's measured runs: each pipeline answers the same closed questions and is scored the way a reader should
judge a system that may abstain: coverage (the share answered), accuracy on what it answered, accuracy and balanced
accuracy over all questions (an abstention counts as wrong), F1, the area under the risk-coverage curve (AURC) beside
the majority answer's, and the calibration error (ECE) of the confidence it shows.

Confidence is calibrated on a development split and never on the reported one: VQA-RAD's *train* questions for
part 1, RULE's IU-Xray alignment questions (the *val* split, method.md §7.5) for part 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmedrag.calibration.confidence import ConfidenceCalibrator
from mmedrag.errors import ConfigError
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.evaluation.closed_table import closed_summary
from mmedrag.evaluation.confidence_fit import fit_confidence
from mmedrag.evaluation.judges import Judge
from mmedrag.evaluation.runner import EvalSettings, answer_all
from mmedrag.evaluation.selective import selective_inputs, selective_metrics
from mmedrag.pipeline import RAGPipeline
from mmedrag.types import Question


def score_rows(name: str, rows: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """One table row: the closed metrics with intervals and the selective-answering numbers, plus the curve."""
    golds = [parse_yes_no(r["gold"]) for r in rows]
    metrics = closed_summary([r["label"] for r in rows], golds)
    judged = [r for r, g in zip(rows, golds, strict=True) if g is not None]
    selective = selective_metrics(*selective_inputs(judged), metrics.get("majority_accuracy", 0.0))
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    return {
        "name": name,
        **rounded,
        "coverage": round(selective["coverage"], 4),
        "aurc": round(selective["aurc"], 4),
        "majority_aurc": round(selective["majority_aurc"], 4),
        "ece": None if selective["ece"] is None else round(selective["ece"], 4),
        "unparsable_gold": sum(g is None for g in golds),
        "grades": _grades(rows),
        "selective": selective,
        "seconds": round(seconds, 2),
    }


def _grades(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("grade"))] = counts.get(str(row.get("grade")), 0) + 1
    return counts


def run(
    name: str, pipeline: RAGPipeline, questions: Sequence[Question], settings: EvalSettings, progress: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Answer and score ``questions`` with ``pipeline``; the row and the per-question rows."""
    clock = time.perf_counter()
    rows = answer_all(pipeline, questions, settings, Judge(), progress)["main"]
    return score_rows(name, rows, time.perf_counter() - clock), rows


def calibrate(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    out_dir: Path,
    settings: EvalSettings,
    progress: bool = False,
) -> tuple[RAGPipeline, dict[str, Any]]:
    """Fit the confidence calibrator on development questions (half fitted, half held out for its ECE); the
    pipeline that uses it, and the fit's report. Too few development answers (a ``--limit`` run): the pipeline
    stays uncalibrated, and the report says why."""
    try:
        report = fit_confidence(pipeline, questions, out_dir, settings=settings, progress=progress)
    except ConfigError as exc:
        return pipeline, {"skipped": str(exc)}
    calibrator = ConfidenceCalibrator.load(report["calibrator"])
    return replace(pipeline, calibrator=calibrator), report
