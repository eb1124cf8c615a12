"""Every index backend end to end, each step a separate ``mmedrag`` process (issue 21).

index -> search -> ask -> incremental index -> serve + HTTP /v1/ask -> index --verify, on an index folder (exact and
FAISS), Milvus Lite and a real Milvus standalone server: the same top-k ids and the same answers as an exact index
searched in this process. A Milvus index opened by a later process must load its collection itself; a Milvus Lite
folder used by another process is a one-line error for readers, and a wait for writers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import needs, write_corpus
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.indexing import build_index
from mmedrag.io.readers import read_source
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.locate import load_index
from mmedrag.types import Query
from serve_helpers import Server

SRC = str(Path(__file__).resolve().parents[2] / "src")
Ranked = list[tuple[float, str]]
QUESTIONS = ["pleural effusion", "ring-enhancing lesion", "glaucoma optic disc"]


def mmedrag(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``mmedrag ARGS`` in a fresh Python process."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, (SRC, os.environ.get("PYTHONPATH")))),
    }
    code = "import sys; from mmedrag.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if check and done.returncode != 0:
        raise AssertionError(f"mmedrag {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def split_corpus(root: Path) -> tuple[Path, Path]:
    """The unit corpus, whole, and its first four records (the first build; the rest come incrementally)."""
    whole = write_corpus(root)
    first = root / "first.jsonl"
    first.write_text("".join(whole.read_text(encoding="utf-8").splitlines(keepends=True)[:4]), encoding="utf-8")
    return first, whole


@pytest.fixture(
    params=[
        "exact",
        pytest.param(
            "faiss",
            marks=pytest.mark.skipif(
                not __import__("importlib").util.find_spec("faiss"), reason="needs faiss: pip install 'mmedrag[faiss]'"
            ),
        ),
        pytest.param(
            "lite",
            marks=pytest.mark.skipif(
                not __import__("importlib").util.find_spec("pymilvus"),
                reason="needs pymilvus: pip install 'mmedrag[milvus]'",
            ),
        ),
        pytest.param("server", marks=pytest.mark.integration),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ``--store`` spec of a new index on the backend."""
    if request.param == "exact":
        return "exact"
    if request.param == "faiss":
        return "faiss:Flat"
    if request.param == "lite":
        return f"milvus:{tmp_path / 'lite'}"
    uri = request.getfixturevalue("milvus_uri")
    return f"milvus:{uri}|collection=e2e_{uuid.uuid4().hex[:8]}"


def ranked(hits: list[tuple[str, float]]) -> Ranked:
    """Hits by score, ties (equal to 4 decimals: float32 sums differ per backend) in id order; hits scoring 0 share
    no word with the question, and which of those fill the last places is the backend's choice."""
    return sorted((-round(score, 4), rid) for rid, score in hits if abs(score) > 1e-6)


def cited(answer: dict[str, Any]) -> Ranked:
    return ranked([(c["id"], c["score"]) for c in answer["citations"]])


def reference(whole: Path, root: Path) -> tuple[dict[str, Ranked], dict[str, tuple[str, Ranked]]]:
    """Top-3 ids, and extractive answers with their cited ids, per question from an exact index in this process."""
    from mmedrag.config import load_config
    from mmedrag.factory import build_pipeline

    build_index(read_source(whole).records, root / "oracle", HashEncoder(dim=32), store="exact")
    retriever = Retriever(load_index(root / "oracle"), HashEncoder(dim=32))
    ids = {q: ranked([(h.record.id, h.score) for h in retriever.search(Query(text=q), k=3)]) for q in QUESTIONS}
    pipeline = build_pipeline(load_config(values={"index": str(root / "oracle")}))
    answers = {}
    for question in QUESTIONS:
        answer = pipeline.answer(Query(text=question))
        answers[question] = (answer.text, ranked([(h.record.id, h.score) for h in answer.context.hits]))
    return ids, answers


