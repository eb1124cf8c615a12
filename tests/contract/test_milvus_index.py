"""The Milvus index contract, on Milvus Lite (embedded) and on a real Milvus 2.3 standalone server.

Upsert/delete/count/get by id, the encoder fingerprint stored with the collection, filters and the leakage guard
evaluated by Milvus with hostile values, replace shrinking a record's views, resume after a crash, rebuild behind
an alias, and copying an index folder without re-encoding.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import make_image
from mmedrag.encoders.base import fingerprint_of
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import EncoderMismatchError
from mmedrag.indexing import build_index, copy_index, delete_records
from mmedrag.io.images import pixel_sha256
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.stores.locate import load_index
from mmedrag.stores.milvus import MilvusIndex
from mmedrag.types import Exclusion, Hit, Query, Record

pytest.importorskip("pymilvus")

NASTY = ['a"b', "c'd", "e\\f", 'x" or record_id != "', "g\nh", "ümlaut", "in [1]", "plain"]


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """A function giving a fresh ``milvus:`` store spec (a new collection name) on the backend."""
    if request.param == "lite":
        return lambda name: f"milvus:{tmp_path / 'lite'}|collection={name}"
    uri = request.getfixturevalue("milvus_uri")
    return lambda name: f"milvus:{uri}|collection={name}_{uuid.uuid4().hex[:8]}"


def nasty_records(tmp_path: Path) -> list[Record]:
    records = []
    for n, value in enumerate(NASTY):
        path = tmp_path / f"img{n}.png"
        make_image(100 + n).save(path)
        records.append(
            Record(
                id=f"id{value}",
                text=f"report {n}: effusion grade {n}",
                image_paths=(str(path),),
                domain="radiology" if n % 2 else f"dom{value}",
                modality="xray",
                patient_id=value,
                study_id=f"s{value}",
                split="train",
                source="unit",
            )
        )
    return records


def test_hostile_values_are_data_not_expression(store: Callable[[str], str], tmp_path: Path) -> None:
    encoder = HashEncoder(dim=16)
    records = nasty_records(tmp_path)
    build_index(records, tmp_path / "idx", encoder, store=store("nasty"))
    index = load_index(tmp_path / "idx")
    assert isinstance(index, MilvusIndex)
    assert set(index.get([r.id for r in records])) == {r.id for r in records}
    retriever = Retriever(index, encoder)
    everyone = {r.id for r in records}
    for record in records:
        hits = retriever.search(Query(text="effusion", patient_id=record.patient_id), k=20)
        assert {h.record.id for h in hits} == everyone - {record.id}  # exactly the one patient is excluded
        hits = retriever.search(Query(text="effusion"), k=20, filters=Filters(domain=record.domain))
        assert {h.record.id for h in hits} == {r.id for r in records if r.domain == record.domain}
    vector = encoder.encode_texts(["effusion"])
    excluded = index.search_records(vector, "text", 20, {}, [Exclusion(study_id=records[3].study_id)])[0]
    assert {rid for rid, _ in excluded} == everyone - {records[3].id}


def test_upsert_replace_delete_count_and_fewer_views(store: Callable[[str], str], tmp_path: Path) -> None:
    encoder = HashEncoder(dim=16)
    two_views = []
    for n in range(2):
        make_image(n).save(tmp_path / f"v{n}.png")
        two_views.append(str(tmp_path / f"v{n}.png"))
    records = [Record(id=f"r{i}", text=f"text {i}", image_paths=tuple(two_views[: 1 + i % 2])) for i in range(6)]
    report = build_index(records, tmp_path / "idx", encoder, store=store("crud"))
    assert (report.added, report.total) == (6, 6)
    index = load_index(tmp_path / "idx")
    assert isinstance(index, MilvusIndex)
    assert len(index._image_pks(["r1"])) == 2
    changed = [Record(id="r1", text="new text", image_paths=tuple(two_views[:1])), Record(id="r9", text="nine")]
    report = build_index(changed, tmp_path / "idx", encoder)
    assert (report.added, report.replaced, report.total) == (1, 1, 7)
    assert index.get(["r1"])["r1"].text == "new text" and len(index._image_pks(["r1"])) == 1
    assert delete_records(tmp_path / "idx", ["r0", "r9", "missing"]) == 2
    assert index.count() == 5 and sorted(index.ids()) == ["r1", "r2", "r3", "r4", "r5"]
    assert index._image_pks(["r0"]) == []
    again = build_index(records[1:], tmp_path / "idx", encoder)
    assert (again.added, again.replaced, again.text_vectors) == (0, 1, 1)  # r1 changed back; r2..r5 not re-encoded


def test_encoder_fingerprint_lives_with_the_collection(store: Callable[[str], str], tmp_path: Path) -> None:
    build_index([Record(id="a", text="hello")], tmp_path / "idx", HashEncoder(dim=16), store=store("fp"))
    index = load_index(tmp_path / "idx")
    assert index.encoder == fingerprint_of(HashEncoder(dim=16))
    with pytest.raises(EncoderMismatchError, match="rebuild the index"):  # checked at the first query
        Retriever(index, HashEncoder(dim=16, seed=1)).search(Query(text="hello"), k=1)
    with pytest.raises(EncoderMismatchError):
        build_index([Record(id="b", text="x")], tmp_path / "idx", HashEncoder(dim=16, seed=1))


def test_crash_mid_build_then_rerun_leaves_each_record_once(
    store: Callable[[str], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = HashEncoder(dim=16)
    records = [Record(id=f"r{i}", text=f"text {i}") for i in range(50)]
    original = encoder.encode_texts

    def dies_on_third_batch(texts: list[str]) -> np.ndarray:
        if "text 20" in texts:
            raise KeyboardInterrupt  # stands in for a kill between batches
        return original(texts)

    monkeypatch.setattr(encoder, "encode_texts", dies_on_third_batch)
    spec = store("crash")
    with pytest.raises(KeyboardInterrupt):
        build_index(records, tmp_path / "idx", encoder, store=spec, batch_size=10)
    monkeypatch.setattr(encoder, "encode_texts", original)
    report = build_index(records, tmp_path / "idx", encoder, batch_size=10)
    assert report.text_vectors == 30 and report.total == 50  # the 20 written before the crash were not re-encoded
    index = load_index(tmp_path / "idx")
    assert isinstance(index, MilvusIndex)
    assert sorted(index.ids()) == sorted(r.id for r in records)
    assert index.meta["state"] == "ready"


def test_rebuild_switches_the_alias_and_drops_the_old_collection(store: Callable[[str], str], tmp_path: Path) -> None:
    encoder = HashEncoder(dim=16)
    build_index([Record(id="old", text="old")], tmp_path / "idx", encoder, store=store("alias"))
    index = load_index(tmp_path / "idx")
    assert isinstance(index, MilvusIndex)
    first = index.client.describe_collection(index.name)["collection_name"]
    build_index([Record(id="new", text="new")], tmp_path / "idx", encoder, rebuild=True)
    second = index.client.describe_collection(index.name)["collection_name"]
    assert second != first and not index.client.has_collection(first)
    assert index.ids() == ["new"]  # the same handle (the alias) now reads the new collection


def ranked(results: list[list[Hit]]) -> list[tuple[list[float], set[str]]]:
    """Scores (4 decimals) and the ids that beat the last score: ids tied at the cut-off may differ by backend."""
    out = []
    for hits in results:
        scores = [round(h.score, 4) for h in hits]
        out.append((scores, {h.record.id for h in hits if scores and round(h.score, 4) > scores[-1]}))
    return out


@pytest.mark.parametrize("folder_store", ["exact", "faiss:Flat", "faiss:HNSW32"])
def test_copy_from_an_index_folder_searches_the_same(
    store: Callable[[str], str], tmp_path: Path, folder_store: str
) -> None:
    if folder_store.startswith("faiss"):
        pytest.importorskip("faiss")
    encoder = HashEncoder(dim=16)
    records = nasty_records(tmp_path)
    build_index(records, tmp_path / "folder", encoder, store=folder_store)
    report = copy_index(tmp_path / "folder", tmp_path / "idx", store(f"copy_{folder_store[:5]}"))
    assert (report.added, report.total, report.text_vectors, report.image_vectors) == (8, 8, 8, 8)
    source, copy = Retriever(load_index(tmp_path / "folder"), encoder), Retriever(load_index(tmp_path / "idx"), encoder)
    image = make_image(103)
    queries = [Query(text="effusion grade 3"), Query(image=image), Query(text="grade", patient_id=NASTY[2])]
    assert ranked(copy.search_batch(queries, k=4)) == ranked(source.search_batch(queries, k=4))
    image_query = [Query(image=image, patient_id="nobody")]
    assert ranked(copy.search_batch(image_query, k=4, mode="image2image")) == ranked(
        source.search_batch(image_query, k=4, mode="image2image")
    )
    assert pixel_sha256(image)  # the copied image hashes drive the guard: the query image itself is excluded
    assert records[3].id not in {h.record.id for h in copy.search(Query(image=image), k=8, mode="image2image")}


def test_cli_index_copy_search_and_delete_on_milvus_lite(
    tiny_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.cli import main

    lite = tmp_path / "lite"
    folder, copy = tmp_path / "folder", tmp_path / "copy"
    assert main(["index", str(tiny_manifest), "--index", str(folder), "--encoder", "hash:32", "--store", "exact"]) == 0
    argv = ["index", "--index", str(copy), "--store", f"milvus:{lite}|collection=kb", "--from-index", str(folder)]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["total"], report["text_vectors"]) == (6, 6, 6)
    assert json.loads((copy / "milvus.json").read_text())["collection"] == "kb"  # the pointer; no token in it
    for where in (str(copy), f"milvus:{lite}|collection=kb"):
        assert main(["search", "--index", where, "--text", "ring-enhancing lesion frontal lobe", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["hits"][0]["id"] == "r4"
    assert main(["index", "--index", str(copy), "--delete", "r4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": 1}
    assert main(["search", "--index", str(copy), "--text", "ring-enhancing lesion", "--json"]) == 0
    assert "r4" not in {h["id"] for h in json.loads(capsys.readouterr().out)["hits"]}
    assert main(["index", "--index", str(copy), "--store", "milvus:http://h:1|token=x", "--from-index", "x"]) == 2
    assert "never put a Milvus token" in capsys.readouterr().err


def test_create_milvus_index_is_a_plain_factory(tmp_path: Path) -> None:
    from mmedrag.stores.milvus_build import create_milvus_index

    encoder = HashEncoder(dim=16)
    index = create_milvus_index(f"milvus:{tmp_path / 'lite'}", fingerprint_of(encoder), "plain")
    assert index.count() == 0 and index.encoder == fingerprint_of(encoder)
    record = Record(id="a", text="hello", domain="radiology")
    index.upsert([record], {"a": encoder.encode_texts(["hello"])[0]}, {}, {})
    assert index.search_records(encoder.encode_texts(["hello"]), "text", 3, {"domain": "radiology"})[0][0][0] == "a"
    assert index.search_records(encoder.encode_texts(["hello"]), "text", 3, {"domain": "pathology"}) == [[]]


def test_in_scope_fit_lives_in_the_meta_row(store: Callable[[str], str], tmp_path: Path) -> None:
    from mmedrag.indexing import refit_scope
    from mmedrag.retrieval.scope_fit import EMBEDDING, scope_of

    encoder = HashEncoder(dim=16)
    records = []
    for n in range(45):  # alpha 0.05 over two tests needs 39 images before anything can be flagged
        path = tmp_path / f"s{n}.png"
        make_image(300 + n).save(path)
        records.append(Record(id=f"s{n}", text=f"report {n}", image_paths=(str(path),), patient_id=f"p{n // 2}"))
    report = build_index(records, tmp_path / "idx", encoder, store=store("scope"))
    assert report.scope["fitted"] and report.scope["scored"] == 45
    model = scope_of(load_index(tmp_path / "idx"))  # a new connection reads it back from the meta row
    assert model is not None and len(model.tests[EMBEDDING].scores) == 45
    own = Query(image=make_image(300))
    verdict = Retriever(load_index(tmp_path / "idx"), encoder).search_checked([own], k=2)[1][0]
    assert verdict.status == "in_scope"  # a knowledge-base image is its own nearest neighbour
    assert refit_scope(tmp_path / "idx", alpha=0.2)["alpha"] == 0.2
    refitted = scope_of(load_index(tmp_path / "idx"))
    assert refitted is not None and refitted.alpha == 0.2
