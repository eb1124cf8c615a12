"""Locate and open any knowledge index: an index folder, a folder holding a Milvus pointer, or a ``milvus:`` spec.

Two backends serve the retriever. :class:`~mmedrag.stores.index.KnowledgeIndex` (a folder: SQLite records and
FAISS/numpy vector spaces) gives the retriever its record store and spaces, and the retriever computes allow-lists
itself. :class:`PushdownIndex` backends (Milvus) take the filters and the leakage guard with the query and evaluate
them where the vectors are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from mmedrag.backends import INDEXES
from mmedrag.stores.index import KnowledgeIndex
from mmedrag.stores.milvus_spec import MILVUS_POINTER, is_milvus_store
from mmedrag.types import Fingerprint, Record

__all__ = ["MILVUS_POINTER", "PushdownIndex", "index_exists", "is_milvus", "is_milvus_store", "load_index"]

if TYPE_CHECKING:
    from mmedrag.stores.milvus import Exclusion


@runtime_checkable
class PushdownIndex(Protocol):
    """What the retriever needs from an index that filters server-side."""

    encoder: Fingerprint
    store_spec: dict[str, Any]

    def check_encoder(self, fingerprint: Fingerprint, partial: bool = False) -> None: ...

    def search_records(
        self,
        vectors: np.ndarray,
        space: str,
        k: int,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        exclusions: Sequence[Exclusion | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Best ``k`` ``(record id, score)`` per query row in ``space`` (``text`` or ``image``)."""
        ...

    def get(self, ids: Sequence[str]) -> dict[str, Record]: ...

    def count(self) -> int: ...

    def upsert(
        self,
        records: Sequence[Record],
        text_vectors: Mapping[str, np.ndarray],
        image_vectors: Mapping[str, Sequence[np.ndarray | None]],
        fingerprints: Mapping[str, Sequence[tuple[str, int]]],
    ) -> int: ...

    def delete(self, ids: Sequence[str]) -> int: ...


def is_milvus(location: str | Path) -> bool:
    """True for a ``milvus:`` spec or a folder holding a Milvus pointer."""
    return str(location).startswith("milvus:") or (Path(location) / MILVUS_POINTER).is_file()


def index_exists(location: str | Path) -> bool:
    return is_milvus(location) or KnowledgeIndex.exists(location)


def verify_index(location: str | Path) -> dict[str, Any]:
    """Check the index at ``location`` in full (``mmedrag index --verify``); damage is reported, never raised."""
    if is_milvus(location):
        from mmedrag.stores.milvus_build import open_any
        from mmedrag.stores.milvus_verify import verify_milvus

        return verify_milvus(open_any(location))
    return KnowledgeIndex.verify(location)


def load_index(location: str | Path) -> KnowledgeIndex | PushdownIndex:
    """The index at ``location``: a folder, a folder pointing to Milvus, or ``milvus:URI|collection=NAME``."""
    kind = "milvus" if is_milvus(location) else "folder"
    index: KnowledgeIndex | PushdownIndex = INDEXES.get(kind)(location)
    return index
