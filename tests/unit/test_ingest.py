from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.cli import main
from mmedrag.errors import DataError
from mmedrag.ingest import ingest
from mmedrag.io.manifest import read_manifest


def test_ingest_writes_a_manifest_that_reads_back(tiny_manifest: Path, tmp_path: Path) -> None:
    report = ingest(tiny_manifest, tmp_path / "out" / "m.jsonl")
    assert report.written == 6 and not report.errors
    assert [r.id for r in read_manifest(tmp_path / "out" / "m.jsonl")] == [r.id for r in read_manifest(tiny_manifest)]
    assert report.counts["split"] == {"train": 4, "val": 1, "test": 1}


def test_bad_items_are_listed_and_the_rest_is_ingested(tiny_manifest: Path, tmp_path: Path) -> None:
    (tmp_path / "images" / "r2.png").write_bytes(b"")  # zero bytes
    (tmp_path / "images" / "r3.png").write_bytes((tmp_path / "images" / "r3.png").read_bytes()[:60])  # truncated
    with tiny_manifest.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"id": "huge", "text": "x" * 100_000_000}) + "\n")  # a 100 MB text field
        handle.write("{broken\n")
    report = ingest(tiny_manifest, tmp_path / "m.jsonl")
    assert report.written == 4 and len(report.errors) == 4
    joined = "\n".join(report.errors)
    assert "r2" in joined and "empty (0 bytes)" in joined and "r3" in joined and "truncated" in joined
    assert "exceeds 200,000" in joined and "invalid JSON" in joined


def test_nothing_ingested_keeps_the_previous_manifest(tmp_path: Path, tiny_manifest: Path) -> None:
    out = tmp_path / "m.jsonl"
    ingest(tiny_manifest, out)
    before = out.read_text()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="nothing to ingest"):
        ingest(empty, out)
    assert out.read_text() == before


@pytest.mark.data
def test_question_datasets_become_one_record_per_image(shared_data: Path, tmp_path: Path) -> None:
    report = ingest(shared_data / "vqa_rad", tmp_path / "v.jsonl")
    assert report.questions == 3515 and report.written == 314
    record = next(r for r in read_manifest(tmp_path / "v.jsonl") if r.id == "vqa_rad:synpic54610")
    assert record.split == "test" and record.metadata["questions"] == 6
    assert record.metadata["source_image"] == "synpic54610" and "answer_type" not in record.metadata


@pytest.mark.data
def test_cli_ingest_json_summary(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ingest", str(shared_data / "medpix2"), "--out", str(tmp_path / "m.jsonl"), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["written"] == 501 and summary["skipped"] == 1549
    assert summary["counts"]["modality"] == {"ct": 309, "mri": 192}


def test_ingest_marks_sections_and_prior_study_sentences(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    text = "FINDINGS: Heart size is unchanged compared with the prior. Small left effusion.\nIMPRESSION: Effusion."
    manifest.write_text(json.dumps({"id": "a", "text": text}) + "\n", encoding="utf-8")
    report = ingest(manifest, tmp_path / "out.jsonl", check_images=False)
    record = read_manifest(tmp_path / "out.jsonl")[0]
    assert report.prior_sentences == 1
    assert record.metadata["prior_sentences"] == ["Heart size is unchanged compared with the prior."]
    assert record.metadata["sections"]["impression"] == "Effusion." and record.text == text
    ingest(manifest, tmp_path / "dropped.jsonl", check_images=False, drop_priors=True)
    dropped = read_manifest(tmp_path / "dropped.jsonl")[0]
    assert "unchanged" not in dropped.text and "Small left effusion." in dropped.text
