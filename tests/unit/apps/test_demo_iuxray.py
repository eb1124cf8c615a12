"""The demo's IU-Xray part on a hand-made miniature of the MMed-RAG files (the real run is in the integration
test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.apps.demo import IU_DEV, IU_FOLDER, IU_QUESTIONS, DemoSettings, _iuxray_part


def _write(data: Path) -> None:
    folder = data / IU_FOLDER
    folder.mkdir(parents=True)
    retrieved = "Heart size normal. Small left pleural effusion. No pneumothorax."
    rows = [
        ("Is there a pleural effusion?", "Yes.", "Heart normal. Left pleural effusion. Bones intact.", retrieved),
        ("Is there a pneumothorax?", "No.", "Heart normal. Lungs clear. No pneumothorax.", retrieved),
        ("Is there cardiomegaly?", "No.", "Heart size is normal. Lungs clear.", "Mild cardiomegaly. Lungs clear."),
    ]
    with (folder / IU_QUESTIONS).open("w") as handle:
        for number, (question, answer, gold, top1) in enumerate(rows, 1):
            entry = {"question_id": number, "question": question, "answer": answer, "image": f"CXR{number}_IM-1/0.png"}
            handle.write(json.dumps({**entry, "text": question, "report": gold, "reference_reports": [top1]}) + "\n")
    _write_dev(folder, 40)
    reports = data / "iu_xray_reports"
    reports.mkdir()
    (reports / "reports.jsonl").write_text(json.dumps({"uid": "CXR77", "findings": retrieved, "impression": ""}) + "\n")


def _write_dev(folder: Path, count: int) -> None:
    """A miniature of RULE's alignment pairs (the val split the demo calibrates on), with the val reports."""
    reports, pairs = [], []
    for number in range(count):
        study = f"CXR{900 + number}_IM-1"
        effusion = number % 2 == 0
        report = "Heart normal. Left pleural effusion." if effusion else "FINDINGS: Heart normal. Lungs are clear."
        reports.append({"id": f"{study}/0.png", "report": report})
        prompt = (
            f"You are provided with a chest X-ray image and 1 reference report(s): {report}\n"
            "Please answer the question. Question: Is there a pleural effusion?\n<image>"
        )
        chosen, rejected = ("Yes.", "No.") if effusion else ("No.", "Yes.")
        pairs.append(
            {
                "image": f"{study}/0.png",
                "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": chosen}],
                "rejected_conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": rejected}],
            }
        )
    (folder / IU_DEV).write_text(json.dumps(pairs))
    (folder / "retriever_val.json").write_text(json.dumps(reports))


def _settings(data: Path) -> DemoSettings:
    return DemoSettings(data_dir=data, work_dir=data / "work")


def test_iuxray_part_rows_baseline_and_evidence_card(tmp_path: Path) -> None:
    _write(tmp_path)
    part = _iuxray_part(_settings(tmp_path), lambda _: None)
    assert part is not None and part["count"] == 3
    rows = {row["name"]: row for row in part["rows"]}
    assert rows["no reference"]["abstention_rate"] == 1.0 and rows["no reference"]["coverage"] == 0.0
    assert rows["the gold report (the ceiling)"]["accuracy"] == 1.0
    # The other patient's report states all three: the effusion and the pneumothorax right, the heart wrong.
    top1 = rows["the authors' top-1 retrieved report"]
    assert top1["coverage"] == 1.0 and top1["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert set(part["calibration"]) == {"the authors' top-1 retrieved report", "the gold report (the ceiling)"}
    assert all(row["majority_answer"] == "no" for row in part["rows"])
    assert all(row["majority_accuracy"] == pytest.approx(2 / 3, abs=1e-4) for row in part["rows"])
    card = part["card"]
    assert card["question"] == "Is there a pleural effusion?" and card["answer"].startswith("Yes.")
    assert (
        card["deciding_sentence"] == "Small left pleural effusion."
        and card["deciding_sentence"] in card["cited_report"]
    )
    assert card["cited_case"] == "Open-i CXR77" and card["image"] == "CXR1_IM-1/0.png"
    # every gold label of the miniature is a yes or no: the list of questions left out of n is there, and empty
    listed = tmp_path / "work" / part["unparsable_gold_file"]
    assert listed.is_file() and listed.read_text() == ""


def test_iuxray_part_is_skipped_without_its_files(tmp_path: Path) -> None:
    notes: list[str] = []
    assert _iuxray_part(_settings(tmp_path), notes.append) is None and "skipped" in notes[0]
