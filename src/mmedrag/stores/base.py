"""The vector-store protocol: ids and L2-normalised vectors in, inner-product top-k out.

Payloads (report text, metadata) live in the record store, not here (txtai keeps the same split), so a store can be
swapped for FAISS, Milvus or anything else that does nearest-neighbour search with an id filter.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mmedrag.backends import STORES
from mmedrag.errors import ConfigError
from mmedrag.registry import Spec

SearchResult = list[list[tuple[str, float]]]


@runtime_checkable
class VectorStore(Protocol):
    """Nearest-neighbour search by inner product (cosine on normalised vectors); higher scores are better."""

    kind: str
    dim: int

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Insert vectors; an id already present is replaced."""
        ...

    def delete(self, ids: Collection[str]) -> int:
        """Remove ids (unknown ids are ignored); returns how many were removed."""
        ...

    def search(self, vectors: np.ndarray, k: int, allow: Collection[str] | None = None) -> SearchResult:
        """Top-``k`` ``(id, score)`` per query row, best first; ``allow`` restricts the candidates."""
        ...

    def count(self) -> int: ...

    def ids(self) -> list[str]: ...

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (unknown ids left out; a lossy index gives its reconstruction)."""
        ...

    def save(self, folder: Path) -> None: ...

    def spec(self) -> dict[str, Any]:
        """Constructor arguments that recreate an empty store of this kind (saved in the index folder)."""
        ...


def check_vectors(vectors: np.ndarray, dim: int, rows: int | None = None) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 (n, dim) array, or raise naming the shape problem."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise ConfigError(f"vectors of shape {tuple(np.shape(vectors))} do not match the store dimension {dim}")
    if rows is not None and array.shape[0] != rows:
        raise ConfigError(f"{rows} ids but {array.shape[0]} vectors")
    if not np.isfinite(array).all():
        raise ConfigError("vectors contain NaN or infinity; the encoder produced invalid output")
    return array


def create_store(spec: Spec, dim: int) -> VectorStore:
    """An empty store of the kind ``spec`` names (:data:`mmedrag.backends.STORES`), for ``dim``-d vectors.

    Example:
        >>> create_store("exact", 4).count()
        0
    """
    store: VectorStore = STORES.create(_without_dim(spec), dim)
    return store


def load_store(spec: Spec, folder: Path, dim: int) -> VectorStore:
    """The store saved in ``folder`` by a store of the kind ``spec`` names."""
    params = STORES.parse(_without_dim(spec))
    store: VectorStore = STORES.get(params.pop("kind")).load(folder, dim, **params)
    return store


def default_store_spec() -> str:
    """FAISS exact inner product when faiss is installed, else the numpy store (same results, slower at scale)."""
    from mmedrag._optional import available

    return "faiss:Flat" if available("faiss") else "exact"


def _without_dim(spec: Spec) -> Spec:
    """Saved specs carry ``dim``; the dimension always comes from the encoder instead."""
    return {key: value for key, value in spec.items() if key != "dim"} if isinstance(spec, Mapping) else spec
