from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import make_image
from mmedrag.cli.validate import ValidateCommand
from mmedrag.io.readers import read_source
from mmedrag.quality import duplicates
from mmedrag.quality.duplicates import distance_counts, near_duplicate_pairs, similarity, thumbnail
from mmedrag.quality.validate import ValidationReport, records_from_questions, validate
from mmedrag.types import Question, Record

TEXT = "Moderate right pleural effusion with adjacent atelectasis."


def line(rid: str, image: str | None, split: str, patient: str, text: str = TEXT) -> str:
    data: dict[str, Any] = {"id": rid, "text": text, "split": split, "patient_id": patient, "source": "unit"}
    if image:
        data["image_paths"] = [image]
    return json.dumps(data)


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    """One of each problem: missing, corrupt, image-only, short, exact copy train/test, resized copy, shared patient."""
    images = tmp_path / "images"
    images.mkdir()
    for seed in range(1, 6):
        make_image(seed, size=(96, 80)).save(images / f"{seed}.png")
    shutil.copy(images / "2.png", images / "2-copy.png")  # exact duplicate, another file
    make_image(3, size=(96, 80)).resize((192, 160), Image.Resampling.BICUBIC).save(images / "3-big.png")
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    lines = [
        line("clean", "images/1.png", "train", "p1"),
        line("orig", "images/2.png", "train", "p2"),
        line("copy", "images/2-copy.png", "test", "p7"),
        line("small", "images/3.png", "train", "p3"),
        line("big", "images/3-big.png", "val", "p8"),
        line("kb-patient", "images/4.png", "train", "p4"),
        line("test-patient", "images/5.png", "test", "p4"),
        line("missing", "images/nowhere.png", "train", "p5"),
        line("corrupt", "images/corrupt.png", "train", "p6"),
        line("image-only", "images/1.png", "train", "p1", text=""),
        line("short", None, "train", "p9", text="Normal chest XXXX."),
        '{"id": "bad", "txt": "typo"}',
    ]
    manifest = tmp_path / "corpus.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    for seed in range(3):
        make_image(seed + 20, size=(64, 64)).save(tmp_path / f"{seed}.png")
    lines = [line(f"r{i}", f"{i}.png", split, f"p{i}") for i, split in enumerate(("train", "train", "test"))]
    manifest = tmp_path / "clean.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Through ``mmedrag.cli.main`` once the verb is registered, else the command class with its own parser."""
    from mmedrag.cli import COMMANDS, main

    if any(command.name == "validate" for command in COMMANDS):
        code = main(["validate", *argv])
    else:
        command = ValidateCommand()
        parser = argparse.ArgumentParser()
        command.add_arguments(parser)
        code = command.run(parser.parse_args(argv))
    return code, capsys.readouterr().out


def ids(problems: list[Any]) -> set[str]:
    return {problem.record_id for problem in problems}


def test_every_problem_is_found_and_named(dirty: Path) -> None:
    report = validate([dirty], workers=2)
    assert not report.ok
    assert ids(report.missing) == {"missing"} and ids(report.unreadable) == {"corrupt"}
    assert report.missing[0].manifest == str(dirty) and report.missing[0].line == 8
    assert len(report.read_errors) == 1 and report.read_errors[0].line == 12 and "txt" in report.read_errors[0].message
    assert report.image_only == 1 and report.text_only == 1 and report.empty == []
    assert ids(report.short_reports) == {"short"} and report.short_report_count == 1  # "XXXX" is not a word
    [exact] = [g for g in report.exact_duplicates if "same file" not in g.scopes]
    assert {m.record_id for m in exact.members} == {"orig", "copy"}
    assert exact.scopes == ["across splits"] and exact.leakage
    [near] = report.near_duplicates
    assert {m.record_id for m in near.members} == {"small", "big"} and near.scopes == ["across splits"]
    assert near.leakage and near.max_distance <= 6 and near.min_similarity >= 0.95
    [same_file] = [g for g in report.exact_duplicates if "same file" in g.scopes]
    assert {m.record_id for m in same_file.members} == {"clean", "image-only"} and not same_file.leakage
    leaks = {p.record_id: p.message for p in report.leakage}
    assert set(leaks) == {"copy", "big", "test-patient"}
    assert "patient 'p4'" in leaks["test-patient"] and "kb-patient" in leaks["test-patient"]
    assert report.counts["split"] == {"train": 8, "test": 2, "val": 1}
    assert report.records == 11 and report.unique_images == 9


