from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.errors import DataError
from mmedrag.io.readers import detect_format, read_source

pytestmark = pytest.mark.data


def test_medpix2_records_carry_caption_findings_modality_and_case(shared_data: Path) -> None:
    dataset = read_source(shared_data / "medpix2")
    assert len(dataset.records) == 501 and dataset.skipped == 2050 - 501 and not dataset.errors
    record = next(r for r in dataset.records if r.id == "medpix2:MPX1009_synpic46283")
    assert record.text.startswith("The prostate is enlarged")
    assert "Findings: Bladder with thickened wall" in record.text and "Diagnosis: Bladder Diverticulum" in record.text
    assert (record.modality, record.patient_id, record.domain) == ("ct", "medpix2:MPX1009", "radiology")
    assert Path(record.image_paths[0]).is_file()
    assert {r.modality for r in dataset.records} == {"ct", "mri"}
    cases = {r.patient_id for r in dataset.records}
    assert len(cases) == 302


def test_vqa_rad_questions_split_closed_yes_no_from_other_questions(shared_data: Path) -> None:
    dataset = read_source(shared_data / "vqa_rad")
    assert len(dataset.questions) == 3515
    test = [q for q in dataset.questions if q.split == "test"]
    assert len(test) == 451
    closed = [q for q in test if q.task == "closed"]
    assert len(closed) == 251 and all(q.answer.lower() in {"yes", "no"} for q in closed)
    assert all(Path(q.image_path).is_file() for q in test)


def test_mmed_rag_folder_reads_splits_by_file_role_and_questions(shared_data: Path) -> None:
    dataset = read_source(shared_data / "mmed_rag_iuxray")
    by_split = {s: sum(r.split == s for r in dataset.records) for s in ("train", "val", "test")}
    assert by_split == {"train": 1034, "val": 1035, "test": 590}  # the val file says "train" inside
    assert len(dataset.questions) == 2573
    question = dataset.questions[0]
    assert question.question == "Does the cardiomediastinal silhouette appear normal in the chest X-ray?"
    assert (question.study_id, question.answer, question.task) == ("CXR3030", "Yes.", "closed")
    record = next(r for r in dataset.records if r.id == "iuxray:CXR3030_IM-1405")
    assert record.study_id == "CXR3030" and len(record.image_paths) == 2


def test_retrieved_top1_file_keeps_the_reference_reports(shared_data: Path) -> None:
    dataset = read_source(shared_data / "mmed_rag_iuxray" / "vqa_test_retrieved_top1.jsonl", "mmed_rag")
    assert len(dataset.questions) == 2573
    assert all(len(q.metadata["reference_reports"]) == 1 for q in dataset.questions)


def test_configured_image_root_wins_over_the_absolute_root_in_the_file(tmp_path: Path) -> None:
    entries = [
        {
            "id": "CXR1_IM-0001",
            "report": "Clear.",
            "image_path": ["CXR1_IM-0001/0.png"],
            "split": "train",
            "image_root": "/home/wenhao/data/iu_xray/images",
        }
    ]
    path = tmp_path / "retriever_train.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    assert read_source(path).records[0].image_paths == ("/home/wenhao/data/iu_xray/images/CXR1_IM-0001/0.png",)
    mine = tmp_path / "images"
    assert read_source(path, image_root=mine).records[0].image_paths == (str(mine / "CXR1_IM-0001" / "0.png"),)


def test_preference_file_is_refused_with_a_pointer(tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([{"id": "x", "conversations": [], "rejected_conversations": []}]), encoding="utf-8")
    with pytest.raises(DataError, match="preference pair"):
        read_source(path, "mmed_rag")
    with pytest.raises(DataError, match="cannot tell its format"):
        read_source(path)


def test_bad_entries_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "retriever_val.json"
    path.write_text(json.dumps([{"id": "a", "report": ""}, {"id": "b", "report": "Clear."}]), encoding="utf-8")
    dataset = read_source(path)
    assert [r.id for r in dataset.records] == ["b"] and len(dataset.errors) == 1
    assert dataset.records[0].split == "val"


def test_format_detection_and_unknown_sources(tmp_path: Path, shared_data: Path) -> None:
    assert detect_format(shared_data / "medpix2") == "medpix2"
    assert detect_format(shared_data / "vqa_rad") == "vqa_rad"
    assert detect_format(shared_data / "mmed_rag_iuxray") == "mmed_rag"
    (tmp_path / "m.jsonl").write_text("", encoding="utf-8")
    assert detect_format(tmp_path / "m.jsonl") == "manifest"
    with pytest.raises(DataError, match="source not found"):
        detect_format(tmp_path / "absent")
    with pytest.raises(DataError, match="cannot tell its format"):
        detect_format(tmp_path)
    with pytest.raises(DataError, match="unknown format"):
        read_source(tmp_path / "m.jsonl", "dicomweb")
