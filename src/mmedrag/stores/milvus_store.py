"""The vector-store contract on Milvus: ids and vectors in one collection, searched by inner product.

``MilvusVectorStore`` is the ``milvus`` kind of :data:`mmedrag.backends.STORES`: ``milvus:./folder`` for Milvus
Lite, ``milvus:http://host:19530`` for a server or cluster (options: ``parse_milvus_spec`` in ``milvus_spec``).
A new store creates its own collection (``collection=NAME`` attaches to a named one instead); ``save`` writes only a
pointer file, so the vectors stay in Milvus. An allow-list is pushed down as ``pk in [...]`` expressions (values
escaped by :mod:`~mmedrag.stores.milvus_filters`), searched in chunks whose top-k are merged, so it filters exactly
however long it is. Searches go through :class:`~mmedrag.stores.milvus_search.CollectionSearch`, the path the
Milvus knowledge index uses too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.errors import DataError, IndexFolderError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.stores.base import SearchResult, check_vectors
from mmedrag.stores.exact import refuse_duplicates
from mmedrag.stores.milvus_filters import one_of
from mmedrag.stores.milvus_search import MAX_LIMIT, CollectionSearch, ensure_loaded, merge_top, wait_until_indexed
from mmedrag.stores.milvus_spec import MAX_ID, MilvusSpec, check_name, connect, parse_milvus_spec

POINTER = "milvus_store.json"  # in a store folder: the URI, collection and index settings (never the token)
_CHUNK = 1_000  # ids per write call and per ``pk in [...]`` expression


def _spec(uri: str, options: dict[str, Any]) -> MilvusSpec:
    """A spec from ``URI|key=value,...`` (the registry's argument) plus keyword options (a saved spec)."""
    location, _, inline = uri.partition("|")
    raw = parse_milvus_spec(f"milvus:{uri}")[0].to_dict() if inline else {"uri": location}
    raw.update({key: value for key, value in options.items() if value is not None})
    return parse_milvus_spec(raw)[0]


class MilvusVectorStore:
    """Vectors in a Milvus collection (``pk`` = the id), with the same contract as the FAISS and numpy stores.

    Args:
        dim: vector dimension.
        uri: a Milvus Lite folder or a server URI, optionally followed by ``|options``.
        **options: ``collection``, ``index_type``, ``index_params``, ``search_params``, ``consistency``.

    Example:
        >>> store = MilvusVectorStore(512, "http://milvus:19530|index=HNSW,ef=128")  # doctest: +SKIP
        >>> store.search(vectors, 10, allow={"r1", "r7"})  # doctest: +SKIP
    """

    kind = "milvus"

    def __init__(self, dim: int, uri: str, **options: Any) -> None:
        self.dim = dim
        self.settings = _spec(uri, options)
        self.client = connect(self.settings)
        self.name = check_name(self.settings.collection or f"mmedrag_vectors_{uuid.uuid4().hex[:12]}")
        if self.client.has_collection(self.name):
            ensure_loaded(self.client, self.name)
            self._check_dim(self.name)
        else:
            self._create()
        self.searcher = CollectionSearch(self.client, self.settings, self.name, key="pk")

    def _create(self) -> None:
        from pymilvus import DataType

        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_ID)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self.client.prepare_index_params()
        settings = self.settings
        params.add_index("vector", index_type=settings.index_type, metric_type="IP", params=dict(settings.index_params))
        self.client.create_collection(
            self.name, schema=schema, index_params=params, consistency_level=settings.consistency
        )

    def _check_dim(self, name: str) -> None:
        fields = self.client.describe_collection(name).get("fields", [])
        dims = [int(f.get("params", {}).get("dim", 0)) for f in fields if f.get("name") == "vector"]
        if dims != [self.dim]:
            raise IndexFolderError(
                f"Milvus collection {name!r} at {self.settings.uri} is not a {self.dim}-d mmedrag vector store "
                "(no 'vector' field of that dimension); pick another collection name"
            )

    def spec(self) -> dict[str, Any]:
        """Constructor arguments for a new, empty store at the same place with the same index settings."""
        spec = self.settings.to_dict()
        for key in ("collection", "partitions"):
            spec.pop(key)
        return {**spec, "dim": self.dim}

    # --- writes ------------------------------------------------------------------------------------------------------

    def add(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """Insert or replace (upsert) the vectors of ``ids``."""
        array = check_vectors(vectors, self.dim, rows=len(ids))
        refuse_duplicates(ids)
        for identifier in ids:
            if not identifier or len(identifier.encode()) > MAX_ID:
                raise DataError(f"id {identifier[:80]!r}: empty or longer than {MAX_ID} bytes; shorten it")
        for start in range(0, len(ids), _CHUNK):
            rows = [
                {"pk": identifier, "vector": vector.tolist()}
                for identifier, vector in zip(ids[start : start + _CHUNK], array[start : start + _CHUNK], strict=True)
            ]
            self.client.upsert(self.name, rows)

    def delete(self, ids: Collection[str]) -> int:
        """Remove ``ids`` (unknown ones are ignored); returns how many were stored."""
        existing = self._existing(ids)
        for start in range(0, len(existing), _CHUNK):
            self.client.delete(self.name, ids=existing[start : start + _CHUNK])
        return len(existing)

    def vectors_of(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        unique = sorted(set(ids))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(unique), _CHUNK):
            rows = self.client.query(
                self.name, filter=one_of("pk", unique[start : start + _CHUNK]), output_fields=["pk", "vector"]
            )
            found.update({row["pk"]: np.asarray(row["vector"], dtype=np.float32) for row in rows})
        return found

    def _existing(self, ids: Iterable[str]) -> list[str]:
        unique = sorted(set(ids))
        found: list[str] = []
        for start in range(0, len(unique), _CHUNK):
            rows = self.client.query(
                self.name,
                filter=one_of("pk", unique[start : start + _CHUNK]),
                output_fields=["pk"],
                consistency_level="Strong",  # a delete right after an add must see it
            )
            found += [row["pk"] for row in rows]
        return found

    # --- reads -------------------------------------------------------------------------------------------------------

    def search(self, vectors: np.ndarray, k: int, allow: Collection[str] | None = None) -> SearchResult:
        """Top-``k`` ``(id, score)`` per query row, best first; ``allow`` restricts the candidates to those ids."""
        queries = check_vectors(vectors, self.dim)
        k = min(k, MAX_LIMIT)
        if k <= 0 or not len(queries) or (allow is not None and not allow):
            return [[] for _ in range(len(queries))]
        if allow is None:
            return self.searcher.search(queries, k, "")
        unique = sorted(set(allow))
        parts = []
        for start in range(0, len(unique), _CHUNK):  # one search per chunk of ids, merged: exact for any length
            chunk = unique[start : start + _CHUNK]
            kept = self.searcher.kept("", "", matching=len(chunk))
            parts.append(self.searcher.search(queries, k, one_of("pk", chunk), kept=kept))
        return parts[0] if len(parts) == 1 else merge_top(parts, k, len(queries))

    def count(self) -> int:
        return self.searcher.count("", consistency="Strong")

    def ids(self) -> list[str]:
        iterator = self.client.query_iterator(self.name, batch_size=_CHUNK, filter="", output_fields=["pk"])
        found: list[str] = []
        try:
            while page := iterator.next():
                found += [row["pk"] for row in page]
        finally:
            iterator.close()
        return found

    # --- persistence -------------------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Seal the collection, wait until it is searched through its index, and write the pointer file."""
        self.client.flush(self.name)
        if self.settings.remote:  # Milvus Lite has no hand-off to wait for
            wait_until_indexed(self.client, self.name)
        atomic_write_json(Path(folder) / POINTER, {**self.settings.to_dict(), "collection": self.name})

    @classmethod
    def load(cls, folder: Path, dim: int, **_spec: Any) -> MilvusVectorStore:
        """The store a :meth:`save` pointed ``folder`` at (its own pointer wins over the saved spec's settings)."""
        path = Path(folder) / POINTER
        try:
            pointer = dict(json.loads(path.read_text(encoding="utf-8")))
            uri, collection = str(pointer.pop("uri")), str(pointer["collection"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexFolderError(f"{path}: Milvus store pointer unreadable ({exc}); rebuild the index") from exc
        pointer.pop("kind", None)
        settings, _ = parse_milvus_spec({"uri": uri, **pointer})
        if not connect(settings).has_collection(collection):
            raise IndexFolderError(f"{path}: Milvus collection {collection!r} is gone from {uri}; rebuild the index")
        return cls(dim, uri, **{**pointer, "collection": collection})
