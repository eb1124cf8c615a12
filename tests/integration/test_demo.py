"""The demo and `mmedrag ask` on real open data (MedPix 2.0 + VQA-RAD), with the real MiniLM text encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.apps.demo import DemoSettings, run_demo
from mmedrag.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.data]


@pytest.fixture(scope="module")
def demo_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, DemoSettings]:
    settings = DemoSettings(shared_data, tmp_path_factory.mktemp("demo"), epochs=2, limit=30)
    return run_demo(settings), settings


def test_demo_reports_recall_and_a_row_per_pipeline(demo_run: tuple[dict, DemoSettings]) -> None:
    result, _ = demo_run
    assert result["knowledge_base"]["records"] == 501 and result["queries"]["count"] == 30
    tower = result["tower"]
    assert not tower["reused"] and tower["epochs"] == 2 and tower["held_out_pairs"] > 40
    assert set(tower["held_out_recall"]) == {"R@1", "R@5", "R@10"}
    assert tower["held_out_recall"]["R@1"] <= tower["held_out_recall"]["R@5"] <= tower["held_out_recall"]["R@10"]
    rows = {row["name"]: row for row in result["rows"]}
    assert rows["no retrieval"]["abstention_rate"] == 1.0  # the extractive answerer never guesses
    with_retrieval = [row for name, row in rows.items() if name != "no retrieval"]
    assert all(0 <= row["accuracy"] <= 1 and row["n"] == 30 for row in with_retrieval)
    assert any(row["abstention_rate"] < 1.0 for row in with_retrieval)  # answering every question, at least
    assert all("majority_accuracy" in row and "balanced_accuracy_ci" in row for row in result["rows"])
    # Every row reports the selective-answering numbers; the answer-every-question row covers at least the default.
    assert all({"coverage", "aurc", "majority_aurc", "ece"} <= set(row) for row in result["rows"])
    assert rows[f"retrieval image->report top-{settings_k(result)}, every answer given"]["coverage"] >= max(
        row["coverage"] for row in with_retrieval
    )
    iuxray = result["iuxray"]  # part 2: the IU-Xray closed questions, three reference conditions and every answer
    assert iuxray["count"] == 30 and [row["n"] for row in iuxray["rows"]] == [30, 30, 30, 30]
    card = iuxray["card"]
    assert card is None or (card["deciding_sentence"] in card["cited_report"] and card["answer"].startswith("Yes"))
    json.dumps(result)  # everything printed is also machine-readable


def test_second_run_reuses_the_tower_and_the_index(demo_run: tuple[dict, DemoSettings]) -> None:
    first, settings = demo_run
    second = run_demo(settings)
    assert second["tower"]["reused"] and second["index"]["reused"]
    assert second["rows"] == [
        dict(row, seconds=new["seconds"]) for row, new in zip(first["rows"], second["rows"], strict=True)
    ]
    assert second["seconds"] < first["seconds"]


def test_ask_json_on_the_medpix_index(
    demo_run: tuple[dict, DemoSettings], shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, settings = demo_run
    image = shared_data / "vqa_rad" / "images" / "synpic57935.jpg"
    code = main(
        [
            "ask",
            "--index",
            str(settings.work_dir / "index"),
            "--image",
            str(image),
            "--question",
            "Are the lateral ventricles visible?",
            "--answer-weak",  # other patients' reports rarely state this one's anatomy: show the weak answer too
            "lean",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["k"] == 3 and len(data["citations"]) == 3
    assert all(c["id"].startswith("medpix2:") for c in data["citations"])
    assert data["prompt_tokens"] > 0 and data["timings_ms"]["total"] > 0


def test_demo_without_data_says_where_to_point_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--data", str(tmp_path), "--work-dir", str(tmp_path / "w")])
    assert code == 2 and "pass --data DIR (or set MMEDRAG_DATA)" in capsys.readouterr().err


def settings_k(result: dict) -> int:
    return int(result["settings"]["k"])
