"""Property: whatever arguments `mmedrag` is given, it never prints a traceback and exits 0, 1 or 2.

Random argument vectors: a verb, its required arguments (valid or not), and a few flags with odd values (negative,
zero, huge, NaN, non-UTF-8 bytes as Python passes them, paths that are folders or files, bad YAML). No models: the
hash encoder, tiny temporary manifests, and the extractive answerer.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import write_corpus
from mmedrag.cli import main
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.types import Question

WORKSPACE = Path(tempfile.mkdtemp(prefix="mmedrag_cli_property_"))
_counter = itertools.count()


def _workspace() -> dict[str, str]:
    """Files the argument vectors point at, made once (the folders each run writes to are fresh)."""
    root = WORKSPACE
    if (root / "corpus.jsonl").exists():
        return _paths(root)
    (root / "runs").mkdir()
    write_corpus(root, source=None)
    questions = [
        Question(
            id=f"q{n}",
            question="Is there an effusion?",
            answer="yes" if n % 2 else "no",
            image_path=None,
            task="closed",
            domain="radiology",
        )
        for n in range(3)
    ]
    write_questions_jsonl(questions, root / "questions.jsonl")
    (root / "bad.yaml").write_text("selector: [unclosed\n", encoding="utf-8")
    (root / "latin1.yaml").write_bytes(b"generator: extractive # caf\xe9\n")
    (root / "list.yaml").write_text("- 1\n", encoding="utf-8")
    (root / "notes.txt").write_text("not an image\n", encoding="utf-8")
    assert (
        main(
            [
                "index",
                str(root / "corpus.jsonl"),
                "--index",
                str(root / "idx"),
                "--encoder",
                "hash:16",
                "--store",
                "exact",
            ]
        )
        == 0
    )
    return _paths(root)


def _paths(root: Path) -> dict[str, str]:
    names = ("corpus.jsonl", "questions.jsonl", "idx", "bad.yaml", "latin1.yaml", "list.yaml", "notes.txt")
    found = {name: str(root / name) for name in names}
    found["image"] = str(root / "images" / "r1.png")
    found["dir"] = str(root / "images")
    return found


def fresh(name: str) -> str:
    return str(WORKSPACE / "runs" / f"{name}{next(_counter)}")


ODD_INTS = st.sampled_from(["-1", "0", "1", "2", "1000000000", "nan", "inf", "1e3", "abc", "", " 3", "-0"])
ODD_FLOATS = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "0.5", "1", "2", "1e309", "x"])
ODD_TEXT = st.sampled_from(["", "effusion", "\udcff\udcfe bytes", "x" * 5000, "--", "-k", "café 🫁", "\x00"])
SETS = st.sampled_from(
    [
        "selector.k=2",
        "selector.k=-1",
        "selector.k=abc",
        "retrieval.fetch_k=0",
        "a",
        "=",
        "x: [",
        "selector=[1",
        "retrieval.near_duplicate_bits=65",
        "generator=nope:x",
        "selector.k.deep=1",
        "retrieval.mode=sideways",
    ]
)


def path_value(kind: str) -> st.SearchStrategy[str]:
    p = _workspace()
    return st.sampled_from([p["dir"], p["notes.txt"], p["image"], "/nonexistent/x", "", "\udcff", fresh(kind)])


def config_value() -> st.SearchStrategy[str]:
    p = _workspace()
    return st.sampled_from([p["bad.yaml"], p["latin1.yaml"], p["list.yaml"], p["dir"], "/nonexistent.yaml"])


def _flags() -> dict[str, list[tuple[str, st.SearchStrategy[str] | None]]]:
    """Per verb, the flags that get odd values (None: a switch)."""
    common = [("--json", None), ("--bogus", None), ("--debug", None)]
    query = [
        ("-k", ODD_INTS),
        ("--image", path_value("img")),
        ("--mode", st.sampled_from(["image", "text", "up"])),
        ("--filter-domain", ODD_TEXT),
        ("--no-leakage-guard", None),
        ("--no-near-duplicate-guard", None),
        ("--patient-id", ODD_TEXT),
    ]
    pipeline = [
        ("--set", SETS),
        ("--config", config_value()),
        ("--generator", st.sampled_from(["extractive", "x:y"])),
        ("--limit", ODD_INTS),
    ]
    return {
        "search": [*common, *query, ("--text", ODD_TEXT), ("--encoder", st.sampled_from(["hash:16", "hash:0", "zz"]))],
        "ask": [*common, *query, *pipeline, ("--question", ODD_TEXT)],
        "validate": [
            *common,
            ("--near-duplicate-bits", ODD_INTS),
            ("--near-duplicate-similarity", ODD_FLOATS),
            ("--workers", ODD_INTS),
            ("--limit", ODD_INTS),
            ("--data-root", path_value("root")),
            ("--kb-splits", ODD_TEXT),
        ],
        "index": [
            *common,
            ("--batch-size", ODD_INTS),
            ("--device", st.sampled_from(["cuda", "cuda:7", "tpu", "cpu"])),
            ("--encoder", st.sampled_from(["hash:16", "hash:0", "hash:-3", "nope"])),
            ("--image-root", path_value("ir")),
            ("--data-root", path_value("dr")),
            ("--images", st.sampled_from(["ignore", "maybe"])),
        ],
        "ingest": [
            *common,
            ("--workers", ODD_INTS),
            ("--option", st.sampled_from(["a=b", "noeq", "data_root=/"])),
            ("--format", st.sampled_from(["auto", "manifest", "csv", "nope"])),
            ("--out", path_value("out")),
            ("--data-root", path_value("dr")),
        ],
        "compare": [*common, ("--samples", ODD_INTS), ("--seed", ODD_INTS)],
        "evaluate": [
            *common,
            *pipeline,
            ("--bootstrap", ODD_INTS),
            ("--out", path_value("ev")),
            ("--metrics", st.sampled_from(["bleu", "nope", ""])),
            ("--no-near-duplicate-guard", None),
        ],
    }


def _base(verb: str) -> list[str]:
    p = _workspace()
    return {
        "search": ["--index", p["idx"], "--text", "effusion"],
        "compare": [p["dir"], fresh("missing")],
        "ask": ["--index", p["idx"], "--question", "Is there an effusion?"],
        "validate": [p["corpus.jsonl"]],
        "index": [p["corpus.jsonl"], "--index", fresh("index"), "--encoder", "hash:16", "--store", "exact"],
        "ingest": [p["corpus.jsonl"], "--out", fresh("ingest") + ".jsonl", "--no-image-check"],
        "evaluate": [
            "--questions",
            p["questions.jsonl"],
            "--references",
            "none",
            "--out",
            fresh("eval"),
            "--bootstrap",
            "5",
            "--metrics",
            "bleu",
        ],
    }[verb]


@st.composite
def argument_vectors(draw: st.DrawFn) -> list[str]:
    flags = _flags()
    verb = draw(st.sampled_from(sorted(flags)))
    argv = [verb, *_base(verb)]
    for flag, values in draw(st.lists(st.sampled_from(flags[verb]), max_size=3)):
        argv += [flag] if values is None else [flag, draw(values)]
    if draw(st.booleans()) and len(argv) > 2:  # sometimes drop one argument (often a required one)
        del argv[draw(st.integers(1, len(argv) - 1))]
    return argv


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(argv=argument_vectors())
def test_no_argument_vector_prints_a_traceback(argv: list[str]) -> None:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage line + one error line
            code = exc.code if isinstance(exc.code, int) else 2
    stderr = err.getvalue()
    assert "Traceback" not in stderr or "--debug" in argv, f"{argv!r}\n{stderr}"  # --debug asks for the trace
    assert code in {0, 1, 2}, f"{argv!r} -> {code}\n{stderr}"
    if code == 2:  # a usage or input error names itself (1 is validate's verdict, printed on stdout)
        problem = [line for line in stderr.splitlines() if "error" in line]
        assert problem, f"{argv!r} failed without an error line\n{stderr}"


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--index", "IDX", "-k", "-1"],
        ["ask", "-k", "1000000000"],
        ["index", "CORPUS", "--index", "NEW", "--batch-size", "0"],
        ["ingest", "CORPUS", "--out", "NEW", "--workers", "0"],
        ["evaluate", "--questions", "Q", "--out", "NEW", "--limit", "0"],
        ["evaluate", "--questions", "Q", "--out", "NEW", "--bootstrap", "-1"],
        ["validate", "CORPUS", "--near-duplicate-similarity", "nan"],
        ["index", "CORPUS", "--index", "NEW", "--device", "cuda:99"],
        ["ingest", "CORPUS", "--out", "DIR"],
        ["evaluate", "--questions", "Q", "--out", "NOTES"],
    ],
)
def test_bad_values_are_refused_where_they_are_parsed(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    p = _workspace()
    names = {
        "IDX": p["idx"],
        "CORPUS": p["corpus.jsonl"],
        "Q": p["questions.jsonl"],
        "DIR": p["dir"],
        "NOTES": p["notes.txt"],
    }
    argv = [names.get(a, fresh("new") if a == "NEW" else a) for a in argv]
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "error: argument" in err and "Traceback" not in err


def test_non_utf8_arguments_and_bad_config_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    p = _workspace()
    assert main(["search", "--index", p["idx"], "--text", "caf\udce9"]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    for config in (p["bad.yaml"], p["latin1.yaml"]):
        assert main(["ask", "--config", config, "--question", "q"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "cannot read the config" in err
    assert main(["ask", "--set", "selector=[1", "--question", "q"]) == 2
    assert "--set" in capsys.readouterr().err
    assert main(["ask", "--set", "selector.min_score=.nan", "--question", "q"]) == 2
    assert "config selector.min_score" in capsys.readouterr().err
    assert main(["search", "--index", p["idx"], "--text", "a", "--encoder", "hash:0"]) == 2
    assert "positive" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_a_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.cli.search import SearchCommand

    def broken(self: object, args: object) -> int:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(SearchCommand, "run", broken)
    monkeypatch.setenv("MMEDRAG_LOG_DIR", str(tmp_path / "logs"))
    assert main(["search", "--index", "x", "--text", "y"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "internal error: ZeroDivisionError: boom" in err
    [log] = (tmp_path / "logs").iterdir()
    assert str(log) in err and "Traceback" in log.read_text() and "--debug" in err
    assert main(["search", "--index", "x", "--text", "y", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
