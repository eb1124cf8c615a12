from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.errors import DataError
from mmedrag.io.manifest import ManifestError, read_manifest, record_id_for, write_manifest
from mmedrag.types import Record


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as handle:
        for line in lines:
            handle.write((line if isinstance(line, bytes) else line.encode()) + b"\n")
    return path


def test_manifest_round_trip_keeps_every_field(tmp_path: Path) -> None:
    record = Record(
        id="a",
        text="Clear lungs.",
        image_paths=(str(tmp_path / "a.png"),),
        domain="radiology",
        modality="xray",
        patient_id="p",
        study_id="s",
        split="train",
        source="x",
        metadata={"k": [1, 2]},
    )
    write_manifest([record], tmp_path / "m.jsonl")
    assert read_manifest(tmp_path / "m.jsonl") == [record]


def test_relative_image_paths_resolve_against_the_manifest_folder(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "m.jsonl", [json.dumps({"id": "a", "image_paths": ["img/a.png"]})])
    assert read_manifest(path)[0].image_paths == (str(tmp_path / "img" / "a.png"),)
    other = tmp_path / "elsewhere"
    assert read_manifest(path, root=other)[0].image_paths == (str(other / "img" / "a.png"),)


def test_missing_id_is_derived_from_content_and_stable_when_the_corpus_moves(tmp_path: Path) -> None:
    line = json.dumps({"text": "Clear lungs.", "image_paths": ["a.png"]})
    first = read_manifest(write_lines(tmp_path / "m.jsonl", [line]))[0]
    (tmp_path / "moved").mkdir()
    second = read_manifest(write_lines(tmp_path / "moved" / "m.jsonl", [line]))[0]
    assert first.id == second.id == record_id_for("Clear lungs.", ["a.png"])


def test_modality_and_domain_are_normalised(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "m.jsonl",
        [json.dumps({"id": "a", "text": "t", "domain": "Radiology", "modality": "MR - T2 weighted"})],
    )
    record = read_manifest(path)[0]
    assert (record.domain, record.modality) == ("radiology", "mri")


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('{"id": "a", "txt": "x"}', "txt", "did you mean 'text'"),
        ('{"id": "a", "text": 5}', "text", "must be a string"),
        ('{"id": "a", "text": "x", "image_paths": [3]}', "image_paths", "list of non-empty path strings"),
        ('{"id": "a"}', "text", "neither"),
        ('{"id": "a", "text": "x", "domain": "cardiology"}', "domain", "unknown domain"),
        ('{"id": "a", "text": "x", "metadata": [1]}', "metadata", "must be an object"),
        ('{"id": ["a"], "text": "x"}', "id", "must be a string"),
        ('{"id": "a", "text": "x", "split": {"a": 1}}', "split", "string or null"),
    ],
)
def test_malformed_line_names_file_line_and_field(tmp_path: Path, line: str, field: str, words: str) -> None:
    path = write_lines(tmp_path / "m.jsonl", ['{"id": "ok", "text": "fine"}', line])
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert f"{path}:2" in message and f"field {field!r}" in message and words in message
    assert "\n" not in message


def test_invalid_json_and_non_utf8_lines_name_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "m.jsonl", ['{"id": "a", "text": "x"', b'{"id": "b", "text": "\xff\xfe"}'])
    errors: list[ManifestError] = []
    assert read_manifest(path, errors=errors) == []
    assert [e.line for e in errors] == [1, 2]
    assert "invalid JSON" in str(errors[0]) and "not UTF-8" in str(errors[1])
    # The parser points past the line (line 2, column 1) for an object left open: said in words, not "column 1".
    assert "at the end of the line: an object, array or string is not closed" in str(errors[0])
    assert errors[0].detail.startswith("invalid JSON") and str(errors[0]) == f"{path}:1: {errors[0].detail}"


def test_invalid_json_inside_a_line_names_its_column(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "m.jsonl", ['{"id": "a", "text": "x"}}'])
    errors: list[ManifestError] = []
    read_manifest(path, errors=errors)
    assert "(Extra data at column 25)" in str(errors[0])


def test_bad_lines_are_collected_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "m.jsonl",
        [
            '{"id": "a", "text": "x"}',
            "not json",
            "",
            '{"id": "b", "text": "y", "bogus": 1}',
            '{"id": "c", "text": "z"}',
        ],
    )
    errors: list[ManifestError] = []
    records = read_manifest(path, errors=errors)
    assert [r.id for r in records] == ["a", "c"]
    assert [(e.line, e.field) for e in errors] == [(2, None), (4, "bogus")]


def test_duplicate_ids_are_reported_with_both_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "m.jsonl", ['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'])
    with pytest.raises(ManifestError, match=r"m.jsonl:2: field 'id': duplicate id 'a' \(first on line 1\)"):
        read_manifest(path)


def test_missing_manifest_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="manifest not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_write_manifest_is_atomic_when_a_record_fails(tmp_path: Path) -> None:
    target = tmp_path / "m.jsonl"
    write_manifest([Record(id="old", text="kept")], target)

    def records():
        yield Record(id="new", text="x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_manifest(records(), target)
    assert [r.id for r in read_manifest(target)] == ["old"]
    assert list(tmp_path.glob(".m.jsonl.*")) == []


def test_paths_escaping_a_configured_data_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    path = write_lines(
        tmp_path / "m.jsonl",
        [
            json.dumps({"id": "ok", "image_paths": ["img/a.png"]}),
            json.dumps({"id": "up", "image_paths": ["../../etc/passwd"]}),
            json.dumps({"id": "abs", "image_paths": ["/etc/passwd"]}),
        ],
    )
    errors: list[ManifestError] = []
    records = read_manifest(path, root=root, errors=errors, confine=True)
    assert [r.id for r in records] == ["ok"]
    assert [(e.line, e.field) for e in errors] == [(2, "image_paths"), (3, "image_paths")]
    assert all("escapes the data root" in str(e) for e in errors)
