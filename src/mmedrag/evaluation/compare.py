"""`mmedrag compare A B`: is B better than A on the same questions? Paired tests over per-question scores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.judges import rouge_l_f1
from mmedrag.evaluation.stats import approximate_randomization, paired_bootstrap_ci


def _rows(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / "per_question.jsonl"
    if not path.is_file():
        raise DataError(f"{folder}: no per_question.jsonl; pass folders written by `mmedrag evaluate`")
    rows = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if row.get("run", "main") == "main":
                rows[row["id"]] = row
    return rows


def protocol_of(folder: Path) -> str:
    """The report-metrics protocol a run recorded in its results.json ("unrecorded" for runs written before it was)."""
    path = folder / "results.json"
    if not path.is_file():
        raise DataError(f"{folder}: no results.json; pass folders written by `mmedrag evaluate`")
    return str(json.loads(path.read_text(encoding="utf-8")).get("metrics_protocol", "unrecorded"))


def _score(row: dict[str, Any]) -> float:
    """Correctness for questions; ROUGE-L F1 for reports (a per-item score a paired test can use)."""
    return rouge_l_f1(row["answer"], row["gold"]) if row["task"] == "report" else float(row["correct"])


def compare(a: str | Path, b: str | Path, samples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Mean score difference B - A with a paired bootstrap CI and an approximate-randomization p-value, per task.

    Raises:
        DataError: the two runs did not answer the same questions, or used different metric protocols.
    """
    first, second = _rows(Path(a)), _rows(Path(b))
    protocols = protocol_of(Path(a)), protocol_of(Path(b))
    if protocols[0] != protocols[1]:
        raise DataError(
            f"{a} used metrics protocol {protocols[0]!r} and {b} {protocols[1]!r}: their numbers are not comparable; "
            "re-run one with `mmedrag evaluate --answers <its answers> --metrics-protocol ...`"
        )
    if set(first) != set(second):
        only_a, only_b = sorted(set(first) - set(second)), sorted(set(second) - set(first))
        raise DataError(
            f"{a} and {b} answered different questions ({len(only_a)} only in A, e.g. {only_a[:3]}; "
            f"{len(only_b)} only in B, e.g. {only_b[:3]}); evaluate both on the same question set"
        )
    result: dict[str, Any] = {"a": str(a), "b": str(b), "metrics_protocol": protocols[0], "tasks": {}}
    for task in sorted({row["task"] for row in first.values()}):
        ids = sorted(i for i, row in first.items() if row["task"] == task)
        scores_a = [_score(first[i]) for i in ids]
        scores_b = [_score(second[i]) for i in ids]
        difference, p_value = approximate_randomization(scores_a, scores_b, samples=samples, seed=seed)
        _, low, high = paired_bootstrap_ci(scores_a, scores_b, samples=min(samples, 2000), seed=seed)
        result["tasks"][task] = {
            "n": len(ids),
            "score": "ROUGE-L F1 per report" if task == "report" else "correct",
            "mean_a": sum(scores_a) / len(ids),
            "mean_b": sum(scores_b) / len(ids),
            "difference": difference,
            "ci95": [low, high],
            "p_value": p_value,
        }
    return result
