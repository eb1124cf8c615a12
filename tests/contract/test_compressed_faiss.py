"""Compressed FAISS factories (scalar-quantised HNSW, IVF-PQ with a refine step) behave like the other stores.

Their scores are approximate (SQ8 codes), so they are held to the exact oracle within a tolerance instead of the
contract's 1e-4; everything else (delete, replace, allow-lists, save/load) is the same contract.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import low_rank
from mmedrag.stores.base import create_store, load_store
from mmedrag.stores.exact import ExactStore

pytest.importorskip("faiss")

DIM = 24


def ids(n: int) -> list[str]:
    return [f"r{i}" for i in range(n)]


COMPRESSED = [
    "faiss:HNSW32,SQ8|efSearch=128",
    "faiss:IVF8,PQ8x4fs,RFlat|nprobe=8,k_factor_rf=16",
    "faiss:IVF8,PQ8x4fs,Refine(SQ8)|nprobe=8,k_factor_rf=16",
]


@pytest.mark.parametrize("spec", COMPRESSED)
def test_compressed_store_keeps_the_contract(spec: str, tmp_path: Path) -> None:
    data, queries = low_rank(2000, 11), low_rank(50, 12)
    store, oracle = create_store(spec, DIM), ExactStore(DIM)
    store.add(ids(2000), data)
    oracle.add(ids(2000), data)
    got, want = store.search(queries, 5), oracle.search(queries, 5)
    assert np.mean([g[0][0] == w[0][0] for g, w in zip(got, want, strict=True)]) >= 0.9
    lookup = dict(zip(ids(2000), data, strict=True))
    for query, row in zip(queries, got, strict=True):
        assert all(abs(score - float(lookup[i] @ query)) < 2e-2 for i, score in row)
        assert [s for _, s in row] == sorted((s for _, s in row), reverse=True)
    assert store.delete(["r0", "r1", "missing"]) == 2 and store.count() == 1998
    assert all(i not in {"r0", "r1"} for i, _ in store.search(data[:2], 10)[0])
    store.add(["r5"], data[:1])
    assert store.search(data[:1], 1)[0][0][0] == "r5" and store.count() == 1998
    far = {"r7", "r1234", "r1999"}
    assert all({i for i, _ in row} == far for row in store.search(data[:3], 5, allow=far))
    store.save(tmp_path / "s")
    loaded = load_store(store.spec(), tmp_path / "s", DIM)
    assert loaded.count() == 1998 and loaded.search(queries[:5], 3) == store.search(queries[:5], 3)


def test_search_settings_change_after_the_build_and_are_saved(tmp_path: Path) -> None:
    from mmedrag.errors import ConfigError

    data = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    store = create_store({"kind": "faiss", "factory": "HNSW8", "search_params": "efSearch=16"}, 16)
    store.add([f"v{i}" for i in range(300)], data)
    store.set_search_params("efSearch=200")  # type: ignore[attr-defined]
    store.save(tmp_path)
    again = load_store(store.spec(), tmp_path, 16)
    assert again.spec()["search_params"] == "efSearch=200"
    with pytest.raises(ConfigError, match="nprobe"):
        again.set_search_params("nprobe=8")  # type: ignore[attr-defined]  # an HNSW index has no lists
    assert again.spec()["search_params"] == "efSearch=200"
