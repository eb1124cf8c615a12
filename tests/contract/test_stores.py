"""One contract for every vector store: the exact numpy store is the oracle the others must agree with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import low_rank
from mmedrag.backends import STORES
from mmedrag.errors import ConfigError, MissingExtraError
from mmedrag.stores.base import VectorStore, create_store, load_store
from mmedrag.stores.exact import ExactStore

DIM = 24
# Every registered store runs the contract; a kind listed here runs it once per variant instead of once bare.
# Milvus runs on Milvus Lite in a folder of this session ({lite}) and, in integration runs, on a real server.
VARIANTS: dict[str, list[Any]] = {
    "faiss": ["faiss:Flat", "faiss:HNSW32|efSearch=128", "faiss:IVF8,Flat|nprobe=8"],
    "milvus": ["milvus:{lite}", pytest.param("milvus:{server}|ef=128", marks=pytest.mark.integration)],
}
SPECS = [spec for kind in STORES.names() for spec in VARIANTS.get(kind, [kind])]


def ids(n: int, prefix: str = "r") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


@pytest.fixture(params=SPECS)
def make(request: pytest.FixtureRequest) -> Callable[[], VectorStore]:
    spec = request.param
    try:
        if "{lite}" in spec:  # one Lite folder per session: each Lite database runs its own server process
            spec = spec.format(lite=request.getfixturevalue("tmp_path_factory").getbasetemp() / "milvus-lite")
        elif "{server}" in spec:
            spec = spec.format(server=request.getfixturevalue("milvus_uri"))
        create_store(spec, DIM)
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    return lambda: create_store(spec, DIM)


def test_store_agrees_with_the_exact_oracle_on_top1(make: Callable[[], VectorStore]) -> None:
    data, queries = low_rank(600, 1), low_rank(50, 2)
    store, oracle = make(), ExactStore(DIM)
    store.add(ids(600), data)
    oracle.add(ids(600), data)
    got = [row[0][0] for row in store.search(queries, 1)]
    want = [row[0][0] for row in oracle.search(queries, 1)]
    assert np.mean([g == w for g, w in zip(got, want, strict=True)]) >= 0.9


def test_scores_are_inner_products_best_first(make: Callable[[], VectorStore]) -> None:
    data = low_rank(200, 3)
    store = make()
    store.add(ids(200), data)
    row = store.search(data[:1], 5)[0]
    assert row[0][0] == "r0" and abs(row[0][1] - 1.0) < 1e-4
    scores = [score for _, score in row]
    assert scores == sorted(scores, reverse=True)
    lookup = dict(zip(ids(200), data, strict=True))
    assert all(abs(score - float(lookup[i] @ data[0])) < 1e-4 for i, score in row)


def test_delete_replace_and_count(make: Callable[[], VectorStore]) -> None:
    data = low_rank(300, 4)
    store = make()
    store.add(ids(300), data)
    assert store.delete(["r0", "r1", "missing"]) == 2 and store.count() == 298
    assert all(i not in {"r0", "r1"} for i, _ in store.search(data[:2], 10)[0])
    store.add(["r5"], data[:1])  # replace r5's vector with r0's
    assert store.count() == 298
    assert store.search(data[:1], 1)[0][0][0] == "r5"
    assert set(store.ids()) == set(ids(300)) - {"r0", "r1"}


def test_vectors_of_reads_back_what_was_added(make: Callable[[], VectorStore]) -> None:
    data = low_rank(50, 5)
    store = make()
    store.add(ids(50), data)
    found = store.vectors_of(["r3", "r7", "missing"])
    assert sorted(found) == ["r3", "r7"]
    # Every store in the contract keeps full vectors (Flat, HNSW, IVF-Flat, Milvus): read back to float32 precision.
    assert np.allclose(found["r3"], data[3], atol=1e-5) and np.allclose(found["r7"], data[7], atol=1e-5)


def test_allow_restricts_candidates_even_far_ones(make: Callable[[], VectorStore]) -> None:
    data = low_rank(400, 5)
    store = make()
    store.add(ids(400), data)
    far = {"r7", "r123", "r399"}
    rows = store.search(data[:3], 5, allow=far | {"not-there"})
    assert all({i for i, _ in row} == far for row in rows)
    assert store.search(data[:1], 5, allow=set())[0] == []


def test_save_and_load_preserve_results(make: Callable[[], VectorStore], tmp_path: Path) -> None:
    data = low_rank(300, 6)
    store = make()
    store.add(ids(300), data)
    store.delete(["r3"])
    store.save(tmp_path / "s")
    loaded = load_store(store.spec(), tmp_path / "s", DIM)
    assert loaded.count() == 299
    after, before = loaded.search(data[:5], 3), store.search(data[:5], 3)
    # The same ids in the same order; scores to float32 rounding (a server may recompute a distance once reloaded).
    assert [[i for i, _ in hits] for hits in after] == [[i for i, _ in hits] for hits in before]
    assert [[s for _, s in hits] for hits in after] == [
        pytest.approx([s for _, s in hits], abs=1e-6) for hits in before
    ]


def test_k_larger_than_the_store_returns_everything(make: Callable[[], VectorStore]) -> None:
    data = low_rank(300, 7)
    store = make()
    store.add(ids(300), data)
    assert len(store.search(data[:1], 1000)[0]) == 300


def test_wrong_dimension_and_non_finite_vectors_are_refused(make: Callable[[], VectorStore]) -> None:
    store = make()
    with pytest.raises(ConfigError, match="do not match the store dimension"):
        store.add(["a"], np.ones((1, DIM + 1), dtype=np.float32))
    with pytest.raises(ConfigError, match="NaN"):
        store.add(["a"], np.full((1, DIM), np.nan, dtype=np.float32))
    with pytest.raises(ConfigError, match="2 ids but 1 vectors"):
        store.add(["a", "b"], np.ones((1, DIM), dtype=np.float32))


def test_exact_store_orders_ties_by_insertion() -> None:
    store = ExactStore(2)
    store.add(["b", "a", "c"], np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32))
    assert [i for i, _ in store.search(np.array([[1, 0]], dtype=np.float32), 2)[0]] == ["b", "a"]


def test_invalid_faiss_factory_is_a_config_error() -> None:
    pytest.importorskip("faiss")
    with pytest.raises(ConfigError, match="invalid FAISS index_factory"):
        create_store("faiss:NotAnIndex", DIM)
    with pytest.raises(ConfigError, match="unknown store"):
        create_store("lance", DIM)


def test_many_small_adds_equal_one_big_add_and_search_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    data = low_rank(700, 8)
    one, many = ExactStore(DIM), ExactStore(DIM)
    one.add(ids(700), data)
    for start in range(0, 700, 7):
        many.add(ids(700)[start : start + 7], data[start : start + 7])
    queries = low_rank(600, 9)
    whole = one.search(queries, 4)
    monkeypatch.setattr(ExactStore, "_BLOCK_CELLS", 700 * 50)  # 50 queries per block: 12 blocks
    blocked = many.search(queries, 4)
    # Same ids in the same order; scores equal up to BLAS rounding (block shapes change the summation order).
    assert [[i for i, _ in row] for row in blocked] == [[i for i, _ in row] for row in whole]
    np.testing.assert_allclose(
        [[s for _, s in row] for row in blocked], [[s for _, s in row] for row in whole], atol=1e-5
    )
    assert many.count() == 700
