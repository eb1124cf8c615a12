"""Selective answering: coverage, accuracy on answered questions, the risk-coverage curve, AURC and ECE.

A system that may abstain is judged by the risk it takes at each coverage (Geifman & El-Yaniv, NeurIPS 2017):
answers are ranked by confidence, most confident first, and the selective risk at coverage c is the error rate of
the first c·n. The ranking holds every answer the pipeline has, shown or withheld (a weakly supported answer it
withholds still has a leaning answer and a confidence), so the curve is the one a confidence threshold sweeps and
the shown answers are one point on it (``coverage``, ``answered_accuracy``). Questions with no answer at all rank
last and count as errors, so the curve runs to full coverage and its area (AURC, lower is better) is comparable
with the majority-answer baseline, which answers everything with one confidence: its AURC equals its error rate.
Ties in confidence share their errors evenly (the expected order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mmedrag.calibration.confidence import expected_calibration_error


def risk_coverage(confidence: Sequence[float | None], correct: Sequence[bool]) -> tuple[list[float], list[float]]:
    """(coverage, selective risk) at each of the n coverage steps; None confidence (an abstention) ranks last."""
    n = len(correct)
    if n == 0:
        return [], []
    score = np.asarray([-np.inf if c is None else float(c) for c in confidence])
    wrong = 1.0 - np.asarray(correct, dtype=float)
    errors = np.empty(n)
    order = np.argsort(-score, kind="stable")
    start = 0
    while start < n:  # one tie group at a time: its errors spread evenly over its positions
        end = start + 1
        while end < n and score[order[end]] == score[order[start]]:
            end += 1
        errors[start:end] = wrong[order[start:end]].mean()
        start = end
    cumulative = np.cumsum(errors)
    steps = np.arange(1, n + 1)
    return (steps / n).tolist(), (cumulative / steps).tolist()


def aurc(confidence: Sequence[float | None], correct: Sequence[bool]) -> float:
    """Area under the risk-coverage curve (mean selective risk over the n coverage steps)."""
    _, risks = risk_coverage(confidence, correct)
    return float(np.mean(risks)) if risks else float("nan")


def selective_inputs(rows: Sequence[dict[str, Any]]) -> tuple[list[bool], list[bool], list[float | None]]:
    """(shown, correct, confidence) per evaluation row: a shown answer's own; a withheld one's leaning answer and
    confidence (``withheld_correct``); nothing for a question with no answer at all."""
    shown, correct, confidence = [], [], []
    for row in rows:
        answered = row["label"] is not None
        withheld = row.get("withheld") or {}
        shown.append(answered)
        if answered:
            correct.append(bool(row["correct"]))
            confidence.append(row.get("confidence"))
        elif withheld.get("confidence") is not None and row.get("withheld_correct") is not None:
            correct.append(bool(row["withheld_correct"]))
            confidence.append(float(withheld["confidence"]))
        else:
            correct.append(False)
            confidence.append(None)
    return shown, correct, confidence


def selective_metrics(
    shown: Sequence[bool], correct: Sequence[bool], confidence: Sequence[float | None], majority_accuracy: float
) -> dict[str, Any]:
    """Coverage and accuracy of the shown answers, ECE of their confidences, and the risk-coverage curve and AURC
    of every answer ranked by confidence, beside the majority baseline's AURC (see the module docstring)."""
    n = len(shown)
    if n == 0:
        return {"n": 0}
    coverage, risk = risk_coverage(confidence, correct)
    kept = [(c, ok) for c, ok, s in zip(confidence, correct, shown, strict=True) if s]
    scored = [(c, ok) for c, ok in kept if c is not None]
    return {
        "n": n,
        "coverage": len(kept) / n,
        "answered_accuracy": (sum(ok for _, ok in kept) / len(kept)) if kept else None,
        "aurc": float(np.mean(risk)),
        "majority_aurc": 1.0 - majority_accuracy,
        "ece": expected_calibration_error([c for c, _ in scored], [ok for _, ok in scored]) if scored else None,
        "curve": {"coverage": [round(x, 5) for x in coverage], "risk": [round(x, 5) for x in risk]},
    }
