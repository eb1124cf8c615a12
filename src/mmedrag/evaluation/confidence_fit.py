"""Fit the answer-confidence calibrator on a validation split and report its ECE on a half it never saw.

The questions are split once, by image (questions about one image stay in one half), with a seeded shuffle: the
calibrator is fitted on the first half and judged on the second, so the reported ECE is out of sample. Weakly
supported answers are calibrated too (the pipeline answers with ``answer_weak="lean"`` here), so the calibrator also
serves a pipeline that shows them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag._optional import available
from mmedrag.calibration.confidence import ConfidenceCalibrator, Method, expected_calibration_error
from mmedrag.config import CONFIDENCE_FILE
from mmedrag.errors import ConfigError
from mmedrag.evaluation.judges import Judge
from mmedrag.evaluation.runner import EvalSettings, answer_all
from mmedrag.io.atomic import atomic_write_json
from mmedrag.pipeline import RAGPipeline
from mmedrag.types import Question


def split_by_image(questions: Sequence[Question], seed: int = 0) -> tuple[list[int], list[int]]:
    """Indices of the fitting half and the held-out half; all questions about one image fall in the same half."""
    groups: dict[str, list[int]] = {}
    for index, question in enumerate(questions):
        groups.setdefault(question.image_path or f"id:{question.id}", []).append(index)
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    fit, held = [], []
    for position, key_index in enumerate(order):
        (fit if position % 2 == 0 else held).extend(groups[keys[key_index]])
    return sorted(fit), sorted(held)


def _points(rows: Sequence[dict[str, Any]]) -> list[tuple[str, float | None, bool]]:
    """(evidence group, raw confidence, correct) of every answered closed question."""
    points = []
    for row in rows:
        grading = row.get("grading") or {}
        if row["task"] == "closed" and row["label"] is not None and grading.get("grade") not in (None, "abstained"):
            points.append(
                (str(grading.get("group") or grading.get("grade")), grading.get("raw_confidence"), row["correct"])
            )
    return points


def fit_confidence(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    out_dir: str | Path,
    settings: EvalSettings | None = None,
    method: Method = "isotonic",
    seed: int = 0,
    judge: Judge | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Answer ``questions``, fit on one half, report ECE before and after on the other; write ``confidence.json``
    (the calibrator), ``confidence_report.json`` and, with matplotlib, ``reliability.png`` to ``out_dir``."""
    settings = settings or EvalSettings(bootstrap=0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw_pipeline = replace(pipeline.leaning(), calibrator=None)
    rows = answer_all(raw_pipeline, questions, settings, judge or Judge(), progress)["main"]
    fit_rows, held_rows = ([rows[i] for i in half] for half in split_by_image(questions, seed))
    fit_points, held_points = _points(fit_rows), _points(held_rows)
    if len(fit_points) < 10 or not held_points:
        raise ConfigError(
            f"{len(fit_points)} answered yes/no question(s) in the fitting half, {len(held_points)} held out: "
            "calibrating confidence needs more closed questions the pipeline answers"
        )
    groups, raw, correct = zip(*fit_points, strict=True)
    calibrator = ConfidenceCalibrator.fit(groups, raw, correct, method=method)
    calibrator.save(out / CONFIDENCE_FILE)
    held_raw = [0.5 if r is None else float(r) for _, r, _ in held_points]
    held_cal = [calibrator(g, r) for g, r, _ in held_points]
    held_ok = [ok for _, _, ok in held_points]
    report = {
        "method": method,
        "seed": seed,
        "questions": len(questions),
        "answered_fit": len(fit_points),
        "answered_held_out": len(held_points),
        "groups": dict(Counter(g for g, _, _ in fit_points)),
        "held_out_accuracy": float(np.mean(held_ok)),
        "ece_raw_held_out": expected_calibration_error(held_raw, held_ok),
        "ece_held_out": expected_calibration_error(held_cal, held_ok),
        "calibrator": str(out / CONFIDENCE_FILE),
    }
    atomic_write_json(out / "confidence_report.json", report)
    if available("matplotlib"):
        _plot_reliability(held_raw, held_cal, held_ok, out / "reliability.png")
    return report


def _plot_reliability(
    raw: list[float], calibrated: list[float], correct: list[bool], path: Path, bins: int = 10
) -> None:
    """Accuracy against confidence in equal-width bins, before and after calibration, on the held-out half."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.2, 4.0))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    truth = np.asarray(correct, dtype=float)
    for label, values in (("raw", raw), ("calibrated", calibrated)):
        p = np.asarray(values)
        which = np.minimum((p * bins).astype(int), bins - 1)
        xs = [p[which == b].mean() for b in range(bins) if (which == b).any()]
        ys = [truth[which == b].mean() for b in range(bins) if (which == b).any()]
        ece = expected_calibration_error(values, correct, bins)
        axis.plot(xs, ys, marker="o", label=f"{label} (ECE {ece:.3f})")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy (held-out half)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
