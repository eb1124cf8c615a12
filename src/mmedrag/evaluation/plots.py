"""One summary figure per evaluation: headline metrics with their bootstrap intervals, and reliance rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_HEADLINES = {
    "closed": ("accuracy", "f1", "abstention_rate"),
    "open": ("exact_match", "token_recall"),
    "report": ("bleu_4", "rouge_l", "cider", "meteor"),
}


def plot_summary(summary: dict[str, Any], path: Path) -> None:
    """Bar charts of the headline metrics (with the accuracy CI for closed questions) and reliance rates."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict[str, float]]] = []
    for task, headline in _HEADLINES.items():
        metrics = summary["tasks"].get(task)
        if metrics:
            panels.append((task, {n: metrics[n] for n in headline if isinstance(metrics.get(n), float | int)}))
    if "reliance" in summary:
        rates = {k: v for k, v in summary["reliance"].items() if k.endswith("rate") or k.startswith("accuracy")}
        panels.append(("reliance", rates))
    if not panels:
        return
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, (title, values) in zip(axes[0], panels, strict=True):
        names = list(values)
        axis.bar(range(len(names)), [values[n] for n in names], color="#4C72B0")
        if title == "closed" and "accuracy_ci" in summary["tasks"]["closed"]:
            low, high = summary["tasks"]["closed"]["accuracy_ci"]
            accuracy = values.get("accuracy", 0.0)
            axis.errorbar([0], [accuracy], yerr=[[accuracy - low], [high - accuracy]], color="black", capsize=4)
        axis.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, max(1.0, *values.values()) if values else 1.0)
        axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def curve_entry(selective: dict[str, Any], majority: bool = True) -> dict[str, Any]:
    """What :func:`plot_risk_coverage` draws of one run's selective metrics (:mod:`mmedrag.evaluation.selective`)."""
    point = None
    if selective.get("answered_accuracy") is not None:
        point = (selective["coverage"], 1.0 - selective["answered_accuracy"])
    return {
        **selective["curve"],
        "aurc": selective["aurc"],
        "majority_aurc": selective["majority_aurc"] if majority else None,
        "point": point,
    }


def plot_risk_coverage(curves: dict[str, dict[str, Any]], path: Path, title: str = "") -> None:
    """Selective risk against coverage, one line per run (:func:`curve_entry`), a dot where its shown answers sit,
    and the majority answer's constant risk as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    for label, curve in curves.items():
        (line,) = axis.plot(curve["coverage"], curve["risk"], label=f"{label} (AURC {curve['aurc']:.3f})")
        if curve.get("point"):
            axis.plot(*curve["point"], marker="o", color=line.get_color())
        if curve.get("majority_aurc") is not None:  # a constant answer's risk is its error rate at every coverage
            axis.axhline(
                curve["majority_aurc"],
                color=line.get_color(),
                linestyle="--",
                linewidth=1,
                label=f"  majority answer on the same questions (AURC {curve['majority_aurc']:.3f})",
            )
    axis.set_xlabel("coverage: share answered, most confident first (dot: the answers shown by default)", fontsize=8)
    axis.set_ylabel("risk: error rate of those answered", fontsize=8)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=6.5, loc="upper left")
    if title:
        axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
