from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import make_image
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError
from mmedrag.indexing import build_index
from mmedrag.io.images import load_image
from mmedrag.io.manifest import read_manifest
from mmedrag.retrieval.retriever import Filters, Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.stores.locate import load_index
from mmedrag.types import Query

_SERVER_BUILT: dict[str, Any] = {}


@pytest.fixture(
    params=["exact", "faiss:Flat", "milvus-lite", pytest.param("milvus-server", marks=pytest.mark.integration)]
)
def retriever(request: pytest.FixtureRequest, tiny_manifest: Path, hash_encoder: HashEncoder) -> Retriever:
    """The same retrieval contract on every backend: folder indexes and Milvus (embedded Lite and a real server)."""
    store = request.param
    if store.startswith("faiss"):
        pytest.importorskip("faiss")
    if store == "milvus-lite":
        pytest.importorskip("pymilvus")
        store = f"milvus:{tiny_manifest.parent / 'lite'}"
    elif store == "milvus-server":  # one build per session: every test here only reads the index
        uri = request.getfixturevalue("milvus_uri")
        if uri not in _SERVER_BUILT:
            build_index(read_manifest(tiny_manifest), tiny_manifest.parent / "idx", hash_encoder, store=f"milvus:{uri}")
            _SERVER_BUILT[uri] = load_index(tiny_manifest.parent / "idx")
        return Retriever(_SERVER_BUILT[uri], hash_encoder)
    folder = tiny_manifest.parent / "idx"
    build_index(read_manifest(tiny_manifest), folder, hash_encoder, store=store)
    return Retriever(load_index(folder), hash_encoder)


def image_of(manifest: Path, rid: str):
    return load_image(manifest.parent / "images" / f"{rid}.png")


