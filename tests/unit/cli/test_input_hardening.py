"""One bad item never aborts the rest; paths stay inside the data root; duplicate ids follow one policy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import make_image
from mmedrag.cli import main
from mmedrag.quality.validate import validate


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    for n in range(4):
        make_image(n).save(root / "img" / f"{n}.png")
    return root


def nested(depth: int) -> str:
    return '{"id": "deep", "text": "deep report here", "metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse rejects a flag value with usage + one line
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("depth", [100, 5000])
def test_deep_metadata_is_an_error_for_that_record_only(
    depth: int, data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {"id": "ok", "text": "a normal report text", "image_paths": ["img/0.png"], "metadata": {"a": {"b": [1]}}}
    manifest = write(data / "m.jsonl", [good, nested(depth), {**good, "id": "ok2"}])
    code, out, err = run(capsys, "ingest", str(manifest), "--out", str(tmp_path / "o.jsonl"), "--json")
    report = json.loads(out)
    assert code == 0 and report["written"] == 2 and len(report["errors"]) == 1 and "m.jsonl:2" in report["errors"][0]
    code, out, _ = run(capsys, "index", str(manifest), "--index", str(tmp_path / "i"), "--encoder", "hash:16", "--json")
    assert code == 0 and json.loads(out)["added"] == 2 and "nest" in json.loads(out)["read_errors"][0]
    result = validate([manifest])
    assert result.records == 2 and [p.line for p in result.read_errors] == [2] and not result.ok


def test_duplicate_ids_first_wins_everywhere_and_validate_fails(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"id": "a", "text": "first report about a", "image_paths": ["img/0.png"]},
        {"id": "b", "text": "report about b", "image_paths": ["img/1.png"]},
        {"id": "a", "text": "second report about a", "image_paths": ["img/2.png"]},
    ]
    manifest = write(data / "m.jsonl", lines)
    code, out, _ = run(capsys, "ingest", str(manifest), "--out", str(tmp_path / "o.jsonl"), "--json")
    report = json.loads(out)
    assert code == 0 and report["written"] == 2
    assert "'a'" in report["errors"][0] and "m.jsonl:3" in report["errors"][0] and "line 1" in report["errors"][0]
    written = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["text"] for r in written if r["id"] == "a"] == ["first report about a"]
    code, out, _ = run(capsys, "index", str(manifest), "--index", str(tmp_path / "i"), "--encoder", "hash:16", "--json")
    indexed = json.loads(out)
    assert code == 0 and indexed["added"] == 2 and indexed["total"] == 2 and "'a'" in indexed["read_errors"][0]
    code, out, _ = run(capsys, "validate", str(manifest), "--json")
    result = json.loads(out)
    assert code == 1 and result["ok"] is False and result["records"] == 2
    assert [(p["record_id"], p["line"]) for p in result["duplicate_ids"]] == [("a", 3)]


def test_duplicate_ids_within_records_given_to_build_index(tmp_path: Path, hash_encoder) -> None:
    from mmedrag.indexing import build_index
    from mmedrag.types import Record

    records = [Record(id="x", text="one two"), Record(id="y", text="three"), Record(id="x", text="four")]
    report = build_index(records, tmp_path / "i", hash_encoder, store="exact")
    assert (report.added, report.total, report.skipped) == (2, 2, 1) and "'x'" in report.errors[0]


def test_image_paths_are_confined_to_the_data_root_by_default(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside.png"
    make_image(9).save(outside)
    os.symlink(outside, data / "img" / "link.png")
    lines = [
        {"id": "ok", "text": "inside report", "image_paths": ["img/0.png"]},
        {"id": "up", "text": "dot dot report", "image_paths": ["../outside.png"]},
        {"id": "abs", "text": "absolute report", "image_paths": [str(outside)]},
        {"id": "link", "text": "symlink report", "image_paths": ["img/link.png"]},
        {"id": "nul", "text": "nul byte report", "image_paths": ["img/0.png\u0000.png"]},
    ]
    manifest = write(data / "m.jsonl", lines)
    for verb in (["ingest", "--out", str(tmp_path / "o.jsonl")], ["index", "--index", str(tmp_path / "i")]):
        extra = ["--encoder", "hash:16"] if verb[0] == "index" else []
        code, out, err = run(capsys, verb[0], str(manifest), *verb[1:], *extra, "--json")
        report = json.loads(out)
        errors = report.get("read_errors", []) + report["errors"]
        assert code == 0 and len(errors) == 4, errors
        assert sum("escapes the data root" in e and "--data-root" in e for e in errors) == 3
        assert any("NUL" in e for e in errors)
    code, out, _ = run(capsys, "validate", str(manifest), "--json")
    assert code == 1 and json.loads(out)["records"] == 1
    # An explicit, wider --data-root lets the outside files in; ../ resolves against it.
    code, out, _ = run(capsys, "validate", str(manifest), "--data-root", str(tmp_path), "--json")
    assert json.loads(out)["records"] == 3


def test_a_manifest_whose_images_are_all_outside_says_so_and_ingest_hints_the_flag(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "manifests"
    elsewhere.mkdir()
    lines = [{"id": f"r{n}", "text": "a report", "image_paths": [str(data / "img" / f"{n}.png")]} for n in range(3)]
    source = write(data / "m.jsonl", lines)
    code, _, err = run(capsys, "ingest", str(source), "--out", str(elsewhere / "m.jsonl"))
    assert code == 0 and f"--data-root {data}" in err
    code, _, err = run(
        capsys, "index", str(elsewhere / "m.jsonl"), "--index", str(tmp_path / "i"), "--encoder", "hash:8"
    )
    assert code == 2 and "escapes the data root" in err and len(err.strip().splitlines()) == 1
    argv = ["index", str(elsewhere / "m.jsonl"), "--index", str(tmp_path / "i"), "--encoder", "hash:8"]
    code, _, err = run(capsys, *argv, "--data-root", str(data))
    assert code == 0 and "3 added" in err


def test_index_image_root_on_a_manifest_and_unknown_options(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(tmp_path / "m.jsonl", [{"id": "a", "text": "report a", "image_paths": ["img/0.png"]}])
    code, out, _ = run(
        capsys,
        "index",
        str(manifest),
        "--index",
        str(tmp_path / "i"),
        "--encoder",
        "hash:16",
        "--image-root",
        str(data),
        "--json",
    )
    assert code == 0 and json.loads(out)["added"] == 1
    code, _, err = run(capsys, "ingest", str(manifest), "--out", str(tmp_path / "o.jsonl"), "--option", "colour=red")
    assert code == 2 and "has no option 'colour'" in err and "Traceback" not in err
    code, _, err = run(
        capsys, "index", str(manifest), "--index", str(tmp_path / "j"), "--data-root", str(tmp_path / "no")
    )
    assert code == 2 and "--data-root" in err and "not a folder" in err


def test_validate_lists_every_leaked_test_record(tmp_path: Path) -> None:
    from mmedrag.types import Record

    image = tmp_path / "x.png"
    make_image(1).save(image)
    copy = tmp_path / "copy.png"
    make_image(1).save(copy)
    records = [
        Record(id="kb", text="kb report text here", patient_id="p", split="train"),
        *[Record(id=f"t{n}", text="test report text here", patient_id="p", split="test") for n in range(3)],
        Record(id="kbimg", image_paths=(str(image),), split="train"),
        *[Record(id=f"timg{n}", image_paths=(str(copy),), split="test") for n in range(2)],
    ]
    report = validate(records)
    leaked = sorted(p.record_id for p in report.leakage)
    assert leaked == ["t0", "t1", "t2", "timg0", "timg1"]


@pytest.mark.parametrize("line", [b"[1, 2]", b'{"question": "caf\xe9"}', b"[" * 5000])
def test_a_bad_questions_line_is_one_line_naming_it(line: bytes, tmp_path: Path) -> None:
    from mmedrag.errors import DataError
    from mmedrag.evaluation.questions import read_questions_jsonl

    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "a", "question": "q", "answer": "yes", "task": "closed", "image_path": null}\n' + line)
    with pytest.raises(DataError, match=r"q\.jsonl:2: not a question"):
        read_questions_jsonl(path)


@pytest.mark.parametrize(("verb", "flag"), [("ask", "--question"), ("search", "--text")])
def test_text_that_is_not_utf8_is_refused_in_one_line(
    verb: str, flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    undecodable = os.fsdecode(b"is there an effusion \xff?")  # how Python hands over argv bytes that are not UTF-8
    code, out, err = run(capsys, verb, "--index", str(tmp_path / "none"), flag, undecodable)
    assert code == 2 and not out
    assert err.count("\n") == 1 and "is not UTF-8 text" in err and "Traceback" not in err
