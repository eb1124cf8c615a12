"""The one vector-search path for every Milvus collection mmedrag writes, with filter-aware search parameters.

Why the parameters depend on the filter: Milvus 2.3 evaluates a filter as a bitset and searches each sealed segment's
HNSW graph with it, keeping only the passing nodes among the ``ef`` best it walks through. When 1% of the rows pass,
``ef=64`` finds a handful of them near the query and misses the rest: recall@10 against the exact filtered top-k was
0.64 at 100k x 512 full-rank vectors (0.87-0.93 at 20k) in our measurements, and 0.996 with ``ef=1024``
(``benchmarks/bench_scale.py``; newer Milvus versions brute-force such filters themselves, 2.3 does not). IVF
indexes lose recall the same way when only ``nprobe`` of ``nlist`` lists are probed. So a filtered search first
counts the rows its expression keeps (one ``count(*)`` query, Bounded consistency, about 3 ms) and widens the beam
to ``min(rows kept, ef / share kept)`` (IVF: ``nprobe / share``, up to every list): a restrictive filter then walks
about every passing row, as an exact scan of them would, and an unrestrictive one keeps the configured ``ef``.

The two collection layouts share this path: :class:`~mmedrag.stores.milvus_store.MilvusVectorStore` (one row per
id, key ``pk``) and :class:`~mmedrag.stores.milvus.MilvusIndex` (record and image rows, key ``record_id``: image
views are collapsed to their best-scoring record).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from mmedrag.errors import IndexFolderError
from mmedrag.stores.milvus_spec import MilvusSpec

MAX_LIMIT = 16_384  # Milvus' largest topk
EF_MAX = 16_384  # the widest HNSW beam a filtered search asks for (HNSW's ef must also be >= the limit)
DEFAULT_EF = 64
DEFAULT_NPROBE = 32
MIN_INDEXED_ROWS = 1024  # a Milvus server's default minSegmentNumRowsToEnableIndex
TOTAL_TTL_S = 30.0  # the population count only scales the beam: a slightly stale figure changes nothing

Hits = list[list[tuple[str, float]]]


class CollectionSearch:
    """Top-k search over one collection (or alias), by inner product, keyed by ``key`` (one hit per key value).

    Args:
        client: a ``pymilvus.MilvusClient``.
        spec: the index type and its search parameters.
        name: the collection or alias searched.
        key: the field hits are reported (and de-duplicated) by.
    """

    def __init__(self, client: Any, spec: MilvusSpec, name: str, key: str = "pk") -> None:
        self.client, self.spec, self.name, self.key = client, spec, name, key
        self._totals: dict[str, tuple[float, int]] = {}

    def count(self, expression: str, consistency: str = "Bounded") -> int:
        """Rows matching ``expression`` (Bounded by default: an estimate that does not wait for the time tick)."""
        rows = self.client.query(
            self.name, filter=expression, output_fields=["count(*)"], consistency_level=consistency
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def total(self, population: str) -> int:
        """Rows matching ``population`` (the unfiltered candidates), cached for :data:`TOTAL_TTL_S` seconds."""
        now = time.monotonic()
        cached = self._totals.get(population)
        if cached is None or now - cached[0] > TOTAL_TTL_S:
            cached = (now, self.count(population))
            self._totals[population] = cached
        return cached[1]

    def kept(self, expression: str, population: str, matching: int | None = None) -> tuple[int, float]:
        """Rows ``expression`` keeps (counted unless given) and their share of ``population``."""
        kept = self.count(expression) if matching is None else matching
        total = max(self.total(population), kept, 1)
        return kept, kept / total

    def params(self, fetch: int, kept: tuple[int, float] | None = None) -> dict[str, Any]:
        """Search parameters for a limit of ``fetch``, widened for a filter keeping ``kept`` = (rows, share)."""
        params = dict(self.spec.search_params)
        index_type = self.spec.index_type
        if index_type.startswith("HNSW") or index_type == "AUTOINDEX":
            ef = max(int(params.get("ef", DEFAULT_EF)), fetch)  # HNSW needs ef >= limit
            if kept is not None and kept[0] > 0 and kept[1] < 1:
                ef = max(ef, min(EF_MAX, kept[0], math.ceil(ef / kept[1])))
            params["ef"] = ef
        elif index_type.startswith("IVF"):
            nprobe = int(params.get("nprobe", DEFAULT_NPROBE))
            nlist = int(self.spec.index_params.get("nlist", 1024))
            if kept is not None and kept[0] > 0 and kept[1] < 1:
                nprobe = max(nprobe, min(nlist, math.ceil(nprobe / kept[1])))
            params["nprobe"] = min(nprobe, nlist)
        return params

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        expression: str,
        fetch_factor: int = 1,
        kept: tuple[int, float] | None = None,
    ) -> Hits:
        """Best ``k`` ``(key, score)`` per query row among rows matching ``expression``, best first.

        Args:
            fetch_factor: rows fetched per wanted key (several rows can share a key, e.g. image views of a record);
                the fetch doubles until ``k`` distinct keys come back or nothing more can.
            kept: rows the expression keeps and their share (see :meth:`kept`); None for an unrestricted search.
        """
        fetch = min(MAX_LIMIT, max(1, k * fetch_factor))
        data = [row.astype(np.float32).tolist() for row in vectors]
        while True:
            raw = self.client.search(
                self.name,
                data=data,
                anns_field="vector",
                limit=fetch,
                filter=expression,
                output_fields=[self.key],
                search_params={"metric_type": "IP", "params": self.params(fetch, kept)},
            )
            results, short = [], False
            for hits in raw:
                best: dict[str, float] = {}
                for hit in hits:  # hits come best first: the first row of a key is its best
                    best.setdefault(hit["entity"][self.key], float(hit["distance"]))
                results.append(list(best.items())[:k])
                short |= len(best) < k and len(hits) >= fetch
            if not short or fetch >= MAX_LIMIT:
                return results
            fetch = min(MAX_LIMIT, fetch * 2)


def merge_top(parts: list[Hits], k: int, rows: int) -> Hits:
    """Per query row, the best ``k`` hits of several searches over disjoint candidate sets."""
    merged: Hits = [[] for _ in range(rows)]
    for part in parts:
        for row, hits in enumerate(part):
            merged[row].extend(hits)
    return [sorted(row, key=lambda hit: -hit[1])[:k] for row in merged]


def ensure_loaded(client: Any, name: str, timeout_s: float = 300.0) -> None:
    """Load the collection (or alias) ``name`` into memory and wait until it is searchable.

    Why: a collection is searchable only while loaded, and a Milvus Lite process, or a server restart, leaves every
    collection released; the process that built an index had it loaded, every later one (``search``, ``serve``, an
    incremental ``index``) must load it itself (issue 21). Loading a loaded collection costs one state query.
    """
    from pymilvus.client.types import LoadState

    if client.get_load_state(name)["state"] == LoadState.Loaded:
        return
    client.load_collection(name, timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while client.get_load_state(name)["state"] != LoadState.Loaded:  # load_collection may return while loading
        if time.monotonic() > deadline:
            raise IndexFolderError(f"Milvus collection {name!r} did not load within {timeout_s:.0f} s; retry later")
        time.sleep(0.2)


def wait_until_indexed(client: Any, name: str, timeout_s: float = 600.0) -> bool:
    """Wait until the server searches every row of ``name`` through its vector index; False on timeout.

    Why: rows in growing segments (and sealed ones not yet handed to the query nodes) are searched through Milvus
    2.3's interim index (IVF, ``queryNode.segcore.interimIndex``: nprobe 16 of 128 lists, a server setting no search
    parameter reaches), which under a 1% filter found 0.31 of the exact top 10 at 20k full-rank vectors; once the
    indexed segments are served, the same search found all of them. So a build waits for that hand-off (a few seconds
    after the index is built) before it is published. Segments under the server's ``minSegmentNumRowsToEnableIndex``
    (1,024 rows by default) are never indexed and are scanned exactly. Milvus Lite has no hand-off (callers skip it).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            described = client.describe_index(name, "vector")
            segments = client.list_loaded_segments(name)
        except Exception:  # a Milvus without the segment query (Lite): nothing to wait for
            return True
        total = int(described.get("total_rows", 0))
        served = sum(segment.num_rows for segment in segments)
        # FLAT has no index files: its sealed segments are served as they are (and searched exactly).
        flat = str(described.get("index_type", "")).upper() == "FLAT"
        indexed = flat or all(segment.index_name for segment in segments if segment.num_rows >= MIN_INDEXED_ROWS)
        if total < MIN_INDEXED_ROWS or (int(described.get("indexed_rows", 0)) >= total and served >= total and indexed):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