def test_text_search_ranks_the_matching_report_first(retriever: Retriever) -> None:
    hits = retriever.search(Query(text="ring-enhancing lesion right frontal lobe"), k=3)
    assert hits[0].record.id == "r4" and [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score


def test_image_to_image_finds_a_copy_only_when_the_guard_is_off(retriever: Retriever, tiny_manifest: Path) -> None:
    query = Query(image=image_of(tiny_manifest, "r3"))
    assert "r3" not in [h.record.id for h in retriever.search(query, k=6, mode="image2image")]
    retriever.leakage_guard = False
    assert retriever.search(query, k=1, mode="image2image")[0].record.id == "r3"


def test_leakage_guard_excludes_same_patient_and_same_study(retriever: Retriever) -> None:
    ids = {h.record.id for h in retriever.search(Query(text="pleural effusion", patient_id="p2"), k=10)}
    assert ids == {"r1", "r3", "r4", "r5"}  # r2 and r6 belong to patient p2
    ids = {h.record.id for h in retriever.search(Query(text="pleural effusion", study_id="s1"), k=10)}
    assert "r1" not in ids and len(ids) == 5


def test_guard_still_returns_k_hits_when_it_excludes_the_best(retriever: Retriever) -> None:
    hits = retriever.search(Query(text="effusion", patient_id="p2"), k=4)
    assert len(hits) == 4


def test_near_duplicate_guard_catches_a_resized_copy(retriever: Retriever, tiny_manifest: Path) -> None:
    resized = image_of(tiny_manifest, "r5").resize((96, 80))
    retriever.near_duplicate_guard = False
    assert "r5" in [h.record.id for h in retriever.search(Query(image=resized), k=6, mode="image2image")]
    retriever.near_duplicate_guard = True
    assert "r5" not in [h.record.id for h in retriever.search(Query(image=resized), k=6, mode="image2image")]


def test_filters_restrict_domain_modality_and_split(retriever: Retriever) -> None:
    def ids(**filters: str) -> set[str]:
        return {h.record.id for h in retriever.search(Query(text="effusion"), k=10, filters=Filters(**filters))}

    assert ids(domain="ophthalmology") == {"r5"}
    assert ids(modality="mri") == {"r4"}
    assert ids(split="train") == {"r1", "r2", "r3", "r4"}
    assert ids(domain="radiology", split="test") == {"r6"}
    assert ids(domain="pathology") == set()


def test_image_query_defaults_to_image_to_report(retriever: Retriever, tiny_manifest: Path) -> None:
    hits = retriever.search(Query(image_path=str(tiny_manifest.parent / "images" / "r1.png")), k=2)
    assert len(hits) == 2 and all(h.record.text for h in hits)


def test_batch_search_equals_single_searches(retriever: Retriever, tiny_manifest: Path) -> None:
    queries = [Query(text="cardiomegaly"), Query(image=make_image(40)), Query(text="glaucoma", patient_id="p5")]
    batch = retriever.search_batch(queries, k=3)
    single = [retriever.search(q, k=3) for q in queries]
    assert [[h.record.id for h in hits] for hits in batch] == [[h.record.id for h in hits] for hits in single]


def test_impossible_queries_fail_clearly(retriever: Retriever) -> None:
    with pytest.raises(ConfigError, match="neither an image"):
        retriever.search(Query(text="  "))
    with pytest.raises(ConfigError, match="needs a query image"):
        retriever.search(Query(text="x"), mode="image")
    with pytest.raises(ConfigError, match="unknown retrieval mode"):
        retriever.search(Query(text="x"), mode="sideways")  # type: ignore[arg-type]
    assert retriever.search(Query(text="x"), k=0) == []


class _CountingEncoder(HashEncoder):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(dim=16, seed=seed)
        self.text_calls = self.image_calls = 0

    def encode_texts(self, texts):  # type: ignore[no-untyped-def]
        self.text_calls += 1
        return super().encode_texts(texts)

    def encode_images(self, images):  # type: ignore[no-untyped-def]
        self.image_calls += 1
        return super().encode_images(images)


def test_the_encoder_check_embeds_only_the_modality_a_query_uses(tiny_manifest: Path) -> None:
    folder = tiny_manifest.parent / "idx"
    build_index(read_manifest(tiny_manifest), folder, HashEncoder(dim=16), store="exact")
    encoder = _CountingEncoder()
    retriever = Retriever(FolderIndex.load(folder), encoder)
    assert (encoder.text_calls, encoder.image_calls) == (0, 0)  # nothing embedded before the first query
    retriever.search(Query(image=image_of(tiny_manifest, "r3")), k=2)
    retriever.search(Query(image=image_of(tiny_manifest, "r2")), k=2)
    assert encoder.text_calls == 0 and encoder.image_calls == 3  # one probe, two queries
    retriever.search(Query(text="lesion"), k=2)
    assert encoder.text_calls == 2


def test_an_encoder_of_other_weights_is_refused_at_its_first_query(tiny_manifest: Path) -> None:
    from mmedrag.errors import EncoderMismatchError

    folder = tiny_manifest.parent / "idx"
    build_index(read_manifest(tiny_manifest), folder, HashEncoder(dim=16), store="exact")
    retriever = Retriever(FolderIndex.load(folder), _CountingEncoder(seed=7))
    with pytest.raises(EncoderMismatchError, match="image embeddings differ"):
        retriever.search(Query(image=image_of(tiny_manifest, "r3")), k=2)
    with pytest.raises(EncoderMismatchError, match="dimension"):
        Retriever(FolderIndex.load(folder), HashEncoder(dim=32))


def test_one_unexcluded_image_search_per_batch_serves_the_scope_check_and_the_guard(
    retriever: Retriever, tiny_manifest: Path
) -> None:
    """On a database each search is a round trip: the in-scope check's nearest image and the near-copy guard's
    candidates come from one image-space search for the whole batch, and the guard still removes the copy."""
    calls: list[tuple[str, int, bool]] = []
    index = retriever.index
    search = index.search_records

    def counted(vectors, space, k, filters=None, exclusions=None):
        calls.append((space, len(vectors), any(e is not None for e in exclusions or ())))
        return search(vectors, space, k, filters, exclusions)

    index.search_records = counted  # type: ignore[method-assign]
    try:
        queries = [Query(image=image_of(tiny_manifest, "r5").resize((96, 80))), Query(image=make_image(3))]
        found, verdicts = retriever.search_checked(queries, k=6, mode="image2image")
    finally:
        del index.search_records  # type: ignore[attr-defined]
    assert "r5" not in [h.record.id for h in found[0]]
    unexcluded = [call for call in calls if not call[2]]
    assert unexcluded == [("image", 2, False)], calls  # one shared search, both queries in it
    assert all(v.status != "off" for v in verdicts)
