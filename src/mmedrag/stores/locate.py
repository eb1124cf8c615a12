"""The one knowledge-index interface every backend implements, and where an index's kind is decided (once).

:class:`KnowledgeIndex` is what the retriever, the service, evaluation and training see: a search with the filters
and the leakage guard's exclusions pushed down to where the vectors are, records by id, the image hashes the
near-copy guard reads, a version, reopen and close. Two kinds implement it, registered in ``INDEXES``
(:mod:`mmedrag.backends`): ``folder`` (:class:`~mmedrag.stores.index.FolderIndex`: SQLite records and FAISS/numpy
spaces) and ``milvus`` (:class:`~mmedrag.stores.milvus.MilvusIndex`: Lite, standalone or cluster). Each registered
kind also answers, for a location, ``claims``, ``exists``, ``load`` and ``verify`` (:class:`IndexKind`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mmedrag.backends import INDEXES
from mmedrag.types import Exclusion, Fingerprint, Record

__all__ = ["IndexKind", "KnowledgeIndex", "index_exists", "index_kind", "load_index", "verify_index"]


@runtime_checkable
class KnowledgeIndex(Protocol):
    """Records and their vectors, searched with filters and the leakage guard evaluated by the index.

    Attributes:
        encoder: fingerprint of the encoder that built the index (queries must match it).
        store_spec: how the vectors are stored (``{"kind": ...}``).
    """

    encoder: Fingerprint
    store_spec: dict[str, Any]

    @property
    def info(self) -> dict[str, Any]:
        """What the build recorded beside the vectors (timestamps, the in-scope fit)."""
        ...

    @property
    def name(self) -> str:
        """A short label: the folder's name, or the Milvus alias."""
        ...

    def check_encoder(self, fingerprint: Fingerprint, partial: bool = False) -> None:
        """Raise :class:`~mmedrag.errors.EncoderMismatchError` for another encoder's queries."""
        ...

    def search_records(
        self,
        vectors: np.ndarray,
        space: str,
        k: int,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        exclusions: Sequence[Exclusion | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Best ``k`` ``(record id, score)`` per query row in ``space`` (``text``: reports, ``image``: views, one
        hit per record), among records passing ``filters`` and not excluded by that row's exclusion."""
        ...

    def get(self, ids: Sequence[str]) -> dict[str, Record]:
        """The stored records among ``ids``."""
        ...

    def count(self) -> int: ...

    def ids(self) -> list[str]:
        """Every record id (for passes over the whole knowledge base, e.g. concept linking)."""
        ...

    def image_hashes(self) -> list[tuple[str, int]]:
        """``(record id, 64-bit dHash)`` of every image view (the near-copy guard's candidates)."""
        ...

    def version(self) -> str:
        """The saved version served (a folder's ``v-NNNNNN``, the collection behind a Milvus alias)."""
        ...

    def reopen(self) -> KnowledgeIndex:
        """The index at its newest saved version (a live database returns itself)."""
        ...

    def close(self) -> None: ...


class IndexKind(Protocol):
    """What ``INDEXES`` registers per kind: location-level operations (an index may be too damaged to open)."""

    @staticmethod
    def claims(location: str | Path) -> bool:
        """True when ``location`` is an index of this kind (a folder, a pointer file, a spec)."""
        ...

    @staticmethod
    def exists(location: str | Path) -> bool: ...

    @classmethod
    def load(cls, location: str | Path) -> KnowledgeIndex: ...

    @classmethod
    def verify(cls, location: str | Path) -> dict[str, Any]:
        """Check the index in full: ``{"ok", "problems", "warnings", "version", "counts", ...}``; never raises."""
        ...


def index_kind(location: str | Path, store: str | Mapping[str, Any] | None = None) -> str:
    """The registered kind that claims ``location``; ``folder`` when none does (its loader names what is missing).

    Args:
        store: the store spec of a new index: one naming a registered index kind (``milvus:...``) makes that kind.
    """
    if store is not None:
        kind = store.get("kind") if isinstance(store, Mapping) else str(store).partition(":")[0]
        if kind in INDEXES.names() and kind != "folder":
            return str(kind)
    for kind in INDEXES.names():
        entry: IndexKind = INDEXES.get(kind)
        if entry.claims(location):
            return kind
    return "folder"


def index_exists(location: str | Path) -> bool:
    entry: IndexKind = INDEXES.get(index_kind(location))
    return entry.exists(location)


def load_index(location: str | Path) -> KnowledgeIndex:
    """The index at ``location``: a folder, a folder pointing to Milvus, or ``milvus:URI|collection=NAME``."""
    entry: IndexKind = INDEXES.get(index_kind(location))
    return entry.load(location)


def verify_index(location: str | Path) -> dict[str, Any]:
    """Check the index at ``location`` in full (``mmedrag index --verify``); damage is reported, never raised."""
    entry: IndexKind = INDEXES.get(index_kind(location))
    return entry.verify(location)
