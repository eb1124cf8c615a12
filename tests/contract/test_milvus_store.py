"""What the shared store contract (test_stores.py) cannot see on the Milvus store: hostile ids in the pushed-down
allow-list, allow-lists longer than one expression, the pointer file, and refusing a collection that is not ours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmedrag.errors import IndexFolderError
from mmedrag.stores.base import create_store, load_store
from mmedrag.stores.exact import ExactStore

pytest.importorskip("pymilvus")
from mmedrag.stores import milvus_store  # noqa: E402  (needs pymilvus)

DIM = 8
HOSTILE = ['a"b', "c'd", "e\\f", 'x" or pk != "', "g\nh", "ümlaut", "in [1]", "]", "plain"]


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"milvus:{tmp_path_factory.mktemp('lite')}"


def unit(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_hostile_ids_are_stored_deleted_and_allowed_as_data(lite: str) -> None:
    store = create_store(lite, DIM)
    data = unit(len(HOSTILE) + 20, 1)
    ids = HOSTILE + [f"r{i}" for i in range(20)]
    store.add(ids, data)
    assert set(store.ids()) == set(ids)
    for hostile in HOSTILE:  # an injected `or pk != ""` would let every id through
        assert {i for i, _ in store.search(data, 30, allow={hostile})[0]} == {hostile}
    assert store.delete(['x" or pk != "', "missing"]) == 1 and store.count() == len(ids) - 1


def test_a_long_allow_list_is_searched_in_chunks_and_merged_exactly(lite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(milvus_store, "_CHUNK", 7)  # 50 allowed ids: eight expressions, eight searches
    store, oracle = create_store(lite, DIM), ExactStore(DIM)
    data, queries = unit(300, 2), unit(5, 3)
    ids = [f"r{i}" for i in range(300)]
    store.add(ids, data)
    oracle.add(ids, data)
    allow = set(ids[::6])
    got, want = store.search(queries, 10, allow=allow), oracle.search(queries, 10, allow=allow)
    assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in want]


def test_save_writes_a_pointer_and_load_refuses_a_missing_or_foreign_collection(lite: str, tmp_path: Path) -> None:
    store = create_store(lite, DIM)
    store.add(["a"], unit(1, 4))
    store.save(tmp_path / "s")
    assert [p.name for p in (tmp_path / "s").iterdir()] == [milvus_store.POINTER]  # the vectors stay in Milvus
    assert load_store(store.spec(), tmp_path / "s", DIM).ids() == ["a"]
    with pytest.raises(IndexFolderError, match="not a 16-d mmedrag vector store"):
        create_store(f"{lite}|collection={store.name}", 16)  # type: ignore[attr-defined]
    store.client.drop_collection(store.name)  # type: ignore[attr-defined]
    with pytest.raises(IndexFolderError, match="is gone"):
        load_store(store.spec(), tmp_path / "s", DIM)
    (tmp_path / "s" / milvus_store.POINTER).write_text("{", encoding="utf-8")
    with pytest.raises(IndexFolderError, match="pointer unreadable"):
        load_store(store.spec(), tmp_path / "s", DIM)
