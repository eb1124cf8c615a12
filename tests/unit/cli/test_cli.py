from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.cli import COMMANDS, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def index(tiny_manifest: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    folder = tiny_manifest.parent / "idx"
    code, _, err = run(
        capsys, "index", str(tiny_manifest), "--index", str(folder), "--encoder", "hash:32", "--store", "exact"
    )
    assert code == 0 and "6 added, 0 replaced, 0 skipped; 6 records" in err
    return folder


@pytest.mark.parametrize("verb", [c.name for c in COMMANDS])
def test_every_verb_explains_itself(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([verb, "--help"])
    assert caught.value.code == 0
    assert "usage: mmedrag " + verb in capsys.readouterr().out


def test_no_verb_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2 and "index" in out and "demo" in out


def test_index_json_reports_counts_and_skipped_lines(tiny_manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tiny_manifest.open("a") as handle:
        handle.write('{"id": "bad", "txt": "typo"}\n')
    code, out, _ = run(
        capsys,
        "index",
        str(tiny_manifest),
        "--index",
        str(tiny_manifest.parent / "i"),
        "--encoder",
        "hash:32",
        "--json",
    )
    report = json.loads(out)
    assert code == 0 and report["added"] == 6 and report["total"] == 6
    assert len(report["read_errors"]) == 1 and "field 'txt'" in report["read_errors"][0]


def test_search_prints_ranked_hits_and_json(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "--index", str(index), "--text", "ring-enhancing lesion frontal lobe")
    assert code == 0 and out.splitlines()[0].split()[2] == "r4"
    code, out, _ = run(
        capsys, "search", "--index", str(index), "--text", "effusion", "-k", "2", "--filter-split", "test", "--json"
    )
    hits = json.loads(out)["hits"]
    assert code == 0 and [h["record"]["id"] for h in hits] == ["r6"]


@pytest.mark.parametrize("verb", ["search", "ask"])
def test_an_unknown_query_modality_is_refused_naming_the_known_ones(
    verb: str, index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "--text" if verb == "search" else "--question"
    code, out, err = run(capsys, verb, "--index", str(index), text, "effusion", "--modality", "telepathy")
    assert code == 2 and not out and err.count("\n") == 1
    assert "unknown modality 'telepathy'; use one of: xray, ct" in err
    code, out, _ = run(capsys, verb, "--index", str(index), text, "effusion", "--modality", "CR", "--json")
    assert code == 0  # a DICOM alias is known


def test_validate_takes_the_format_its_error_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    code, _, err = run(capsys, "validate", str(folder))
    assert code == 2 and "pass --format with one of" in err
    (folder / "notes.jsonl").write_text('{"id": "a", "text": "a report of some words"}\n')
    code, out, _ = run(capsys, "validate", str(folder / "notes.jsonl"), "--format", "manifest", "--json")
    assert code == 0 and json.loads(out)["records"] == 1
    code, _, err = run(capsys, "validate", str(folder), "--format", "nope")
    assert code == 2 and "unknown format 'nope'" in err


def test_ask_json_has_the_documented_fields(
    index: Path, tiny_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tiny_manifest.parent / "images" / "r2.png"
    code, out, _ = run(
        capsys,
        "ask",
        "--index",
        str(index),
        "--image",
        str(image),
        "--question",
        "Is there a pleural effusion?",
        "-k",
        "2",
        "--json",
    )
    data = json.loads(out)
    assert code == 0
    assert {"answer", "domain", "citations", "k", "prompt_tokens", "timings_ms"} <= set(data)
    assert data["k"] == len(data["citations"]) <= 2 and all({"id", "score"} == set(c) for c in data["citations"])
    assert "r2" not in [c["id"] for c in data["citations"]]  # the query image itself is never cited


def test_ask_text_output_lists_the_cited_cases(
    index: Path, tiny_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "ask",
        "--index",
        str(index),
        "--image",
        str(tiny_manifest.parent / "images/r1.png"),
        "--question",
        "Is there an effusion?",
        "--mode",
        "text",
        "--domain",
        "radiology",
        "--answer-weak",  # cases found by the question's words are weak evidence: shown, to list them
        "lean",
    )
    lines = out.splitlines()
    assert (
        code == 0
        and lines[0] == 'answer: Yes. Reference [1]: "Large left pleural effusion with compressive atelectasis."'
    )
    assert lines[1].startswith("evidence: weak, confidence 0.") and lines[1].endswith("(uncalibrated)")
    assert lines[2].startswith("note: These cases were found by the question's words, not by an image like yours.")
    assert "Reference [1] (a similar case, another patient's report) states: \"Large left" in lines[2]
    assert lines[3].startswith("domain: radiology (query)")
    assert len(lines) == 4 + 3 and lines[4].lstrip().startswith("[1] ")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["ask", "--image", "{tmp}/missing.png", "--question", "x"], "missing.png: image file not found"),
        (["ask", "--image", "{tmp}/images/r1.png", "--question", "x", "--set", "selector.kk=1"], "selector.kk"),
        (["ask", "--question", "x", "--domain", "cardiology"], "unknown domain 'cardiology'"),
        (["search", "--index", "{tmp}/idx", "--text", "x", "--encoder", "hash:16"], "built with encoder hash-32"),
        (["search", "--index", "{tmp}/nowhere", "--text", "x"], "no index found"),
        (["index", "{tmp}/empty.jsonl", "--index", "{tmp}/e", "--encoder", "hash:8"], "no records to index"),
        (["index", "--index", "{tmp}/e"], "give a SOURCE"),
        (["index", "{tmp}/corpus.jsonl", "--index", "{tmp}/e", "--encoder", "bogus"], "unknown encoder 'bogus'"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(
    index: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    tmp = index.parent
    (tmp / "empty.jsonl").write_text("")
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp)) for a in argv])
    assert code == 2 and out == ""
    assert words in err and err.count("\n") == 1 and err.startswith(f"mmedrag {argv[0]}: error: ")


def test_index_delete_removes_a_record(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "index", "--index", str(index), "--delete", "r1", "r9", "--json")
    assert code == 0 and json.loads(out) == {"removed": 1}


def test_env_reports_versions_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "env", "--json")
    data = json.loads(out)
    assert code == 0 and data["packages"]["numpy"] != "-" and isinstance(data["extras"]["faiss"], bool)
    from mmedrag.backends import ROLES

    assert set(data["registries"]) == set(ROLES) and "faiss" in data["registries"]["store"]
    assert all(data["registries"][role] == registry.names() for role, registry in ROLES.items())


@pytest.mark.parametrize(
    ("question", "answer", "note"),
    [
        (
            "Is there a mass in this image?",
            "answer: unknown",
            "No image was given; the question asks about this image.",
        ),
        ("Is there a pleural effusion?", "answer: ", "Text-only: no image given, answered from the question's text."),
    ],
)
def test_ask_without_an_image_says_so(
    index: Path, capsys: pytest.CaptureFixture[str], question: str, answer: str, note: str
) -> None:
    code, out, _ = run(capsys, "ask", "--index", str(index), "--question", question)
    assert code == 0 and out.startswith(answer) and "\nnote: " in out and note in out
