"""Preference mining past one process: ``mmedrag prefs --shard I/N`` mines shard I of the questions (whole images,
as :mod:`mmedrag.evaluation.shards` deals them) and keeps every pair it finds; ``prefs --merge DIR...`` puts the
pairs back in question order and balances them once, with the run's seed, so the merged folder is the one a single
run writes: the same ``prefs.jsonl``, noise images and summary."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.judges import Judge
from mmedrag.evaluation.shards import shard_of
from mmedrag.io.atomic import atomic_write_json
from mmedrag.pipeline import RAGPipeline
from mmedrag.training.preference_mining import (
    MiningReport,
    MiningSettings,
    check_minable,
    in_place_of,
    mine_pairs,
    write_mining,
)
from mmedrag.types import Question

SHARD_FILE = "shard.json"
PAIRS_FILE = "pairs.jsonl"  # every pair found, before balancing


def mine_shard(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    shard: tuple[int, int],
    out_dir: str | Path,
    settings: MiningSettings,
    judge: Judge | None = None,
    progress: bool = False,
) -> MiningReport:
    """Mine shard ``shard`` of ``questions`` into ``out_dir`` (whole or not at all), pairs unbalanced."""
    judge = judge or Judge()
    part = shard_of(questions, shard)
    check_minable(pipeline, part)

    def mine(folder: Path) -> MiningReport:
        pairs, correct = mine_pairs(pipeline, part, folder, settings, judge, progress)
        with (folder / PAIRS_FILE).open("w", encoding="utf-8") as handle:
            for pair in pairs:
                handle.write(json.dumps(pair, ensure_ascii=False) + "\n")
        facts = {"shard": list(shard), "questions": [q.id for q in part], "correct": correct}
        atomic_write_json(folder / SHARD_FILE, {**facts, "settings": asdict(settings), "judge": asdict(judge)})
        return MiningReport(out=str(folder), questions=len(part), settings=asdict(settings))

    return in_place_of(Path(out_dir), mine)


def merge_prefs(folders: Sequence[str | Path], questions: Sequence[Question], out_dir: str | Path) -> MiningReport:
    """The N shard folders of one mining run over ``questions``, as the folder one run writes.

    Raises:
        DataError: a folder that is no shard, shards of other settings, a shard missing or given twice, or shards
            that do not cover the questions exactly.
    """
    shards = [_read(Path(folder)) for folder in folders]
    count = shards[0]["shard"][1]
    numbers = sorted(s["shard"][0] for s in shards)
    if numbers != list(range(1, count + 1)) or any(s["shard"][1] != count for s in shards):
        raise DataError(f"the shards given are {numbers} of {count}; give each of 1..{count} once")
    for shard in shards[1:]:
        for key in ("settings", "judge"):
            if shard[key] != shards[0][key]:
                raise DataError(f"{shard['folder']}: its {key} differ from {shards[0]['folder']}'s; merge one run")
    order = [q.id for q in questions]
    if sorted(q for s in shards for q in s["questions"]) != sorted(order):
        raise DataError("the shards do not cover the questions given: merge with the questions they were made from")
    by_question: dict[str, list[dict[str, Any]]] = {}
    for shard in shards:
        for pair in shard["pairs"]:
            by_question.setdefault(pair["question_id"], []).append(pair)
    pairs = [pair for qid in order for pair in by_question.get(qid, [])]
    correct = {name: sum(s["correct"][name] for s in shards) for name in "abcd"}
    settings = MiningSettings(**shards[0]["settings"])

    def merge(folder: Path) -> MiningReport:
        (folder / "noise").mkdir()
        for shard in shards:
            for image in sorted((Path(shard["folder"]) / "noise").glob("*.png")):
                shutil.copy2(image, folder / "noise" / image.name)
        return write_mining(folder, pairs, correct, len(order), settings)

    return in_place_of(Path(out_dir), merge)


def _read(folder: Path) -> dict[str, Any]:
    try:
        facts = json.loads((folder / SHARD_FILE).read_text(encoding="utf-8"))
        with (folder / PAIRS_FILE).open(encoding="utf-8") as handle:
            pairs = [json.loads(line) for line in handle if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder}: not a finished shard of mmedrag prefs --shard ({exc})") from exc
    return {**facts, "folder": str(folder), "pairs": pairs}
