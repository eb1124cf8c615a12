"""Writers serialise and readers never fail: concurrent `index` runs lose nothing, searches during writes succeed."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import needs
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import IndexFolderError
from mmedrag.indexing import build_index
from mmedrag.stores import integrity, versions
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Record

PAIRS = 20
PER_WRITER = 3


def records_of(writer: str) -> list[Record]:
    return [Record(id=f"{writer}-{i}", text=f"report {i} from writer {writer}") for i in range(PER_WRITER)]


def write(path: str, writer: str, start: Any) -> None:
    start.wait()  # both writers of a pair start together
    build_index(records_of(writer), path, HashEncoder(16), images="ignore", on_wait=lambda _: None)


def read_until(path: str, stop: Any, reads: Any, failures: Any) -> None:
    encoder = HashEncoder(16)
    query = encoder.encode_texts(["report 1"])
    while not stop.is_set():
        try:
            index = FolderIndex.load(path)
            hits = index.spaces["text"].search(query, k=5)[0]
            found = index.records.get([identifier for identifier, _ in hits])
            assert len(found) == len(hits), f"{len(hits)} hits but {len(found)} records"
            with reads.get_lock():
                reads.value += 1
        except Exception as exc:  # every failure is a test failure: collect them all
            failures.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize(
    ("store", "start_method", "pairs"),
    [
        # The exact store with plain fork: cheap processes, so the full 20 pairs. FAISS (where the probe saw "FAISS
        # files unreadable" on a healthy index) from a fork server, never a fork of this process, whose OpenMP threads
        # a fork would copy in an unusable state; fewer pairs, as every start imports the package again.
        ("exact", "fork", PAIRS),
        pytest.param("faiss:Flat", "forkserver", 3, marks=needs("faiss", "faiss")),
    ],
)
def test_concurrent_writer_pairs_lose_nothing_and_concurrent_readers_never_fail(
    tmp_path: Path, store: str, start_method: str, pairs: int
) -> None:
    context = multiprocessing.get_context(start_method)
    path = str(tmp_path / "idx")
    build_index(records_of("seed"), path, HashEncoder(16), store=store, images="ignore")
    stop, reads, failures = context.Event(), context.Value("i", 0), context.Queue()
    readers = [context.Process(target=read_until, args=(path, stop, reads, failures)) for _ in range(2)]
    for reader in readers:
        reader.start()
    for pair in range(pairs):
        start = context.Barrier(2)
        writers = [context.Process(target=write, args=(path, f"p{pair}w{n}", start)) for n in range(2)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=120)
            assert writer.exitcode == 0
    stop.set()
    for reader in readers:
        reader.join(timeout=60)
        if reader.is_alive():  # never leave a process behind, whatever happened
            reader.terminate()
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert errors == [] and reads.value > 0
    index = FolderIndex.load(path)
    writers_ids = ["seed"] + [f"p{p}w{n}" for p in range(pairs) for n in range(2)]
    expected = sorted(r.id for w in writers_ids for r in records_of(w))
    assert sorted(index.records.ids()) == expected  # every record, exactly once
    assert sorted(index.spaces["text"].ids()) == expected
    assert FolderIndex.verify(path)["ok"]


def hold_lock(path: Path, held: threading.Event, release: threading.Event) -> None:
    with versions.writer_lock(path):
        held.set()
        release.wait(30)


def test_a_second_writer_waits_with_a_message_or_fails_at_once_with_no_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "idx"
    build_index(records_of("a"), path, HashEncoder(16), store="exact", images="ignore")
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_lock, args=(path, held, release))
    holder.start()
    held.wait(30)
    with pytest.raises(IndexFolderError, match="another process is writing this index.*--no-wait"):
        build_index(records_of("b"), path, HashEncoder(16), images="ignore", wait=False)
    code = main(["index", "--index", str(path), "--delete", "a-0", "--no-wait"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "another process is writing" in err
    messages: list[str] = []
    waiting = threading.Event()

    def tell(message: str) -> None:
        messages.append(message)
        waiting.set()

    second = threading.Thread(
        target=build_index, args=(records_of("b"), path, HashEncoder(16)), kwargs={"images": "ignore", "on_wait": tell}
    )
    second.start()
    waiting.wait(30)  # the second writer says it waits, then proceeds once the first lets go
    release.set()
    holder.join(30)
    second.join(30)
    assert messages and "waiting for it to finish" in messages[0]
    assert sorted(FolderIndex.load(path).records.ids()) == sorted(r.id for w in "ab" for r in records_of(w))


def test_a_copy_loaded_outside_the_lock_is_not_saved_over_a_newer_version(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    build_index(records_of("a"), path, HashEncoder(16), store="exact", images="ignore")
    stale = FolderIndex.load(path, writable=True)
    build_index(records_of("b"), path, HashEncoder(16), images="ignore")
    stale.delete(["a-0"])
    with pytest.raises(IndexFolderError, match=r"changed since this copy was loaded \(v-000001 -> v-000002\)"):
        stale.save()
    assert len(FolderIndex.load(path).records.ids()) == 2 * PER_WRITER


def test_superseded_versions_stay_for_the_grace_period_then_go(tmp_path: Path) -> None:
    path = tmp_path / "idx"

    def live_since_long_ago(*names: str) -> None:
        past = time.time() - FolderIndex.grace_seconds - 1
        for name in names:
            os.utime(path / name / "index.json", (past, past))

    def build(writer: str) -> list[str]:
        build_index(records_of(writer), path, HashEncoder(16), store="exact", images="ignore")
        return sorted(p.name for p in path.glob("v-*"))

    assert [build(w) for w in "abc"][-1] == ["v-000001", "v-000002", "v-000003"]  # all within the grace period
    live_since_long_ago("v-000002")  # v-000001 was replaced long ago: no reader can still be opening it
    (path / "v-000000").mkdir()  # a killed writer's folder below the live one: never named by CURRENT
    assert build("d") == ["v-000002", "v-000003", "v-000004"]
    live_since_long_ago("v-000003", "v-000004")
    assert build("e") == ["v-000004", "v-000005"]  # the previous version always stays


def test_a_reader_whose_version_is_removed_while_it_opens_it_opens_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "idx"
    build_index(records_of("a"), path, HashEncoder(16), store="exact", images="ignore")
    real = integrity.read_meta
    raced: list[str] = []

    def racing_writer(version: Path) -> dict[str, Any]:
        if not raced:  # a writer replaces the version between reading CURRENT and opening its files
            raced.append(version.name)
            build_index(records_of("b"), path, HashEncoder(16), images="ignore")
            shutil.rmtree(version)
        return real(version)

    monkeypatch.setattr(integrity, "read_meta", racing_writer)
    index = FolderIndex.load(path)
    assert raced == ["v-000001"] and index.records.count() == 2 * PER_WRITER


def test_a_search_keeps_working_after_its_version_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    build_index(records_of("a"), path, HashEncoder(16), store="exact", images="ignore")
    index = FolderIndex.load(path)
    shutil.rmtree(path / "v-000001")  # as a writer does once the grace period is over
    hits = index.spaces["text"].search(np.asarray(HashEncoder(16).encode_texts(["report 1"])), k=2)[0]
    assert len(index.records.get([i for i, _ in hits])) == 2
