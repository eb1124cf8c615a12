"""Search of an index folder with filters and the leakage guard applied as allow- and exclude-lists.

The folder's records live in SQLite beside FAISS/numpy spaces that know only ids, so what a database evaluates with
the query (filters, the patient/study/pixel-hash exclusions) becomes id sets here: an allow-list passed to the
store, and exclusions made up for by widening the search until ``k`` records remain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mmedrag.stores.base import VectorStore
from mmedrag.stores.records import RecordStore
from mmedrag.types import Exclusion


def view_id(record_id: str, view: int) -> str:
    """Id of one image view of a record in the ``image`` space."""
    return f"{record_id}#{view}"


def record_of_view(identifier: str) -> str:
    return identifier.rsplit("#", 1)[0]


def search_folder(
    records: RecordStore,
    spaces: Mapping[str, VectorStore],
    vectors: np.ndarray,
    space: str,
    k: int,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    exclusions: Sequence[Exclusion | None] | None = None,
) -> list[list[tuple[str, float]]]:
    """Best ``k`` ``(record id, score)`` per query row (see ``KnowledgeIndex.search_records``)."""
    active = {name: value for name, value in (filters or {}).items() if value}
    allowed = records.ids_where(**active) if active else None
    guards = list(exclusions) if exclusions is not None else [None] * len(vectors)
    results = []
    for vector, guard in zip(vectors, guards, strict=True):
        excluded: set[str] = set()
        if guard is not None:
            excluded = records.related_ids(guard.patient_id, guard.study_id, list(guard.image_sha256))
            excluded |= guard.records
        results.append(_top(spaces[space], vector, space == "image", k, allowed, excluded))
    return results


def _top(
    store: VectorStore, vector: np.ndarray, views: bool, k: int, allowed: set[str] | None, excluded: set[str]
) -> list[tuple[str, float]]:
    """Best ``k`` records for one query vector, widening the search until exclusions are made up for."""
    allow = None
    if allowed is not None:
        keep = allowed - excluded
        allow = keep if not views else {i for i in store.ids() if record_of_view(i) in keep}
    total = store.count() if allow is None else len(allow)
    fetch = k + len(excluded) * (4 if views else 1)
    while True:
        best: dict[str, float] = {}
        for identifier, score in store.search(vector[None, :], min(fetch, total), allow=allow)[0] if total else []:
            record_id = record_of_view(identifier) if views else identifier
            if record_id not in excluded and record_id not in best:  # views come best-first: keep the max
                best[record_id] = score
        if len(best) >= k or fetch >= total:
            return list(best.items())[:k]
        fetch *= 2
