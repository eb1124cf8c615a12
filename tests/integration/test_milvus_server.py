"""A real Milvus 2.3 standalone server (PyPI ``milvus``) shared by separate processes, as replicas would share it.

Two processes (a writer and a reader) on one collection; an alias switch under continuous searches; ``kill -9`` of
an indexing process, then a re-run; the pipeline (``ask``, ``evaluate``) citing the same cases as the exact store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import make_image
from mmedrag.cli import main
from mmedrag.config import PipelineConfig
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.evaluation.runner import EvalSettings, evaluate
from mmedrag.factory import build_pipeline
from mmedrag.indexing import build_index
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.locate import load_index
from mmedrag.stores.milvus import MilvusIndex
from mmedrag.stores.milvus_spec import connect, parse_milvus_spec
from mmedrag.types import Query, Question, Record

pytestmark = pytest.mark.integration
pymilvus = pytest.importorskip("pymilvus")
MilvusException = pymilvus.exceptions.MilvusException
CLI = "import sys; from mmedrag.cli import main; sys.exit(main(sys.argv[1:]))"


def manifest(path: Path, n: int, text: str = "report {i}: finding {j}") -> Path:
    lines = [json.dumps({"id": f"r{i}", "text": text.format(i=i, j=i % 7)}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(*argv: str) -> subprocess.Popen[str]:
    """``mmedrag ARGV`` in its own process (the index is built by a separate writer, as in production)."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )


def index_args(source: Path, folder: Path, store: str, *extra: str) -> list[str]:
    return [
        "index",
        str(source),
        "--index",
        str(folder),
        "--encoder",
        "hash:32",
        "--images",
        "ignore",
        "--store",
        store,
    ]


def test_a_reader_process_sees_the_writer_process_upserts(milvus_uri: str, tmp_path: Path) -> None:
    name = f"share_{uuid.uuid4().hex[:8]}"
    store = f"milvus:{milvus_uri}|collection={name}"
    writer = cli(*index_args(manifest(tmp_path / "a.jsonl", 30), tmp_path / "w", store), "--json")
    assert writer.wait(120) == 0, writer.stderr.read() if writer.stderr else ""
    reader = load_index(store)  # this process never saw the writer's folder: the spec is all it needs
    assert isinstance(reader, MilvusIndex) and reader.count() == 30
    changed = manifest(tmp_path / "b.jsonl", 40, text="revised {i}: finding {j}")
    writer = cli(*index_args(changed, tmp_path / "w", store))
    assert writer.wait(120) == 0
    assert reader.count() == 40 and reader.get(["r3"])["r3"].text == "revised 3: finding 3"
    hits = Retriever(reader, HashEncoder(dim=32)).search(Query(text="revised 35: finding 0"), k=1)
    assert hits[0].record.id == "r35"


def test_an_alias_switch_during_searches_fails_no_search(milvus_uri: str, tmp_path: Path) -> None:
    name = f"switch_{uuid.uuid4().hex[:8]}"
    store = f"milvus:{milvus_uri}|collection={name}"
    source = manifest(tmp_path / "a.jsonl", 50)
    assert cli(*index_args(source, tmp_path / "w", store)).wait(120) == 0
    retriever = Retriever(load_index(store), HashEncoder(dim=32))
    outcomes: list[int | str] = []
    done = threading.Event()

    def search_until_done() -> None:
        while not done.is_set():
            try:
                outcomes.append(len(retriever.search(Query(text="report 7: finding 0"), k=5)))
            except Exception as exc:  # any failure is what the test is about
                outcomes.append(repr(exc))

    thread = threading.Thread(target=search_until_done)
    thread.start()
    try:
        for _ in range(2):  # two full rebuilds into new collections, each switched in and the old one dropped
            rebuild = cli(*index_args(source, tmp_path / "w", store), "--rebuild")
            assert rebuild.wait(180) == 0, rebuild.stderr.read() if rebuild.stderr else ""
    finally:
        done.set()
        thread.join()
    assert len(outcomes) > 10 and set(outcomes) == {5}, [o for o in outcomes if o != 5][:3]
    index = load_index(store)
    assert isinstance(index, MilvusIndex)
    assert [c for c in index.client.list_collections() if c.startswith(name)] == [
        index.client.describe_collection(name)["collection_name"]
    ]


