"""Evaluation past one process: three shards answered apart and merged give the unsharded result exactly (rows,
order, metrics and the seeded bootstrap intervals), and a merge of the wrong folders fails in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from mmedrag.cli import main
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.evaluation.shards import shard_of
from mmedrag.io.readers.mmed_rag import read_mmed_rag
from mmedrag.types import Question

IU_TEST = SHARED_DATA / "mmed_rag_iuxray" / "vqa_test_retrieved_top1.jsonl"


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not IU_TEST.is_file():
        pytest.skip(f"shared data not found at {IU_TEST}")
    chosen = [q for q in read_mmed_rag(IU_TEST) if isinstance(q, Question)][:120]
    path = tmp_path_factory.mktemp("shards") / "questions.jsonl"
    write_questions_jsonl(chosen, path)
    return path


def _evaluate(*argv: str) -> int:
    return main(["evaluate", "--references", "gold_report", "--no-images", "--bootstrap", "200", *argv])


def test_three_shards_merge_into_the_unsharded_result(questions: Path, tmp_path: Path) -> None:
    assert _evaluate("--questions", str(questions), "--out", str(tmp_path / "whole")) == 0
    for number in (1, 2, 3):
        shard = ["--shard", f"{number}/3", "--out", str(tmp_path / f"s{number}")]
        assert _evaluate("--questions", str(questions), *shard) == 0
    sizes = [len(json.loads((tmp_path / f"s{n}" / "shard.json").read_text())["questions"]) for n in (1, 2, 3)]
    assert sum(sizes) == 120 and min(sizes) > 0
    merged = ["--merge", *(str(tmp_path / f"s{n}") for n in (3, 1, 2)), "--out", str(tmp_path / "merged")]
    assert main(["evaluate", "--questions", str(questions), *merged]) == 0
    whole, joined = tmp_path / "whole", tmp_path / "merged"
    assert (joined / "per_question.jsonl").read_bytes() == (whole / "per_question.jsonl").read_bytes()
    assert (joined / "unparsable_gold.jsonl").read_bytes() == (whole / "unparsable_gold.jsonl").read_bytes()
    a, b = (json.loads((folder / "results.json").read_text()) for folder in (whole, joined))
    assert a["summary"] == b["summary"] and a["settings"]["seed"] == b["settings"]["seed"]
    assert "accuracy_ci" in a["summary"]["tasks"]["closed"]  # the intervals are there, and equal
    assert (joined / "config.yaml").read_text() == (whole / "config.yaml").read_text()


def test_a_merge_of_the_wrong_folders_is_refused_in_one_line(
    questions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for number in (1, 2):
        assert (
            _evaluate("--questions", str(questions), "--shard", f"{number}/2", "--out", str(tmp_path / f"s{number}"))
            == 0
        )
    other = ["--shard", "2/2", "--seed", "7", "--out", str(tmp_path / "other")]
    assert _evaluate("--questions", str(questions), *other) == 0
    capsys.readouterr()
    cases = {
        "give each of 1..2 once": [str(tmp_path / "s1")],
        "settings differ": [str(tmp_path / "s1"), str(tmp_path / "other")],
        "not a finished shard": [str(tmp_path / "s1"), str(tmp_path)],
    }
    for message, folders in cases.items():
        code = main(["evaluate", "--questions", str(questions), "--merge", *folders, "--out", str(tmp_path / "m")])
        error = capsys.readouterr().err.strip()
        assert code != 0 and message in error and len(error.splitlines()) == 1, error


def test_shards_asked_on_different_servers_of_one_model_merge_and_other_models_do_not(
    questions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for number, server in ((1, "http://gpu1:8000/v1"), (2, "http://gpu2:8000/v1")):
        folder = tmp_path / f"s{number}"
        assert _evaluate("--questions", str(questions), "--shard", f"{number}/2", "--out", str(folder)) == 0
        facts = json.loads((folder / "shard.json").read_text())
        facts["generator"] = f"openai:medgemma@{server}"  # as a pool of vLLM servers would have written them
        (folder / "shard.json").write_text(json.dumps(facts))
    merge = ["evaluate", "--questions", str(questions), "--merge", str(tmp_path / "s1"), str(tmp_path / "s2")]
    assert main([*merge, "--out", str(tmp_path / "m")]) == 0
    pooled = json.loads((tmp_path / "m" / "results.json").read_text())["generator"]
    assert pooled == "openai:medgemma@http://gpu1:8000/v1,http://gpu2:8000/v1"
    facts = json.loads((tmp_path / "s2" / "shard.json").read_text())
    facts["generator"] = "openai:llava-med@http://gpu2:8000/v1"
    (tmp_path / "s2" / "shard.json").write_text(json.dumps(facts))
    capsys.readouterr()
    assert main([*merge, "--out", str(tmp_path / "m2")]) != 0
    assert "merge one model's shards" in capsys.readouterr().err


def test_shards_keep_each_image_whole_and_are_numbered_from_one() -> None:
    asked = [Question(f"q{i}", "Is it?", "yes", f"img{i // 3}.png", "closed") for i in range(12)]
    parts = [shard_of(asked, (n, 3)) for n in (1, 2, 3)]
    assert sorted(q.id for part in parts for q in part) == sorted(q.id for q in asked)
    assert all(part for part in parts)  # 4 images over 3 shards: none empty
    for part in parts:
        images = {q.image_path for q in part}
        assert all(q in part for q in asked if q.image_path in images)  # every question of a shard's images


@pytest.mark.parametrize("bad", ["0/3", "4/3", "2", "a/b"])
def test_a_bad_shard_is_one_usage_line(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["evaluate", "--questions", "q.jsonl", "--shard", bad, "--out", "out"])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 2 and "argument --shard" in error
    assert "I/N" in error or "between 1 and N" in error
