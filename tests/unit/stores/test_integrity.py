"""Damage to an index folder is detected and named, never served: flipped bytes, scrambled ids, missing rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import needs
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError, IndexFolderError
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.stores import integrity
from mmedrag.stores.exact import ExactStore
from mmedrag.stores.index import FolderIndex
from mmedrag.stores.records import RecordStore
from mmedrag.types import Record


@pytest.fixture
def built(tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path) -> Path:
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store="exact")
    return tmp_path / "idx"


def live(index_dir: Path) -> Path:
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def large_index_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Load as if the index were too large for full checksums on every load."""
    monkeypatch.setattr(integrity, "LOAD_CHECKSUM_BYTES", 0)


def flip_exponent(path: Path, vector: np.ndarray) -> int:
    """Flip a high exponent bit of the largest component of ``vector`` where it is stored in ``path``."""
    data = bytearray(path.read_bytes())
    offset = bytes(data).find(np.ascontiguousarray(vector, dtype="<f4").tobytes())
    assert offset >= 0, "vector not found in the file"
    column = int(np.argmax(np.abs(vector)))
    data[offset + 4 * column + 3] ^= 0x40  # little-endian float32: byte 3 holds the sign and high exponent bits
    path.write_bytes(bytes(data))
    return column


def test_save_records_a_checksum_and_size_for_every_file_and_the_counts(built: Path) -> None:
    version = live(built)
    meta = json.loads((version / "index.json").read_text())
    on_disk = {p.relative_to(version).as_posix() for p in version.rglob("*") if p.is_file()} - {"index.json"}
    assert set(meta["files"]) == on_disk and on_disk >= {"records.sqlite", "text/vectors.npy", "text/ids.json"}
    for name, entry in meta["files"].items():
        assert entry["sha256"] == integrity.file_digest(version / name)
        assert entry["bytes"] == (version / name).stat().st_size
    assert meta["counts"] == {"records": 6, "fingerprints": 6, "text": 6, "image": 6}
    assert meta["spaces"] == {"text": {"unit_norm": True}, "image": {"unit_norm": True}}
    assert meta["meta_sha256"] == integrity.meta_digest(meta)