def test_cli_exits_1_on_leakage_and_unreadable_files(dirty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli([str(dirty), "--json", "--phi"], capsys)
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    assert {p["record_id"] for p in data["leakage"]} == {"copy", "big", "test-patient"}
    assert data["phi"]["records_scanned"] == 11  # the image-only record too: its metadata is screened
    code, out = run_cli([str(dirty)], capsys)
    assert code == 1 and "FAILED" in out and "missing images: 1" in out


def test_clean_corpus_is_ok_and_exits_0(clean: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = validate([clean])
    assert report.ok and report.leakage == [] and report.exact_duplicates == [] and report.near_duplicates == []
    code, out = run_cli([str(clean)], capsys)
    assert code == 0 and out.rstrip().endswith("OK")


def test_split_options_decide_what_leaks(dirty: Path) -> None:
    report = validate([dirty], kb_splits=("train",), test_splits=("test",))
    assert {p.record_id for p in report.leakage} == {"copy", "test-patient"}  # "val" is no longer a test split
    with pytest.raises(Exception, match="both knowledge base and test"):
        validate([dirty], kb_splits=("train",), test_splits=("train",))


def test_small_chunks_give_the_same_report(dirty: Path) -> None:
    def summary(report: ValidationReport) -> dict[str, Any]:
        data = report.to_dict()
        return {k: v for k, v in data.items() if k != "seconds"}

    assert summary(validate([dirty], chunk_size=1, workers=1)) == summary(validate([dirty], chunk_size=1000))


def test_records_can_be_validated_without_a_manifest(tmp_path: Path) -> None:
    make_image(1).save(tmp_path / "a.png")
    records = [
        Record(id="a", text=TEXT, image_paths=(str(tmp_path / "a.png"),), split="train", study_id="s1"),
        Record(id="b", text=TEXT, split="test", study_id="s1"),
        Record(id="c", split="test"),
    ]
    report = validate(records)
    [leak] = report.leakage
    assert leak.record_id == "b" and "study 's1'" in leak.message and leak.manifest is None
    assert ids(report.empty) == {"c"} and report.ok is False


def test_candidate_budget_lowers_the_threshold_with_a_warning(dirty: Path) -> None:
    report = validate([dirty], max_near_candidates=0)
    assert report.near_duplicates == [] and "exceed the budget of 0" in report.warnings[0]


def test_questions_become_one_image_record_per_split() -> None:
    questions = [
        Question(id=f"q{i}", question="?", answer="yes", image_path=path, task="closed", split=split, source="vqa")
        for i, (path, split) in enumerate([("/d/a.jpg", "train"), ("/d/a.jpg", "train"), ("/d/a.jpg", "test")])
    ]
    records = records_from_questions(questions)
    assert [(r.id, r.split, r.metadata["questions"]) for r in records] == [
        ("vqa:train:a", "train", 2),
        ("vqa:test:a", "test", 1),
    ]
    assert all(r.text == "" and r.image_paths == ("/d/a.jpg",) for r in records)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=40), st.integers(0, 64), st.integers(1, 200))
def test_near_pairs_match_brute_force_across_blocks(values: list[int], bits: int, block: int) -> None:
    hashes = np.array(values + [v ^ 1 for v in values[:3]], dtype=np.uint64)
    original = duplicates._BLOCK_ELEMENTS
    duplicates._BLOCK_ELEMENTS = block  # force many small row blocks
    try:
        first, second, distance = near_duplicate_pairs(hashes, bits)
        counts = distance_counts(hashes, bits)
    finally:
        duplicates._BLOCK_ELEMENTS = original
    items = [int(h) for h in hashes]
    expected = {
        (i, j, (items[i] ^ items[j]).bit_count())
        for i in range(len(items))
        for j in range(i + 1, len(items))
        if (items[i] ^ items[j]).bit_count() <= bits
    }
    found = set(zip(first.tolist(), second.tolist(), distance.tolist(), strict=True))
    assert found == expected and len(first) == len(expected)
    assert counts.tolist() == [sum(1 for *_, d in expected if d == k) for k in range(bits + 1)]