@needs("fastapi", "serve")  # one step is `mmedrag serve`
def test_every_step_in_its_own_process_gives_the_exact_results(backend: str, tmp_path: Path) -> None:
    first, whole = split_corpus(tmp_path)
    index = str(tmp_path / "idx")
    mmedrag("index", str(first), "--index", index, "--encoder", "hash:32", "--store", backend, cwd=tmp_path)
    hits = json.loads(
        mmedrag("search", "--index", index, "--text", QUESTIONS[1], "-k", "3", "--json", cwd=tmp_path).stdout
    )
    assert hits["hits"][0]["id"] == "r4"  # a later process finds what the first one wrote
    added = json.loads(mmedrag("index", str(whole), "--index", index, "--json", cwd=tmp_path).stdout)
    assert (added["added"], added["total"]) == (2, 6)  # incremental: the index's own encoder, 4 records unchanged
    ids, answers = reference(whole, tmp_path)
    for question in QUESTIONS:
        found = json.loads(
            mmedrag("search", "--index", index, "--text", question, "-k", "3", "--json", cwd=tmp_path).stdout
        )
        assert ranked([(h["id"], h["score"]) for h in found["hits"]]) == ids[question], question
        answer = json.loads(mmedrag("ask", "--index", index, "--question", question, "--json", cwd=tmp_path).stdout)
        assert (answer["answer"], cited(answer)) == answers[question], question
    server = Server(["--index", index], log=tmp_path / "serve.log")
    try:
        server.wait_ready()
        for question in QUESTIONS:
            reply = httpx.post(server.url + "/v1/ask", json={"question": question}, timeout=60).json()
            assert (reply["answer"], cited(reply)) == answers[question]
    finally:
        server.stop()
    verified = mmedrag("index", "--verify", index, "--json", cwd=tmp_path)
    assert json.loads(verified.stdout)["ok"] is True


lite_only = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("pymilvus"), reason="needs pymilvus: pip install 'mmedrag[milvus]'"
)


@lite_only
def test_a_busy_lite_folder_is_one_line_for_readers_and_a_wait_for_writers(tmp_path: Path) -> None:
    first, whole = split_corpus(tmp_path)
    lite = tmp_path / "lite"
    mmedrag("index", str(first), "--index", "idx", "--encoder", "hash:32", "--store", f"milvus:{lite}", cwd=tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pymilvus import MilvusClient; "
            f"MilvusClient(uri={str(lite / 'milvus.db')!r}); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        busy = mmedrag("search", "--index", "idx", "--text", "effusion", cwd=tmp_path, check=False)
        assert busy.returncode != 0
        assert busy.stderr.strip().count("\n") == 0 and "Traceback" not in busy.stderr
        assert "another process is using this Milvus Lite folder" in busy.stderr
        refused = mmedrag("index", str(whole), "--index", "idx", "--no-wait", cwd=tmp_path, check=False)
        assert refused.returncode != 0 and refused.stderr.strip().count("\n") == 0
    finally:
        holder.communicate("", timeout=30)
    assert json.loads(mmedrag("index", str(whole), "--index", "idx", "--json", cwd=tmp_path).stdout)["total"] == 6


@pytest.mark.parametrize(
    "where", [pytest.param("lite", marks=lite_only), pytest.param("server", marks=pytest.mark.integration)]
)
def test_two_concurrent_milvus_writers_lose_nothing(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Both writers go through the pointer folder's writer lock: the second waits for the first (one line on
    stderr), then adds its records to the collection the first published."""
    first, whole = split_corpus(tmp_path)
    second = tmp_path / "second.jsonl"
    second.write_text("".join(whole.read_text(encoding="utf-8").splitlines(keepends=True)[4:]), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (SRC, os.environ.get("PYTHONPATH"))))}
    code = "import sys; from mmedrag.cli import main; sys.exit(main(sys.argv[1:]))"
    if where == "lite":
        store = f"milvus:{tmp_path / 'lite'}"
    else:
        store = f"milvus:{request.getfixturevalue('milvus_uri')}|collection=w_{uuid.uuid4().hex[:8]}"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "index",
                str(part),
                "--index",
                "idx",
                "--encoder",
                "hash:32",
                "--store",
                store,
            ],
            cwd=tmp_path,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in (first, second)
    ]
    errors = [writer.communicate(timeout=300)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    assert "Traceback" not in "".join(errors)
    found = json.loads(
        mmedrag("search", "--index", "idx", "--text", "effusion", "-k", "10", "--json", cwd=tmp_path).stdout
    )
    assert {h["id"] for h in found["hits"]} == {f"r{n}" for n in range(1, 7)}


@needs("fastapi", "serve")
def test_serve_check_accepts_every_index_kind_ask_opens(backend: str, tmp_path: Path) -> None:
    from mmedrag.serve.runner import ServeOptions, check_options

    first, _ = split_corpus(tmp_path)
    build_index(read_source(first).records, tmp_path / "idx", HashEncoder(dim=32), store=backend)
    check_options(ServeOptions(values={"index": str(tmp_path / "idx")}))
    config = tmp_path / "pipeline.yaml"
    config.write_text(f"index: {tmp_path / 'idx'}\n", encoding="utf-8")
    check_options(ServeOptions(config=str(config)))
