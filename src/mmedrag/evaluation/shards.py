"""Evaluation past one process: shard the questions, answer each shard anywhere, merge into the unsharded result.

``mmedrag evaluate --shard I/N`` answers shard I of N (1-based) and writes its per-question rows and
``shard.json``; ``mmedrag evaluate --merge DIR...`` checks that the shards are the N parts of one run (same
questions, same settings, each shard once) and writes the result folder a single run writes: the same rows in the
same order, so the same metrics and, given the seed, the same bootstrap intervals. Questions about one image stay in
one shard (a generator shares its prefix within an image, method.md §8: evaluation at GPU speed), and images go to
shards in turn, so shards stay balanced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.judges import Judge
from mmedrag.evaluation.results import PER_QUESTION, write_results
from mmedrag.evaluation.runner import EvalSettings, answer_all, chunk_size, summarize
from mmedrag.generation.cache import CachedGenerator
from mmedrag.io.atomic import atomic_open, atomic_write_json, atomic_write_text
from mmedrag.pipeline import RAGPipeline
from mmedrag.types import Question

SHARD_FILE = "shard.json"
CONFIG_FILE = "config.yaml"


def shard_of(questions: Sequence[Question], shard: tuple[int, int]) -> list[Question]:
    """The questions of ``shard``: whole images, dealt to the shards in turn in order of first appearance."""
    number, count = shard
    images: dict[str, int] = {}
    for question in questions:
        images.setdefault(question.image_path or f"question:{question.id}", len(images))
    return [q for q in questions if images[q.image_path or f"question:{q.id}"] % count == number - 1]


def evaluate_shard(
    pipeline: RAGPipeline,
    questions: Sequence[Question],
    shard: tuple[int, int],
    out_dir: str | Path,
    settings: EvalSettings,
    judge: Judge | None = None,
    config_yaml: str | None = None,
    cache: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Answer shard ``shard`` of ``questions`` and write its folder (see the module docstring)."""
    judge, out = judge or Judge(), Path(out_dir)
    part = shard_of(questions, shard)
    out.mkdir(parents=True, exist_ok=True)
    sized = replace(settings, batch_size=chunk_size(settings.batch_size, pipeline.generator))
    cached = CachedGenerator(pipeline.generator, cache or out / "answers.sqlite")
    runs = answer_all(replace(pipeline, generator=cached), part, sized, judge, progress) if part else {"main": []}
    return write_shard(out, runs, shard, part, settings, judge, pipeline.generator.name, config_yaml)


def write_shard(
    out: Path,
    runs: dict[str, list[dict[str, Any]]],
    shard: tuple[int, int],
    questions: Sequence[Question],
    settings: EvalSettings,
    judge: Judge,
    generator: str,
    config_yaml: str | None = None,
) -> dict[str, Any]:
    """A shard's folder: its rows (``per_question.jsonl``), what the merge checks (``shard.json``) and the config."""
    out.mkdir(parents=True, exist_ok=True)
    if config_yaml is not None:
        atomic_write_text(out / CONFIG_FILE, config_yaml)
    with atomic_open(out / PER_QUESTION) as handle:
        for run, rows in runs.items():
            for row in rows:
                handle.write(json.dumps({"run": run, **row}, ensure_ascii=False) + "\n")
    facts = {
        "shard": list(shard),
        "questions": [q.id for q in questions],
        "settings": _comparable(settings),
        "judge": asdict(judge),
        "generator": generator,
    }
    atomic_write_json(out / SHARD_FILE, facts)
    return facts


def merge_shards(folders: Sequence[str | Path], questions: Sequence[Question], out: str | Path) -> dict[str, Any]:
    """Combine the N shard folders of one run over ``questions`` into the result folder of the unsharded run.

    Raises:
        DataError: a folder that is no shard, shards of other runs or settings, a shard missing or given twice, or
            rows that do not cover the questions exactly.
    """
    shards = [_read_shard(Path(folder)) for folder in folders]
    count = shards[0]["facts"]["shard"][1]
    numbers = sorted(s["facts"]["shard"][0] for s in shards)
    if numbers != list(range(1, count + 1)) or any(s["facts"]["shard"][1] != count for s in shards):
        raise DataError(f"the shards given are {numbers} of {count}; give each of 1..{count} once")
    first = shards[0]["facts"]
    for shard in shards[1:]:
        for key in ("settings", "judge"):
            if shard["facts"][key] != first[key]:
                raise DataError(f"{shard['folder']}: its {key} differ from {shards[0]['folder']}'s; merge one run")
        if _model_of(shard["facts"]["generator"]) != _model_of(first["generator"]):
            raise DataError(
                f"{shard['folder']}: answered by {shard['facts']['generator']}, {shards[0]['folder']} by "
                f"{first['generator']}; merge one model's shards"
            )
    order = [q.id for q in questions]
    covered = [qid for shard in shards for qid in shard["facts"]["questions"]]
    if sorted(covered) != sorted(order):
        raise DataError(
            f"the shards answer {len(covered)} questions, the question set has {len(order)}: "
            "merge with the questions the shards were made from"
        )
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for shard in shards:
        for row in shard["rows"]:
            runs.setdefault(row.pop("run"), {})[row["id"]] = row
    ordered = {run: [rows[qid] for qid in order] for run, rows in runs.items()}
    settings = EvalSettings(**{**first["settings"], "report_metrics": tuple(first["settings"]["report_metrics"])})
    judge = Judge(**first["judge"])
    summary = summarize(ordered, settings)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    config = Path(shards[0]["folder"]) / CONFIG_FILE
    config_yaml = config.read_text(encoding="utf-8") if config.is_file() else None
    cache = {"shards": count}
    generator = _pooled([shard["facts"]["generator"] for shard in shards])
    return write_results(target, ordered, summary, settings, judge, generator, cache, 0.0, config_yaml)


def _model_of(generator: str) -> str:
    """A generator without the server that ran it: the shards of one run may each ask a server of a vLLM pool."""
    return generator.partition("@")[0] if generator.startswith("openai:") else generator


def _pooled(generators: list[str]) -> str:
    """One name for the merged run: ``openai:MODEL@URL1,URL2`` when the shards asked several servers."""
    servers = sorted({name.partition("@")[2] for name in generators})
    return generators[0] if len(servers) == 1 else f"{_model_of(generators[0])}@{','.join(servers)}"


def _comparable(settings: EvalSettings) -> dict[str, Any]:
    """The settings every shard of a run must share (``batch_size`` is how a machine ran, not what was measured)."""
    values = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(settings).items()}
    values.pop("batch_size")
    return values


def _read_shard(folder: Path) -> dict[str, Any]:
    try:
        facts = json.loads((folder / SHARD_FILE).read_text(encoding="utf-8"))
        with (folder / PER_QUESTION).open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{folder}: not a finished shard of mmedrag evaluate --shard ({exc})") from exc
    return {"folder": str(folder), "facts": facts, "rows": rows}