@pytest.mark.parametrize("large", [False, True])
def test_flipped_bytes_in_a_vector_file_are_refused_on_load(
    built: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    if large:
        large_index_checks(monkeypatch)
    vectors = FolderIndex.load(built).spaces["text"].vectors()  # type: ignore[attr-defined]
    flip_exponent(live(built) / "text" / "vectors.npy", vectors[3])
    expected = "checksum mismatch" if not large else "not unit length"
    with pytest.raises(IndexFolderError, match=f"text.* {expected}") as caught:
        FolderIndex.load(built)
    assert "\n" not in str(caught.value)


@needs("faiss", "faiss")
def test_damaged_faiss_vectors_outside_the_load_sample_are_refused_at_query_time(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store="faiss:Flat")
    large_index_checks(monkeypatch)
    monkeypatch.setattr(integrity, "SAMPLE_ROWS", 1)  # the load-time sample sees only the first vector
    store = FolderIndex.load(tmp_path / "idx").spaces["text"]
    last = store.sample_vectors(None)[-1]  # type: ignore[attr-defined]
    column = flip_exponent(live(tmp_path / "idx") / "text" / "index.faiss", last)
    index = FolderIndex.load(tmp_path / "idx")
    query = np.zeros((1, hash_encoder.dim), dtype=np.float32)
    query[0, column] = np.sign(last[column])
    with pytest.raises(IndexFolderError, match=r"impossible score .* index --verify"):
        index.spaces["text"].search(query, k=3)


def test_the_score_guard_refuses_impossible_cosines_from_the_exact_store() -> None:
    store = ExactStore(dim=2)
    store.add(["a", "b"], np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    store._buffer[1] = [0.0, 1650.0]  # what a flipped exponent bit does to a unit vector
    assert store.search(np.array([[0.0, 1.0]], dtype=np.float32), k=1)[0][0] == ("b", 1650.0)  # unarmed
    store.max_score = 1.001
    with pytest.raises(IndexFolderError, match="impossible score 1650"):
        store.search(np.array([[0.0, 1.0]], dtype=np.float32), k=1)
    store._buffer[1] = [0.0, 1.0]
    assert store.search(np.array([[0.0, 3.0]], dtype=np.float32), k=1)[0][0] == ("b", 3.0)  # a longer query is fine


@pytest.mark.parametrize("large", [False, True])
def test_a_scrambled_id_file_is_refused_even_for_large_indexes(
    built: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    if large:
        large_index_checks(monkeypatch)
    ids_file = live(built) / "text" / "ids.json"
    ids = json.loads(ids_file.read_text())
    ids_file.write_text(json.dumps(ids[1:] + ids[:1]))  # same ids, same length, wrong rows
    with pytest.raises(IndexFolderError, match=r"text/ids\.json: checksum mismatch"):
        FolderIndex.load(built)


@pytest.mark.parametrize("large", [False, True])
def test_missing_record_rows_are_refused(built: Path, monkeypatch: pytest.MonkeyPatch, large: bool) -> None:
    if large:
        large_index_checks(monkeypatch)
    with sqlite3.connect(live(built) / "records.sqlite") as db:
        db.execute("DELETE FROM records WHERE id = 'r2'")
    db.close()
    expected = "checksum mismatch" if not large else "holds 5 records, index.json says 6"
    with pytest.raises(IndexFolderError, match=f"records.sqlite: .*{expected}"):
        FolderIndex.load(built)


def damage_mid_file(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(range(64))
    path.write_bytes(bytes(data))


def test_mid_file_sqlite_damage_is_found_by_the_writer_and_by_verify(
    built: Path, monkeypatch: pytest.MonkeyPatch, hash_encoder: HashEncoder
) -> None:
    large_index_checks(monkeypatch)  # readers of large indexes skip full checksums; writers never do
    damage_mid_file(live(built) / "records.sqlite")
    with pytest.raises(IndexFolderError, match="records.sqlite: checksum mismatch"):
        build_index([Record(id="new", text="more")], built, hash_encoder, images="ignore")
    with pytest.raises(IndexFolderError, match="records.sqlite: checksum mismatch"):
        FolderIndex.load(built, full_check=True)
    report = FolderIndex.verify(built)
    assert not report["ok"] and any("records.sqlite: checksum mismatch" in p for p in report["problems"])
    assert len(list(built.glob("v-*"))) == 1  # nothing was built on the damaged version


def test_a_damaged_database_page_is_one_error_naming_the_file_not_an_sqlite_traceback(built: Path) -> None:
    path = live(built) / "records.sqlite"
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 3 * page] = b"\xff" * (2 * page)  # the pages after the schema: the records table
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFolderError, match="records.sqlite: record database"):
        store = RecordStore.open(path)
        store.get(store.ids())


@pytest.mark.parametrize(
    "name", ["index.json", "records.sqlite", "text/vectors.npy", "text/ids.json", "image/vectors.npy"]
)
def test_a_truncated_file_is_named(built: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    large_index_checks(monkeypatch)
    path = live(built) / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(IndexFolderError, match=name.replace(".", r"\.")) as caught:
        FolderIndex.load(built)
    assert "\n" not in str(caught.value)


def rewrite_meta(index_dir: Path, change: object) -> None:
    path = live(index_dir) / "index.json"
    meta = json.loads(path.read_text())
    meta = change(meta) if callable(change) else change
    if isinstance(meta, dict) and "meta_sha256" in meta:
        meta["meta_sha256"] = integrity.meta_digest(meta)  # a well-formed digest: the schema check must still catch it
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ([1, 2], "not a JSON object"),
        (lambda m: {k: v for k, v in m.items() if k != "encoder"}, "'encoder' must be an object"),
        (lambda m: {**m, "encoder": {**m["encoder"], "dim": "32"}}, "'encoder.dim' must be a positive integer"),
        (lambda m: {**m, "encoder": {**m["encoder"], "spec": "hash:16"}}, "'encoder.spec' must be an object"),
        (lambda m: {**m, "encoder": {**m["encoder"], "text_probe": ["x"]}}, "'encoder.text_probe' must be a list"),
        (lambda m: {**m, "store": "exact"}, "'store' must be an object"),
        (lambda m: {**m, "counts": {"records": -1}}, "'counts' must map"),
        (lambda m: {**m, "files": {"../../etc/passwd": m["files"]["text/ids.json"]}}, "not a plain path"),
        (lambda m: {**m, "files": {"text/ids.json": {"sha256": "x", "bytes": 1}}}, "64-hex"),
        (lambda m: {**m, "store": {"kind": "bogus"}}, "unknown store 'bogus'"),
    ],
)
def test_malformed_metadata_is_one_line_naming_index_json(built: Path, change: object, words: str) -> None:
    rewrite_meta(built, change)
    with pytest.raises(IndexFolderError, match="index.json") as caught:
        FolderIndex.load(built)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_edited_metadata_fails_its_own_checksum_and_undecodable_metadata_is_named(built: Path) -> None:
    path = live(built) / "index.json"
    path.write_text(path.read_text().replace('"records": 6', '"records": 7'))
    with pytest.raises(IndexFolderError, match="index.json: .*checksum mismatch"):
        FolderIndex.load(built)
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(IndexFolderError, match="index.json: index metadata unreadable"):
        FolderIndex.load(built)


@pytest.mark.parametrize(
    ("content", "words"),
    [("{", "unreadable"), ('{"a": 1}', "not a list of id strings"), ("[1, 2]", "not a list"), ('["a", "a"]', "dup")],
)
def test_malformed_exact_id_files_are_named(tmp_path: Path, content: str, words: str) -> None:
    store = ExactStore(dim=2)
    store.add(["a", "b"], np.eye(2, dtype=np.float32))
    store.save(tmp_path)
    (tmp_path / "ids.json").write_text(content)
    with pytest.raises(IndexFolderError, match=f"ids.json: .*{words}"):
        ExactStore.load(tmp_path, dim=2)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ('{"ids": 3}', "unreadable"),
        ('{"ids": [["a", 0], ["b", "x"]], "tombstones": [], "next": 2}', "malformed"),
        ('{"ids": [["a", 0], ["b", 0]], "tombstones": [], "next": 2}', "appears twice"),
        ('{"ids": [["a", 0], ["b", 1]], "tombstones": [], "next": 1}', "past 'next'"),
    ],
)
@needs("faiss", "faiss")
def test_malformed_faiss_id_files_are_named(tmp_path: Path, state: str, words: str) -> None:
    from mmedrag.stores.faiss_store import FaissStore

    store = FaissStore(dim=2)
    store.add(["a", "b"], np.eye(2, dtype=np.float32))
    store.save(tmp_path)
    (tmp_path / "ids.json").write_text(state)
    with pytest.raises(IndexFolderError, match=f"ids.json: .*{words}"):
        FaissStore.load(tmp_path, dim=2)