def test_similarity_accepts_resizes_and_crops_and_rejects_other_pictures(tmp_path: Path) -> None:
    big = make_image(7, size=(200, 160))
    big.save(tmp_path / "big.png")
    big.resize((100, 80), Image.Resampling.BICUBIC).save(tmp_path / "half.png")
    big.crop((30, 20, 190, 150)).save(tmp_path / "crop.png")
    make_image(8, size=(200, 160)).save(tmp_path / "other.png")
    thumbs = {name: thumbnail(str(tmp_path / f"{name}.png")) for name in ("big", "half", "crop", "other")}
    assert all(thumbs.values())
    assert similarity(thumbs["big"], thumbs["half"]) > 0.95  # type: ignore[arg-type]
    assert similarity(thumbs["big"], thumbs["crop"]) > 0.95  # type: ignore[arg-type]
    assert similarity(thumbs["big"], thumbs["other"]) < 0.9  # type: ignore[arg-type]
    assert thumbnail(str(tmp_path / "nowhere.png")) is None


def test_crops_of_images_larger_than_the_decode_side_are_aligned_at_their_true_scale(tmp_path: Path) -> None:
    # A 4% crop of a 2400-pixel film and the film both decode to 1024 pixels wide, 4% apart in scale; compared at
    # their decoded sizes they scored 0.89-0.94 on VQA-RAD films and the crop slipped past the 0.95 threshold.
    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 255, size=(36, 48), dtype=np.uint8), mode="L")
    film = base.resize((2400, 1800), Image.Resampling.BICUBIC)
    film.save(tmp_path / "film.png")
    film.crop((96, 72, 2400, 1800)).save(tmp_path / "crop.png")
    whole, crop = thumbnail(str(tmp_path / "film.png")), thumbnail(str(tmp_path / "crop.png"))
    assert whole is not None and crop is not None
    assert whole.size == (2400, 1800) and crop.size == (2304, 1728)  # the files' sizes, not the decoded ones
    assert similarity(whole, crop) > 0.97


@pytest.mark.data
def test_medpix_and_vqa_rad_share_source_images(shared_data: Path) -> None:
    vqa = read_source(shared_data / "vqa_rad")
    records = read_source(shared_data / "medpix2").records + records_from_questions(vqa.questions)
    report = validate(records, kb_splits=("train", "none"), test_splits=("test",))
    across = {
        frozenset(m.record_id for m in group.members): group
        for group in report.exact_duplicates + report.near_duplicates
        if "across sources" in group.scopes
    }
    exact = frozenset({"medpix2:MPX2584_synpic19853", "vqa_rad:train:synpic19853", "vqa_rad:test:synpic19853"})
    near = frozenset({"medpix2:MPX1264_synpic32981", "vqa_rad:train:synpic32981"})  # a re-crop, dHash distance 6
    assert set(across) == {exact, near}
    assert across[exact].kind == "exact" and across[exact].leakage
    assert across[near].kind == "near" and not across[near].leakage  # synpic32981 is not in the VQA-RAD test split
    # Every VQA-RAD test image is also asked about in the train split (a known property of the MEVF split).
    image_leaks = [p for p in report.leakage if "duplicate image" in p.message]
    assert len(image_leaks) == 203 and not report.ok
    assert report.records == 501 + 517 and report.unique_images == 501 + 314


def test_popcount_fallback_for_numpy_before_2(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.array([[0, 1, 2**64 - 1], [2**63, 0b1011, 12345678901234567]], dtype=np.uint64)
    expected = [[int(v).bit_count() for v in row] for row in values.tolist()]
    assert duplicates._popcount(values).tolist() == expected
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    assert duplicates._popcount(values).tolist() == expected