def test_kill_9_mid_build_then_rerun_leaves_every_record_exactly_once(milvus_uri: str, tmp_path: Path) -> None:
    name = f"kill_{uuid.uuid4().hex[:8]}"
    store = f"milvus:{milvus_uri}|collection={name}"
    source = manifest(tmp_path / "a.jsonl", 400)
    job = cli(*index_args(source, tmp_path / "w", store), "--batch-size", "10")
    spec, _ = parse_milvus_spec(store)
    client = connect(spec)
    deadline = time.monotonic() + 120
    written = 0
    while time.monotonic() < deadline and job.poll() is None:
        pending = [c for c in client.list_collections() if c.startswith(f"{name}__v")]
        try:
            rows = client.query(pending[0], filter='kind == "record"', output_fields=["count(*)"]) if pending else []
        except MilvusException:  # created but not loaded yet
            rows = []
        written = int(rows[0]["count(*)"]) if rows else 0
        if written >= 40:
            break
        time.sleep(0.05)
    assert job.poll() is None and written >= 40, "the build finished before it could be killed; make it longer"
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert not client.has_collection(name)  # readers never saw the half-built collection
    rerun = cli(*index_args(source, tmp_path / "w", store), "--batch-size", "10", "--json")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    report = json.loads(out)
    assert report["total"] == 400 and report["text_vectors"] <= 400 - 40 + 10  # resumed, not started over
    index = load_index(store)
    assert isinstance(index, MilvusIndex)
    ids = index.ids()
    assert len(ids) == 400 and set(ids) == {f"r{i}" for i in range(400)}


def canonical(citations: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """Citations by score, then id: records with identical text tie exactly, and tied order is not defined."""
    return sorted((-round(c["score"], 4), c["id"]) for c in citations)


@pytest.mark.data
def test_pipeline_cites_the_same_cases_as_the_exact_store(
    milvus_uri: str, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.io.readers import read_source

    records: list[Record] = read_source(shared_data / "medpix2").records[:120]
    encoder = HashEncoder(dim=32)
    stores = {
        "exact": "exact",
        "lite": f"milvus:{tmp_path / 'lite'}",
        "server": f"milvus:{milvus_uri}|collection=kb_{uuid.uuid4().hex[:8]}",
    }
    for label, store in stores.items():
        build_index(records, tmp_path / label, encoder, store=store)
    questions = []
    for i in range(12):
        make_image(500 + i).save(tmp_path / f"q{i}.png")
        finding = ("mass", "hemorrhage", "fracture")[i % 3]
        questions.append(
            Question(
                id=f"q{i}",
                question=f"Is there a {finding}?",
                answer="yes",
                image_path=str(tmp_path / f"q{i}.png"),
                task="closed",
            )
        )
    cited = {}
    for label in stores:
        # The synthetic query images are unlike MedPix: the in-scope check would refuse them, and this test is about
        # what each store retrieves.
        config = PipelineConfig(index=str(tmp_path / label), encoder="hash:32", scope_check=False)
        evaluate(build_pipeline(config), questions, tmp_path / f"out-{label}", EvalSettings(bootstrap=10))
        rows = (tmp_path / f"out-{label}" / "per_question.jsonl").read_text().splitlines()
        # What retrieval found (the citations depend on the grade: withheld answers cite nothing).
        # The top-3 the selector keeps, by MedPix case: two images of one case carry the same text and tie exactly.
        cited[label] = [sorted(i.split("_")[0] for i in json.loads(row)["retrieved"][:3]) for row in rows]
        assert (
            main(
                [
                    "ask",
                    "--index",
                    str(tmp_path / label),
                    "--image",
                    str(tmp_path / "q0.png"),
                    "--question",
                    "Is there a mass?",
                    "-k",
                    "3",
                    "--no-scope-check",
                    "--json",
                ]
            )
            == 0
        )
        cited[label].append(canonical(json.loads(capsys.readouterr().out)["trace"]["retrieved"][:3]))
    assert any(cited["exact"]) and cited["lite"] == cited["exact"] and cited["server"] == cited["exact"]
