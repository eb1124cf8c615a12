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


def test_skips_are_counted_by_reason_with_named_examples(tmp_path: Path) -> None:
    pytest.importorskip("pydicom")
    import shutil

    from pydicom.data import get_testdata_file

    source = tmp_path / "dicom"
    source.mkdir()
    ct = str(get_testdata_file("CT_small.dcm"))
    for name in ("a.dcm", "b.dcm", "c.dcm"):  # the same instance exported three times
        shutil.copy(ct, source / name)
    (source / "notes.bin").write_bytes(b"not dicom")
    report = ingest(source, tmp_path / "m.jsonl", "dicom")
    assert report.written == 1 and report.skipped == 3
    assert report.skipped_by_reason == {"repeated SOP Instance UID": 2, "not DICOM": 1}
    examples = report.skipped_examples["repeated SOP Instance UID"]
    assert "b.dcm" in examples[0] and "a.dcm" in examples[0] and "c.dcm" in examples[1]


def test_library_warnings_go_to_the_item_report_not_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pydicom")
    import shutil

    from pydicom.data import get_testdata_file

    source = tmp_path / "dicom"
    source.mkdir()
    shutil.copy(str(get_testdata_file("badVR.dcm")), source / "bad_vr.dcm")  # IS value '1A': pydicom warns
    shutil.copy(str(get_testdata_file("CT_small.dcm")), source / "ok.dcm")
    code = main(["ingest", str(source), "--format", "dicom", "--out", str(tmp_path / "m.jsonl"), "--json"])
    assert code == 0
    out, err = capfd.readouterr()
    report = json.loads(out)
    [(item, messages)] = report["warnings"].items()
    assert item.endswith("bad_vr.dcm") and "VR IS" in messages[0] and report["warning_count"] == 1
    assert "UserWarning" not in err  # nothing raw on stderr


def test_warning_collector_files_warnings_per_thread_item() -> None:
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from mmedrag.io.library_warnings import UNATTRIBUTED, WarningCollector, reading

    def work(name: str) -> None:
        with reading(name):
            warnings.warn(f"odd value in {name}", UserWarning, stacklevel=1)

    with WarningCollector() as collector, ThreadPoolExecutor(4) as pool:
        list(pool.map(work, [f"f{i}" for i in range(8)]))
        warnings.warn("outside any item", UserWarning, stacklevel=1)
    assert collector.by_item[f"f{3}"] == ["UserWarning: odd value in f3"] and collector.count == 9
    assert collector.by_item[UNATTRIBUTED] == ["UserWarning: outside any item"]
