from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mmedrag.encoders.base import fingerprint_of
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import EncoderMismatchError, IndexFolderError
from mmedrag.stores.index import FolderIndex
from mmedrag.stores.records import RecordStore
from mmedrag.types import Record


def small_index(path: Path, n: int, encoder: HashEncoder, store: str = "exact") -> FolderIndex:
    index = FolderIndex.create(path, fingerprint_of(encoder), store)
    records = [Record(id=f"r{i}", text=f"finding number {i}") for i in range(n)]
    index.spaces["text"].add([r.id for r in records], encoder.encode_texts([r.text for r in records]))
    index.records.upsert(records, {})
    return index


def test_save_then_load_round_trips_records_vectors_and_fingerprint(tmp_path: Path) -> None:
    encoder = HashEncoder(16)
    small_index(tmp_path / "idx", 5, encoder).save()
    loaded = FolderIndex.load(tmp_path / "idx")
    assert loaded.records.count() == 5 and loaded.spaces["text"].count() == 5
    assert loaded.records.get(["r3"])["r3"].text == "finding number 3"
    loaded.check_encoder(fingerprint_of(HashEncoder(16)))
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == [".lock", "CURRENT", "v-000001"]


def test_another_encoder_is_refused_with_both_names(tmp_path: Path) -> None:
    small_index(tmp_path / "idx", 3, HashEncoder(16)).save()
    loaded = FolderIndex.load(tmp_path / "idx")
    with pytest.raises(EncoderMismatchError, match=r"built with encoder hash-16 .* query encoder is hash-16"):
        loaded.check_encoder(fingerprint_of(HashEncoder(16, seed=1)))
    with pytest.raises(EncoderMismatchError, match="dimension 32 != 16"):
        loaded.check_encoder(fingerprint_of(HashEncoder(32)))


def test_a_failed_save_leaves_the_previous_version_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encoder = HashEncoder(16)
    small_index(tmp_path / "idx", 3, encoder).save()
    index = FolderIndex.load(tmp_path / "idx", writable=True)
    index.records.upsert([Record(id="new", text="x")], {})

    def broken(folder: Path) -> None:
        (folder).mkdir(parents=True)
        (folder / "vectors.npy").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(index.spaces["image"], "save", broken)
    with pytest.raises(OSError, match="disk full"):
        index.save()
    assert FolderIndex.load(tmp_path / "idx").records.count() == 3
    assert sorted(p.name for p in (tmp_path / "idx").glob("v-*")) == ["v-000001"]


WRITER = textwrap.dedent(
    """
    import sys
    from mmedrag.encoders.base import fingerprint_of
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.stores.index import FolderIndex
    from mmedrag.types import Record
    encoder = HashEncoder(16)
    path = sys.argv[1]
    generation = 0
    while True:
        generation += 1
        index = FolderIndex.create(path, fingerprint_of(encoder), "exact")
        records = [Record(id=f"g{generation}-{i}", text=f"text {i}") for i in range(200 + generation % 50)]
        index.spaces["text"].add([r.id for r in records], encoder.encode_texts([r.text for r in records]))
        index.records.upsert(records, {})
        index.save()
        print(generation, flush=True)
    """
)


def test_killing_a_writer_at_any_moment_leaves_a_loadable_consistent_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL a process that keeps rewriting the index; after each kill the live version must be whole."""
    path = tmp_path / "idx"
    rng = np.random.default_rng(0)
    for _ in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None
        writer.stdout.readline()  # at least one complete save exists
        time.sleep(float(rng.uniform(0.0, 0.4)))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        index = FolderIndex.load(path)
        ids = set(index.records.ids())
        assert ids and ids == set(index.spaces["text"].ids())
        assert len({record_id.split("-")[0] for record_id in ids}) == 1  # one generation, never a mix
    # The next writer clears the unfinished folders that a kill can leave behind; with no grace period left, only
    # the new version and the one before it (which a reader may still be opening) remain.
    monkeypatch.setattr(FolderIndex, "grace_seconds", 0.0)
    previous = (path / "CURRENT").read_text().strip()
    index = FolderIndex.load(path, writable=True)
    live = index.save().name
    assert sorted(p.name for p in path.glob("v-*")) == sorted([previous, live])


def test_loading_a_folder_that_is_not_an_index_names_it(tmp_path: Path) -> None:
    with pytest.raises(IndexFolderError, match="no index found; build it with `mmedrag index`"):
        FolderIndex.load(tmp_path / "absent")
    (tmp_path / "plain").mkdir()
    with pytest.raises(IndexFolderError, match="not an mmedrag index folder"):
        FolderIndex.load(tmp_path / "plain")
    (tmp_path / "plain" / "CURRENT").write_text("v-000009\n")
    with pytest.raises(IndexFolderError, match="points to missing v-000009"):
        FolderIndex.load(tmp_path / "plain")


def test_record_store_filters_guard_lookups_and_hash_round_trip() -> None:
    store = RecordStore.in_memory()
    records = [
        Record(id="a", text="x", domain="radiology", modality="xray", patient_id="p1", study_id="s1", split="train"),
        Record(id="b", text="y", domain="radiology", modality="ct", patient_id="p1", study_id="s2", split="test"),
        Record(id="c", text="z", domain="pathology", modality="histopathology", patient_id="p2", split="train"),
    ]
    big_hash = (1 << 64) - 5  # above the signed 64-bit range SQLite stores
    store.upsert(records, {"a": [("sha-a", big_hash)], "c": [("sha-c", 7)]})
    assert store.ids_where(domain="radiology", split="train") == {"a"}
    assert store.ids_where(modality=("ct", "histopathology")) == {"b", "c"}
    assert store.related_ids("p1", None) == {"a", "b"}
    assert store.related_ids(None, "s2", ["sha-c"]) == {"b", "c"}
    assert dict(store.dhashes()) == {"a": big_hash, "c": 7}
    assert store.counts_by("domain") == {"radiology": 2, "pathology": 1}
    assert store.delete(["a", "zzz"]) == 1 and store.related_ids(None, None, ["sha-a"]) == set()
    with pytest.raises(ValueError, match="cannot filter on 'text'"):
        store.ids_where(text="x")
