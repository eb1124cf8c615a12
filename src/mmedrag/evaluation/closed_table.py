"""Closed-question results with their baselines: one summary and one table layout for every report.

Every closed-question table (``mmedrag evaluate``, the demo, BENCHMARKS.md) shows accuracy, balanced accuracy and
F1 ("yes" positive) with 95% bootstrap intervals (none with ``--bootstrap 0``), and the majority-answer baseline in
the row beneath, so a reader sees at a glance what a constant answer would score
(:mod:`mmedrag.evaluation.closed`). When the metrics carry the reference scorer's numbers (``cares``,
:mod:`mmedrag.evaluation.cares`) and they differ, a third row shows them: that is the number to put beside a paper's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmedrag.evaluation.closed import YesNo, closed_metrics
from mmedrag.evaluation.stats import bootstrap_closed_ci

HEADER = (
    "| questions, references | n | accuracy | balanced accuracy | F1 (yes) | accuracy on answered | abstentions |",
    "|---|--:|---|---|---|--:|--:|",
)


def closed_summary(
    predictions: Sequence[YesNo | None], golds: Sequence[YesNo | None], samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """:func:`closed_metrics` plus ``<metric>_ci`` bootstrap intervals (accuracy, balanced accuracy, F1, majority);
    ``samples=0``: no intervals."""
    result: dict[str, Any] = dict(closed_metrics(predictions, golds))
    judged = [(p, g) for p, g in zip(predictions, golds, strict=True) if g is not None]
    if judged and samples > 0:
        intervals = bootstrap_closed_ci(
            [p for p, _ in judged], [g for _, g in judged], result["majority_answer"], samples=samples, seed=seed
        )
        result.update({f"{name}_ci": interval for name, interval in intervals.items()})
    return result


def _cell(metrics: dict[str, Any], name: str) -> str:
    interval = metrics.get(f"{name}_ci")
    value = f"{metrics[name]:.3f}"
    return f"{value} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else value


def _cares_row(metrics: dict[str, Any]) -> list[str]:
    """The reference scorer's row, when its numbers differ from the run's (it scores every question, no abstention)."""
    cares = metrics.get("cares")
    if not cares or not cares.get("n"):
        return []
    mine = (metrics["n"], round(metrics["accuracy"], 3), round(metrics["f1"], 3))
    if mine == (cares["n"], round(cares["accuracy"], 3), round(cares["f1"] or 0.0, 3)):
        return []
    f1 = "–" if cares["f1"] is None else f"{cares['f1']:.3f}"
    return [
        f"| ↳ reference scorer (CARES eval_yesno.py reading) | {cares['n']} | {cares['accuracy']:.3f} | "
        f"{cares['balanced_accuracy']:.3f} | {f1} | {cares['accuracy']:.3f} | 0.000 |"
    ]


def markdown_rows(label: str, metrics: dict[str, Any]) -> list[str]:
    """Rows under :data:`HEADER`: the run, its majority-answer baseline on the same questions, and the reference
    scorer's numbers when they differ."""
    if not metrics.get("n"):
        return [f"| {label} | 0 | – | – | – | – | – |"]
    majority = {
        "accuracy": metrics["majority_accuracy"],
        "accuracy_ci": metrics.get("majority_accuracy_ci"),
        "balanced_accuracy": metrics["majority_balanced_accuracy"],
        "f1": metrics["majority_f1"],
    }
    return [
        f"| {label} | {metrics['n']} | {_cell(metrics, 'accuracy')} | {_cell(metrics, 'balanced_accuracy')} | "
        f"{_cell(metrics, 'f1')} | {metrics['answered_accuracy']:.3f} | {metrics['abstention_rate']:.3f} |",
        f"| ↳ majority answer (always {metrics['majority_answer']!r}) | {metrics['n']} | "
        f"{_cell(majority, 'accuracy')} | "
        f"{majority['balanced_accuracy']:.3f} | {majority['f1']:.3f} | {metrics['majority_accuracy']:.3f} | 0.000 |",
        *_cares_row(metrics),
    ]


def markdown_table(rows: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """A full markdown table of closed-question runs, each followed by its majority baseline."""
    lines = list(HEADER)
    for label, metrics in rows:
        lines += markdown_rows(label, metrics)
    return "\n".join(lines)
