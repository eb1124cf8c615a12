from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from fakes import mining_setup
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import DataError
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.pipeline import RAGPipeline
from mmedrag.training.preference_mining import MiningSettings, balance, mine_preferences
from mmedrag.types import Question


@pytest.fixture
def setup(tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path) -> tuple[RAGPipeline, list[Question]]:
    return mining_setup(tiny_manifest, hash_encoder, tmp_path)


def test_each_behaviour_yields_its_pair_type(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    report = mine_preferences(pipeline, questions, tmp_path / "prefs", MiningSettings(ratio=None, stage1=True))
    assert report.found == {"cross_modality": 3, "retrieval_helps": 3, "retrieval_hurts": 3, "stage1": 3}
    pairs = [json.loads(line) for line in (tmp_path / "prefs" / "prefs.jsonl").open()]
    by_type = {kind: [p for p in pairs if p["pair_type"] == kind] for kind in report.found}
    cross = by_type["cross_modality"][0]
    assert cross["chosen"][0]["content"][0]["text"].startswith("Yes") and cross["rejected_images"][0].startswith(
        "noise/"
    )
    assert (tmp_path / "prefs" / cross["rejected_images"][0]).is_file()
    assert any(part.get("type") == "image" for part in cross["prompt"][0]["content"])
    assert "[1] (case" in cross["prompt"][0]["content"][-1]["text"]  # the RAG prompt, with its reference
    hurt = by_type["retrieval_hurts"][0]
    assert (
        hurt["chosen"][0]["content"][0]["text"] == "Yes, hurt."
        and hurt["rejected"][0]["content"][0]["text"] == "No, hurt."
    )
    assert hurt["rejected_images"] is None
    stage1 = by_type["stage1"][0]
    assert "[1] (case" not in stage1["prompt"][0]["content"][-1]["text"] and stage1["rejected_images"]
    summary = json.loads((tmp_path / "prefs" / "summary.json").read_text())
    assert summary["written"] == report.written


def test_ground_truth_chosen_and_balancing(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    report = mine_preferences(pipeline, questions, tmp_path / "p", MiningSettings(chosen="ground_truth", ratio=0.5))
    assert report.written["cross_modality"] == 3  # 0.5 x (3 helps + 3 hurts)
    pairs = [json.loads(line) for line in (tmp_path / "p" / "prefs.jsonl").open()]
    assert all(p["chosen"][0]["content"][0]["text"] == "yes" for p in pairs)
    many = [{"id": f"c{i}", "pair_type": "cross_modality"} for i in range(10)] + [
        {"id": "h", "pair_type": "retrieval_helps"},
        {"id": "u", "pair_type": "retrieval_hurts"},
    ]
    kept = balance(many, 1.0, seed=3)
    assert sum(p["pair_type"] == "cross_modality" for p in kept) == 2 and kept == balance(many, 1.0, seed=3)


def test_questions_from_the_knowledge_base_split_are_refused_and_nothing_is_written(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    leaked = [replace(q, split="train") for q in questions[:2]]
    with pytest.raises(DataError, match="disjoint from the knowledge base"):
        mine_preferences(pipeline, leaked, tmp_path / "leak")
    assert not (tmp_path / "leak").exists() and not list(tmp_path.glob(".leak.*"))
    no_image = [Question(id="x", question="Is it?", answer="yes", image_path=None, task="closed")]
    with pytest.raises(DataError, match="have no image"):
        mine_preferences(pipeline, no_image, tmp_path / "x")


def test_cli_prefs_json(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, questions = setup
    write_questions_jsonl(questions, tmp_path / "q.jsonl")
    code = main(
        [
            "prefs",
            "--questions",
            str(tmp_path / "q.jsonl"),
            "--index",
            str(tmp_path / "idx"),
            "--out",
            str(tmp_path / "cli"),
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["questions"] == 12


def test_three_shards_merge_into_what_one_run_writes(setup, tmp_path: Path) -> None:
    """Balancing is seeded over every pair: the merge balances once, after putting the pairs in question order."""
    from mmedrag.training.preference_shards import merge_prefs, mine_shard

    pipeline, questions = setup
    settings = MiningSettings(ratio=0.5, stage1=True)
    whole = mine_preferences(pipeline, questions, tmp_path / "whole", settings)
    for number in (1, 2, 3):
        mine_shard(pipeline, questions, (number, 3), tmp_path / f"s{number}", settings)
    merged = merge_prefs([tmp_path / f"s{n}" for n in (2, 3, 1)], questions, tmp_path / "merged")
    assert (tmp_path / "merged" / "prefs.jsonl").read_bytes() == (tmp_path / "whole" / "prefs.jsonl").read_bytes()
    assert (merged.found, merged.written, merged.accuracy) == (whole.found, whole.written, whole.accuracy)
    noise = sorted(p.name for p in (tmp_path / "whole" / "noise").iterdir())
    assert sorted(p.name for p in (tmp_path / "merged" / "noise").iterdir()) == noise and len(noise) == 12
    with pytest.raises(DataError, match="give each of 1..3 once"):
        merge_prefs([tmp_path / "s1", tmp_path / "s2"], questions, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
