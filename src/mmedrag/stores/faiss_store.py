"""FAISS store: any ``index_factory`` string (default ``Flat``, exact inner product), with string ids and filters.

String ids map to the int64 ids FAISS needs. IVF indexes take those ids natively (a hashtable direct map lets them
reconstruct and remove); other types are wrapped in ``IndexIDMap2``. Types that cannot remove vectors (HNSW) get
tombstones filtered at search time, so delete and replace work on every type without a rebuild. An ANN search that
finds fewer than ``k`` vectors (IVF probes only some lists, a filter leaves few candidates) falls back to exact scoring.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag._optional import require
from mmedrag.errors import ConfigError, IndexFolderError
from mmedrag.stores.base import SearchResult, check_vectors
from mmedrag.stores.exact import refuse_duplicates
from mmedrag.stores.integrity import check_scores


class FaissStore:
    """Inner-product FAISS index wrapped in ``IndexIDMap2``.

    Args:
        dim: vector dimension.
        factory: a FAISS ``index_factory`` string, e.g. ``"Flat"``, ``"HNSW32"``, ``"IVF1024,Flat"``.
        search_params: FAISS ``ParameterSpace`` settings applied after load, e.g. ``"nprobe=32"`` or ``"efSearch=128"``.

    Example:
        >>> store = FaissStore(dim=512, factory="HNSW32", search_params="efSearch=128")  # doctest: +SKIP
    """

    kind = "faiss"
    # Exact re-scoring when an ANN search comes back short is only done up to this many candidates: beyond it the
    # reconstruction would cost more than the search is worth, and the short ANN result is returned as it is.
    EXACT_FALLBACK_LIMIT = 200_000
    # An allow-list keeping at most this fraction of the store is scored exactly: graph and list searches under a
    # restrictive filter lose recall (HNSW: 0.67 recall@10 at 1% on full-rank data, BENCHMARKS.md), exact is faster.
    EXACT_FILTER_FRACTION = 0.05

    def __init__(self, dim: int, factory: str = "Flat", search_params: str = "") -> None:
        self._faiss = require("faiss", "faiss")
        self.dim, self.factory, self.search_params = dim, factory, search_params
        try:
            base = self._faiss.index_factory(dim, factory, self._faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ConfigError(f"invalid FAISS index_factory string {factory!r}: {str(exc).splitlines()[0]}") from exc
        self._index = self._wrap(base)
        self._apply_search_params()
        self._int_of: dict[str, int] = {}
        self._str_of: dict[int, str] = {}
        self._tombstones: set[int] = set()
        self._next = 0
        # Set by the index folder on load: where the files came from, and the largest score the stored unit vectors
        # can give when the index type scores exactly (a larger one means damaged vectors and is refused).
        self.source: Path | None = None
        self.max_score: float | None = None

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim, "factory": self.factory, "search_params": self.search_params}

    def _wrap(self, base: Any) -> Any:
        ivf = self._faiss.try_extract_index_ivf(base)
        if ivf is None or isinstance(base, self._faiss.IndexRefine):  # a refine step ("...,RFlat") has no own ids
            return self._faiss.IndexIDMap2(base)
        # IndexIDMap2 around IVF corrupts ids on removal (IVF does not compact); IVF stores custom ids itself.
        ivf.set_direct_map_type(self._faiss.DirectMap.Hashtable)
        return base

    def _inner(self) -> Any:
        return (
            self._faiss.downcast_index(self._index.index)
            if isinstance(self._index, self._faiss.IndexIDMap2)
            else (self._index)
        )

    def _apply_search_params(self) -> None:
        if not self.search_params:
            return
        try:
            self._faiss.ParameterSpace().set_index_parameters(self._inner(), self.search_params)
        except RuntimeError as exc:
            raise ConfigError(f"FAISS search_params {self.search_params!r} do not apply to {self.factory!r}") from exc

    def set_search_params(self, search_params: str) -> None:
        """Change the search-time settings (``efSearch``, ``nprobe``, ``k_factor_rf``) of the built index, e.g. after
        measuring recall on held-out queries; they are saved with the store."""
        previous, self.search_params = self.search_params, search_params
        try:
            self._apply_search_params()
        except ConfigError:
            self.search_params = previous  # and back on the index: a list like "nprobe=8,x=1" may have half-applied
            self._apply_search_params()
            raise

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        array = check_vectors(vectors, self.dim, rows=len(ids))
        refuse_duplicates(ids)
        self.delete([i for i in ids if i in self._int_of])
        if not self._index.is_trained:
            if array.shape[0] < 1:
                return
            try:
                self._index.train(array)
            except RuntimeError as exc:
                raise ConfigError(
                    f"FAISS index {self.factory!r} needs training and {array.shape[0]} vectors are not enough "
                    f"({str(exc).splitlines()[0]}); add more vectors at once or use a smaller nlist"
                ) from exc
        int_ids = np.arange(self._next, self._next + len(ids), dtype=np.int64)
        self._next += len(ids)
        self._index.add_with_ids(array, int_ids)
        for identifier, number in zip(ids, int_ids.tolist(), strict=True):
            self._int_of[identifier] = number
            self._str_of[number] = identifier

    def delete(self, ids: Collection[str]) -> int:
        numbers = [self._int_of.pop(i) for i in ids if i in self._int_of]
        if not numbers:
            return 0
        for number in numbers:
            del self._str_of[number]
        try:
            self._index.remove_ids(np.asarray(numbers, dtype=np.int64))
        except RuntimeError:  # e.g. HNSW: "remove_ids not implemented for this type of index"
            self._tombstones.update(numbers)
        return len(numbers)

    def _params(self, allow: Collection[str] | None) -> Any:
        faiss = self._faiss
        selector = None
        if allow is not None:
            numbers = np.asarray(sorted(self._int_of[i] for i in allow if i in self._int_of), dtype=np.int64)
            selector = faiss.IDSelectorBatch(numbers)
        elif self._tombstones:
            dead = faiss.IDSelectorBatch(np.asarray(sorted(self._tombstones), dtype=np.int64))
            selector = faiss.IDSelectorNot(dead)
            selector.referenced = dead  # keep the wrapped selector alive as long as the outer one
        if selector is None:
            return None
        inner = self._inner()
        if isinstance(inner, faiss.IndexRefine):
            # A refine step takes its own parameter type; the filter goes to the base index it re-ranks. Its ids are
            # the wrapper's positions, equal to our numbers because nothing is ever removed from it (tombstones).
            base = self._typed_params(faiss.downcast_index(inner.base_index), selector)
            params = faiss.IndexRefineSearchParameters()
            params.k_factor, params.base_index_params = inner.k_factor, base
            params.referenced = (selector, base)
            return params
        return self._typed_params(inner, selector)

    def _typed_params(self, inner: Any, selector: Any) -> Any:
        """Per-type parameter objects, carrying the index's own nprobe/efSearch so a filter does not reset them."""
        faiss = self._faiss
        if isinstance(inner, faiss.IndexHNSW):
            params = faiss.SearchParametersHNSW(efSearch=inner.hnsw.efSearch)
        elif (ivf := faiss.try_extract_index_ivf(inner)) is not None:
            params = faiss.SearchParametersIVF(nprobe=ivf.nprobe)
        else:
            params = faiss.SearchParameters()
        params.sel = selector
        params.referenced = selector
        return params

    def search(self, vectors: np.ndarray, k: int, allow: Collection[str] | None = None) -> SearchResult:
        queries = check_vectors(vectors, self.dim)
        available = len(self._int_of) if allow is None else sum(1 for i in allow if i in self._int_of)
        k = min(k, available)
        if k <= 0:
            return [[] for _ in range(len(queries))]
        restrictive = allow is not None and available <= self.EXACT_FILTER_FRACTION * len(self._int_of)
        try:
            if allow is not None and (restrictive or isinstance(self._inner(), self._faiss.IndexRefine)):
                # A restrictive filter is cheaper and exact by scoring; IndexRefine's own parameter type has base
                # parameters that IndexIDMap2 does not translate, so a filtered refine search is scored too.
                return self._checked(self._exact_over(queries, k, allow), queries)
            params = self._params(allow)
            scores, numbers = (
                self._index.search(queries, k, params=params) if params else self._index.search(queries, k)
            )
            results = [
                [(self._str_of[n], float(s)) for s, n in zip(row_s, row_n, strict=True) if n >= 0 and n in self._str_of]
                for row_s, row_n in zip(scores, numbers, strict=True)
            ]
            if any(len(row) < k for row in results) and available <= self.EXACT_FALLBACK_LIMIT:
                results = self._exact_over(queries, k, allow)
        except RuntimeError as exc:  # e.g. "key not found": the index file and ids.json disagree
            reason = str(exc).strip().splitlines()[0][-200:] if str(exc).strip() else type(exc).__name__
            raise IndexFolderError(
                f"{self.source or 'FAISS store'}: search failed ({reason}); the index files may be damaged: "
                "run `mmedrag index --verify` and rebuild"
            ) from exc
        return self._checked(results, queries)

    def _checked(self, results: SearchResult, queries: np.ndarray) -> SearchResult:
        for row, query in zip(results, queries, strict=True):
            check_scores(self.source, row, self.max_score, query)
        return results

    def _exact_over(self, queries: np.ndarray, k: int, allow: Collection[str] | None) -> SearchResult:
        """Exact scores over the allowed vectors, reconstructed from the index: used when the ANN search returned
        fewer than ``k`` (IVF probed other lists, HNSW's beam was narrower than ``k``)."""
        from mmedrag.stores.exact import ExactStore

        allowed = [i for i in (self._int_of if allow is None else allow) if i in self._int_of]
        exact = ExactStore(self.dim)
        numbers = np.asarray([self._int_of[i] for i in allowed], dtype=np.int64)
        exact.add(allowed, self._index.reconstruct_batch(numbers))
        return exact.search(queries, k)

    def count(self) -> int:
        return len(self._int_of)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors read back through the id map (``reconstruct``: exact for Flat/HNSW, approximate for PQ/SQ)."""
        numbers = {i: self._int_of[i] for i in ids if i in self._int_of}
        if not numbers:
            return {}
        rebuilt = self._index.reconstruct_batch(np.asarray(list(numbers.values()), dtype=np.int64))
        return dict(zip(numbers, rebuilt, strict=True))

    def ids(self) -> list[str]:
        return list(self._int_of)

    @property
    def lossless(self) -> bool:
        """True when vectors are stored as they are (flat storage), so scores are exact inner products."""
        faiss = self._faiss
        return isinstance(self._inner(), (faiss.IndexFlat, faiss.IndexHNSWFlat, faiss.IndexIVFFlat))

    def sample_vectors(self, limit: int | None = 256) -> np.ndarray | None:
        """Up to ``limit`` stored vectors, evenly spread over the ids (None when this index type cannot return them)."""
        numbers = sorted(self._str_of)
        if not numbers:
            return np.zeros((0, self.dim), dtype=np.float32)
        if limit is not None and len(numbers) > limit:
            numbers = [numbers[i] for i in np.linspace(0, len(numbers) - 1, limit).astype(int)]
        try:
            return np.asarray(self._index.reconstruct_batch(np.asarray(numbers, dtype=np.int64)), dtype=np.float32)
        except RuntimeError:  # e.g. PQ codes without a direct map
            return None

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._faiss.write_index(self._index, str(folder / "index.faiss"))
        state = {"ids": list(self._int_of.items()), "tombstones": sorted(self._tombstones), "next": self._next}
        (folder / "ids.json").write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, dim: int, factory: str = "Flat", search_params: str = "") -> FaissStore:
        """Read a saved store; unreadable or inconsistent files are an :class:`IndexFolderError` naming the file."""
        store = cls(dim, factory=factory, search_params=search_params)
        try:
            index = store._faiss.read_index(str(folder / "index.faiss"))
        except Exception as exc:  # whatever a damaged file makes the FAISS reader raise, it is unreadable
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise IndexFolderError(f"{folder / 'index.faiss'}: unreadable ({reason}); rebuild the index") from exc
        ids, tombstones, following = _read_state(folder / "ids.json")
        if index.d != dim:
            raise IndexFolderError(f"{folder / 'index.faiss'}: dimension {index.d}, the index says {dim}; rebuild it")
        store._index = index  # read_index already returns the concrete type; a downcast proxy would not own it
        if not isinstance(index, store._faiss.IndexIDMap2) and (ivf := store._faiss.try_extract_index_ivf(index)):
            ivf.set_direct_map_type(store._faiss.DirectMap.Hashtable)
        store._apply_search_params()
        store._int_of = ids
        store._str_of = {number: identifier for identifier, number in ids.items()}
        store._tombstones = tombstones
        store._next = following
        if isinstance(index, store._faiss.IndexIDMap2):  # its id map must hold exactly the numbers ids.json names
            mapped = store._faiss.vector_to_array(index.id_map)
            if len(mapped) != index.ntotal or set(mapped.tolist()) != set(ids.values()) | tombstones:
                raise IndexFolderError(f"{folder / 'index.faiss'}: its id map does not match ids.json; rebuild it")
        if store._index.ntotal - len(tombstones) != len(ids):
            raise IndexFolderError(
                f"{folder}: FAISS holds {store._index.ntotal} vectors ({len(tombstones)} deleted) but ids.json "
                f"lists {len(ids)}; rebuild the index"
            )
        store.source = folder
        return store


def _read_state(path: Path) -> tuple[dict[str, int], set[int], int]:
    """``ids.json``: string id -> FAISS number pairs, tombstoned numbers and the next number, all validated."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        pairs, tombstones, following = state["ids"], state["tombstones"], state["next"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        raise IndexFolderError(f"{path}: unreadable ({reason}); rebuild the index") from exc
    good = (
        isinstance(pairs, list)
        and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _int(p[1]) for p in pairs)
        and isinstance(tombstones, list)
        and all(_int(t) for t in tombstones)
        and _int(following)
    )
    if not good:
        raise IndexFolderError(f"{path}: malformed (expected ids as [id, number] pairs); rebuild the index")
    ids = {identifier: number for identifier, number in pairs}
    numbers = set(ids.values())
    if len(ids) != len(pairs) or len(numbers) != len(ids) or numbers & set(tombstones):
        raise IndexFolderError(f"{path}: an id or number appears twice; rebuild the index")
    if numbers and max(numbers) >= following:
        raise IndexFolderError(f"{path}: numbers past 'next'; rebuild the index")
    return ids, set(tombstones), following


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
