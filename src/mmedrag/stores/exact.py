"""Exact brute-force search with numpy: the reference implementation and the test oracle for every other store."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.errors import ConfigError, IndexFolderError
from mmedrag.stores.base import SearchResult, check_vectors
from mmedrag.stores.integrity import check_scores


class ExactStore:
    """All vectors in one float32 matrix; search is one matrix product.

    Equal scores are ordered by insertion, so results are deterministic.

    Example:
        >>> store = ExactStore(dim=2)
        >>> store.add(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
        >>> store.search(np.array([[1, 0]], dtype=np.float32), k=1)
        [[('a', 1.0)]]
    """

    kind = "exact"
    lossless = True  # scores are exact inner products of the stored vectors

    # Queries are scored in blocks of at most this many score cells (~200 MB of float32 plus the top-k work), so a
    # large batch against a large store never builds one giant score matrix.
    _BLOCK_CELLS = 50_000_000

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._buffer = np.zeros((0, dim), dtype=np.float32)  # capacity grows by doubling; rows past count are unused
        # Set by the index folder when it loads this store: where it came from, and the largest score unit vectors
        # can give (a larger one means damaged vectors and is refused rather than served).
        self.source: Path | None = None
        self.max_score: float | None = None

    @property
    def _vectors(self) -> np.ndarray:
        return self._buffer[: len(self._ids)]

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim}

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        array = check_vectors(vectors, self.dim, rows=len(ids))
        refuse_duplicates(ids)
        needed = len(self._ids) + len({i for i in ids if i not in self._rows})
        if needed > self._buffer.shape[0]:  # amortised growth: repeated small adds stay linear overall
            grown = np.zeros((max(needed, 2 * self._buffer.shape[0]), self.dim), dtype=np.float32)
            grown[: len(self._ids)] = self._vectors
            self._buffer = grown
        for identifier, vector in zip(ids, array, strict=True):
            row = self._rows.get(identifier)
            if row is None:
                row = self._rows[identifier] = len(self._ids)
                self._ids.append(identifier)
            self._buffer[row] = vector

    def delete(self, ids: Collection[str]) -> int:
        doomed = {self._rows[i] for i in ids if i in self._rows}
        if not doomed:
            return 0
        keep = [row for row in range(len(self._ids)) if row not in doomed]
        self._buffer = self._vectors[keep]
        self._ids = [self._ids[row] for row in keep]
        self._rows = {identifier: row for row, identifier in enumerate(self._ids)}
        return len(doomed)

    def search(self, vectors: np.ndarray, k: int, allow: Collection[str] | None = None) -> SearchResult:
        queries = check_vectors(vectors, self.dim)
        if allow is None:
            candidates = np.arange(len(self._ids))
            matrix = self._vectors  # a view: no copy of the store per search
        else:
            candidates = np.array(sorted(self._rows[i] for i in allow if i in self._rows), dtype=np.int64)
            matrix = self._vectors[candidates]
        if k <= 0 or candidates.size == 0:
            return [[] for _ in range(len(queries))]
        k = min(k, candidates.size)
        results: SearchResult = []
        block = max(1, min(len(queries), self._BLOCK_CELLS // candidates.size))
        for start in range(0, len(queries), block):
            scores = queries[start : start + block] @ matrix.T
            if k < candidates.size:
                tops = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            else:
                tops = np.broadcast_to(np.arange(candidates.size), scores.shape)
            for offset, (row, unordered) in enumerate(zip(scores, tops, strict=True)):
                # Order the top-k by score, then by insertion order, so equal scores come out the same way every time.
                top = unordered[np.lexsort((candidates[unordered], -row[unordered]))]
                results.append([(self._ids[candidates[j]], float(row[j])) for j in top])
                check_scores(self.source, results[-1], self.max_score, queries[start + offset])
        return results

    def count(self) -> int:
        return len(self._ids)

    def ids(self) -> list[str]:
        return list(self._ids)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: self._vectors[self._rows[i]].copy() for i in ids if i in self._rows}

    def vectors(self) -> np.ndarray:
        """A copy of all vectors, in the order of :meth:`ids`."""
        return self._vectors.copy()

    def sample_vectors(self, limit: int | None = None) -> np.ndarray:
        """All vectors (a view): they are in memory already, and checking them all costs about what loading did."""
        return self._vectors

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", self._vectors)
        (folder / "ids.json").write_text(json.dumps(self._ids), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, dim: int) -> ExactStore:
        """Read a saved store; unreadable or inconsistent files are an :class:`IndexFolderError` naming the file."""
        try:
            vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        except Exception as exc:  # a damaged header can fail in the parser too (SyntaxError, TokenError, ...)
            raise IndexFolderError(f"{folder / 'vectors.npy'}: unreadable ({_reason(exc)}); rebuild the index") from exc
        ids = _read_ids(folder / "ids.json")
        if vectors.dtype != np.float32 or vectors.shape != (len(ids), dim):
            raise IndexFolderError(
                f"{folder / 'vectors.npy'}: {vectors.dtype} vectors of shape {vectors.shape} for {len(ids)} ids of "
                f"dimension {dim}; rebuild the index"
            )
        store = cls(dim)
        store._buffer = vectors
        store._ids = ids
        store._rows = {identifier: row for row, identifier in enumerate(ids)}
        store.source = folder
        return store


def _read_ids(path: Path) -> list[str]:
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IndexFolderError(f"{path}: unreadable ({_reason(exc)}); rebuild the index") from exc
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise IndexFolderError(f"{path}: not a list of id strings; rebuild the index")
    if len(set(ids)) != len(ids):
        raise IndexFolderError(f"{path}: {len(ids) - len(set(ids))} duplicate id(s); rebuild the index")
    return ids


def refuse_duplicates(ids: Sequence[str]) -> None:
    """One add() with the same id twice is ambiguous (which vector wins?): an error naming them; callers dedupe."""
    if len(set(ids)) != len(ids):
        repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
        more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
        raise ConfigError(f"duplicate ids in one add() call: {', '.join(repeated[:5])}{more}")


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
