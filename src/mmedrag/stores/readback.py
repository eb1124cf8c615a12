"""Read a vector store's vectors back by id: the in-scope fit and the copy into Milvus reuse what was encoded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mmedrag.stores.base import VectorStore
from mmedrag.stores.exact import ExactStore


def stored_vectors(space: VectorStore) -> Callable[[list[str]], dict[str, np.ndarray]]:
    """Read stored vectors back by id (exact store: its matrix; FAISS: reconstruction through its id map); ids the
    store does not hold are left out."""
    if isinstance(space, ExactStore):
        rows = {identifier: row for row, identifier in enumerate(space.ids())}
        matrix = space.vectors()
        return lambda ids: {i: matrix[rows[i]] for i in ids if i in rows}

    def faiss_lookup(ids: list[str]) -> dict[str, np.ndarray]:
        numbers = {i: space._int_of[i] for i in ids if i in space._int_of}  # type: ignore[attr-defined]
        if not numbers:
            return {}
        rebuilt = space._index.reconstruct_batch(np.asarray(list(numbers.values()), dtype=np.int64))  # type: ignore[attr-defined]
        return dict(zip(numbers, rebuilt, strict=True))

    return faiss_lookup


__all__ = ["stored_vectors"]