def test_a_malformed_record_row_is_one_error_naming_the_record() -> None:
    store = RecordStore.in_memory()
    store.upsert([Record(id="a", text="x")], {})
    store._db.execute('UPDATE records SET data = \'{"id": "a", "text": 3, "bogus": 1}\'')
    with pytest.raises(IndexFolderError, match="record 'a' is malformed"):
        store.get(["a"])
    store._db.execute("UPDATE records SET data = '{not json'")
    with pytest.raises(IndexFolderError, match="record 'a' is malformed"):
        list(store.iter_records())
    assert store.problems() and "record 'a'" in store.problems()[0]
    store._db.execute('UPDATE records SET data = \'{"id": "a", "metadata": [1]}\'')
    with pytest.raises(IndexFolderError, match="record 'a' is malformed .*'metadata' must be an object"):
        store.get(["a"])


def test_duplicate_ids_in_one_add_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match="duplicate ids in one add\\(\\) call: a, b"):
        ExactStore(dim=2).add(["a", "b", "a", "b", "c"], np.ones((5, 2), dtype=np.float32) / np.sqrt(2))


def test_verify_cli_reports_an_intact_index_and_names_damage_with_exit_1(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", "--verify", str(built)]) == 0
    assert "intact" in capsys.readouterr().err
    assert main(["index", "--index", str(built), "--verify", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    damage_mid_file(live(built) / "image" / "vectors.npy")
    assert main(["index", "--verify", str(built)]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err and "image/vectors.npy: checksum mismatch" in err
    assert main(["index", "--verify", str(built / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("pointer", ["garbage/../x", "", "v-000009"])
def test_a_damaged_current_pointer_is_damage_exit_1_not_a_usage_error(
    built: Path, capsys: pytest.CaptureFixture[str], pointer: str
) -> None:
    (built / "CURRENT").write_text(pointer + "\n")
    assert main(["index", "--verify", str(built)]) == 1
    err = capsys.readouterr().err
    assert "its CURRENT pointer is damaged" in err and "CURRENT" in err.splitlines()[1]
    assert main(["index", "--verify", str(built), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["version"] is None and "CURRENT" in report["problems"][0]


def test_an_index_saved_without_checksums_still_loads_and_verify_says_so(built: Path) -> None:
    rewrite_meta(built, lambda m: {k: v for k, v in m.items() if k not in ("files", "meta_sha256", "spaces")})
    assert FolderIndex.load(built).records.count() == 6
    report = FolderIndex.verify(built)
    assert report["ok"] and "no checksums recorded" in report["warnings"][0]


@pytest.mark.parametrize("store", ["exact", pytest.param("faiss:Flat", marks=needs("faiss", "faiss"))])
def test_random_damage_anywhere_is_an_index_error_or_harmless_never_a_traceback(
    tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """Large-index mode (no full checksums on load): flip or cut random bytes of every file, then load and search."""
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store=store)
    large_index_checks(monkeypatch)
    version = live(tmp_path / "idx")
    pristine = {p: p.read_bytes() for p in version.rglob("*") if p.is_file()}
    query = hash_encoder.encode_texts(["pleural effusion"])
    rng = np.random.default_rng(0)
    outcomes = {"refused": 0, "served": 0}
    for trial in range(120):
        for path, content in pristine.items():
            path.write_bytes(content)
        path = list(pristine)[trial % len(pristine)]
        data = bytearray(pristine[path])
        if trial % 5 == 4:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for at in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
                data[at] ^= int(rng.integers(1, 256))
        path.write_bytes(bytes(data))
        try:
            index = FolderIndex.load(tmp_path / "idx")
            for space in ("text", "image"):
                hits = index.spaces[space].search(query, k=6)[0]
                assert all(-1.001 <= score <= 1.001 for _, score in hits)
            index.records.get(index.records.ids())
            outcomes["served"] += 1
        except IndexFolderError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_large_indexes_are_checksummed_in_full_after_load_and_refuse_to_search_once_damage_is_found(
    built: Path, monkeypatch: pytest.MonkeyPatch, hash_encoder: HashEncoder
) -> None:
    large_index_checks(monkeypatch)
    clean = FolderIndex.load(built)
    assert clean.checksums is not None and clean.checksums.wait(30) and clean.checksums.problem is None
    path = live(built) / "text" / "vectors.npy"
    data = bytearray(path.read_bytes())
    data[-4] ^= 0x01  # the lowest mantissa bit of the last float32: no load-time check can see it
    path.write_bytes(bytes(data))
    index = FolderIndex.load(built)  # loads: the sampled checks pass
    assert index.checksums is not None and index.checksums.wait(30)
    query = hash_encoder.encode_texts(["effusion"])
    with pytest.raises(IndexFolderError, match=r"text/vectors\.npy: checksum mismatch.*rebuild") as caught:
        index.search_records(query, "text", k=2)
    assert "\n" not in str(caught.value)
    with pytest.raises(IndexFolderError, match="checksum mismatch"):
        index.get(["r1"])
