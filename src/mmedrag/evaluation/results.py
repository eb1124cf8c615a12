"""The result folder of an evaluation: ``results.json``, ``per_question.jsonl``, ``results.md``, the unparsable
gold labels and the plots. One writer for a whole run and for merged shards (:mod:`mmedrag.evaluation.shards`), so
the two folders hold the same numbers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmedrag._optional import available
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.evaluation.closed_table import markdown_table
from mmedrag.io.atomic import atomic_open, atomic_write_json, atomic_write_text

PER_QUESTION = "per_question.jsonl"


def write_results(
    out: Path,
    runs: dict[str, list[dict[str, Any]]],
    summary: dict[str, Any],
    settings: Any,
    judge: Any,
    name: str,
    cache_stats: dict[str, Any],
    seconds: float,
    config_yaml: str | None = None,
) -> dict[str, Any]:
    """Write the result folder of ``runs`` (per-question rows per run) and their ``summary``; returns
    ``results.json``'s content."""
    results: dict[str, Any] = {
        "metrics_protocol": settings.metrics_protocol,  # `mmedrag compare` refuses runs of different protocols
        "summary": summary,
        "settings": {**vars(settings), "judge": vars(judge)},
        "generator": name,
        "cache": cache_stats,
        "seconds": round(seconds, 2),
        # Plots are optional (the eval extra): a core install still gets every number.
        "plot": "summary.png" if available("matplotlib") else "not drawn: pip install 'mmedrag[eval]'",
    }
    atomic_write_json(out / "results.json", results)
    with atomic_open(out / PER_QUESTION) as handle:
        for run, rows in runs.items():
            for row in rows:
                handle.write(json.dumps({"run": run, **row}, ensure_ascii=False) + "\n")
    atomic_write_text(out / "results.md", render_markdown(results))
    write_unparsable_gold(runs["main"], out / UNPARSABLE_GOLD)
    if config_yaml is not None:
        atomic_write_text(out / "config.yaml", config_yaml)
    if available("matplotlib"):
        from mmedrag.evaluation.plots import curve_entry, plot_risk_coverage, plot_summary

        plot_summary(summary, out / "summary.png")
        selective = summary["tasks"].get("closed", {}).get("selective")
        if selective and selective.get("n"):
            plot_risk_coverage({name: curve_entry(selective)}, out / "risk-coverage.png")
    return results


UNPARSABLE_GOLD = "unparsable_gold.jsonl"


def write_unparsable_gold(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """The closed questions whose gold label is not yes/no: left out of n, listed so a reader can check them."""
    closed = [r for r in rows if r["task"] == "closed"]
    if not closed:
        return
    with atomic_open(path) as handle:
        for row in closed:
            if parse_yes_no(row["gold"]) is None:
                record = {"id": row["id"], "question": row["question"], "gold": row["gold"]}
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def render_markdown(results: dict[str, Any]) -> str:
    summary = results["summary"]
    protocol = results.get("metrics_protocol", "unrecorded")
    lines = [
        f"# Evaluation ({results['generator']}, n={summary['n']}, {results['seconds']} s)",
        "",
        f"Report metrics protocol: {protocol}.",
        "",
    ]
    if "closed" in summary["tasks"]:
        closed = summary["tasks"]["closed"]
        intervals = "95% bootstrap intervals" if results["settings"]["bootstrap"] > 0 else "no intervals"
        lines += [f"## closed: accuracy beside its baselines ({intervals})", ""]
        lines += [markdown_table([(results["generator"], closed)]), ""]
        if closed.get("unparsable_gold"):
            lines += [
                f"n = {closed['n']} of {closed['questions']} questions: {closed['unparsable_gold']} gold labels are "
                f"not yes/no and are not scored (listed in {UNPARSABLE_GOLD}); the reference scorer (CARES) "
                "scores every question, and its row shows where its reading gives other numbers.",
                "",
            ]
    for task, metrics in summary["tasks"].items():
        lines += [f"## {task}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in metrics.items() if not isinstance(value, dict)]
        lines.append("")
    selective = summary["tasks"].get("closed", {}).get("selective")
    if selective and selective.get("n"):
        lines += ["## closed: selective answering (risk-coverage.png)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_fmt(value)} |" for name, value in selective.items() if name != "curve"]
        lines.append("")
    for section in ("retrieval", "reliance"):
        if section in summary:
            lines += [f"## {section}", "", "| metric | value |", "|---|---|"]
            lines += [f"| {name} | {_fmt(value)} |" for name, value in summary[section].items()]
            lines.append("")
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, tuple | list) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.4f}, {value[1]:.4f}]"
    return str(value)
