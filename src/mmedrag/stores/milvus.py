"""A knowledge index that lives in Milvus: vectors, record payloads and the encoder fingerprint in one collection.

One collection holds one index version; readers go through an alias with the index's name, so a rebuild fills a new
collection and switches the alias atomically (see :mod:`mmedrag.stores.milvus_build`). Rows (primary key ``pk``):

* ``r/<id>``: one per record: its text embedding (a zero vector and ``has_vector`` false when it has no text), the
  filter columns, the record as JSON (``data``) and a hash of its content (``content``, for idempotent resumes);
* ``i/<id>#<n>``: one per image view: its image embedding, the same filter columns, the pixel SHA-256 and the
  difference hash (also split into eight 8-bit ``band`` columns, which format 1 keeps; the near-copy guard reads the
  hashes through :meth:`MilvusIndex.image_hashes`, the same way for every backend);
* ``m/meta``: format, encoder fingerprint and build state, so the fingerprint always travels with the data.

Filters and the leakage guard's exclusions become one boolean expression per query
(:mod:`mmedrag.stores.milvus_filters`), so a filtered search returns ``k`` hits whenever ``k`` rows pass, without
allow-lists shipped from the client.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mmedrag.encoders.base import Fingerprint
from mmedrag.errors import DataError, EncoderMismatchError, IndexFolderError
from mmedrag.stores.milvus_filters import one_of, search_expression
from mmedrag.stores.milvus_search import MAX_LIMIT, CollectionSearch, ensure_loaded, wait_until_indexed
from mmedrag.stores.milvus_spec import MAX_ID, MilvusSpec, check_name, connect, parse_milvus_spec
from mmedrag.types import Exclusion, Record

FORMAT_VERSION = 1
META_PK = "m/meta"
MAX_TEXT = 65_535  # VARCHAR limit of Milvus 2.3, in bytes
MAX_FIELD = 512
BANDS = 8
FILTER_FIELDS = ("domain", "modality", "split", "source", "patient_id", "study_id")
_QUERY_CHUNK = 500


def bands(value: int) -> list[int]:
    """The eight 8-bit bands of a 64-bit difference hash."""
    return [(value >> (8 * i)) & 0xFF for i in range(BANDS)]


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= (1 << 63) else value


def content_hash(record: Record, views: Sequence[tuple[str, int]]) -> str:
    """What a record row must match for a re-run to skip re-encoding it."""
    payload = json.dumps([record.to_dict(), [list(v) for v in views]], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _schema(client: Any, dim: int) -> Any:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_ID + 8)
    schema.add_field("kind", DataType.VARCHAR, max_length=8)
    schema.add_field("record_id", DataType.VARCHAR, max_length=MAX_ID)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("has_vector", DataType.BOOL)
    for name in FILTER_FIELDS:
        # The domain is the partition key: a search filtered on a domain only visits that domain's partitions (less
        # to scan). Recall under restrictive filters on any field comes from the widened beam (milvus_search).
        schema.add_field(name, DataType.VARCHAR, max_length=MAX_FIELD, is_partition_key=name == "domain")
    schema.add_field("sha256", DataType.VARCHAR, max_length=64)
    schema.add_field("dhash", DataType.INT64)
    for band in range(BANDS):
        schema.add_field(f"band{band}", DataType.INT64)
    schema.add_field("content", DataType.VARCHAR, max_length=64)
    schema.add_field("data", DataType.VARCHAR, max_length=MAX_TEXT)
    return schema


def check_record(record: Record) -> None:
    """Raise :class:`DataError` naming the field when a record does not fit the collection's columns."""
    if not record.id or len(record.id.encode()) > MAX_ID:
        raise DataError(f"record {record.id[:80]!r}: id empty or longer than {MAX_ID} bytes; shorten it")
    for name in FILTER_FIELDS:
        if len((getattr(record, name) or "").encode()) > MAX_FIELD:
            raise DataError(f"record {record.id}: {name} longer than {MAX_FIELD} bytes; shorten it")
    if len(json.dumps(record.to_dict(), ensure_ascii=False).encode()) > MAX_TEXT:
        raise DataError(f"record {record.id}: report and metadata exceed Milvus' {MAX_TEXT}-byte limit; trim them")


class MilvusIndex:
    """Records and vectors of one index in a Milvus collection (or the alias in front of it).

    Example:
        >>> index = open_milvus_index("milvus:http://milvus:19530|collection=cxr")  # doctest: +SKIP
        >>> index.count()  # doctest: +SKIP
        377110
    """

    def __init__(self, client: Any, spec: MilvusSpec, name: str, encoder: Fingerprint, meta: dict[str, Any]) -> None:
        self.client, self.spec, self.name, self.encoder, self.meta = client, spec, name, encoder, meta
        self.store_spec = spec.to_dict()
        self.searcher = CollectionSearch(client, spec, name, key="record_id")

    @property
    def path(self) -> str:
        return f"milvus:{self.spec.uri} collection {self.name}"

    def version(self) -> str:
        """The collection the index's alias points to (a rebuild switches it; upserts go into the live one)."""
        described = self.client.describe_collection(self.name)
        return str(described.get("collection_name", self.name))

    # --- lifecycle -------------------------------------------------------------------------------------------------

    @classmethod
    def create_collection(
        cls, client: Any, spec: MilvusSpec, name: str, encoder: Fingerprint, state: str = "building"
    ) -> MilvusIndex:
        """A new, empty collection ``name`` with the vector index and the meta row."""
        check_name(name)
        params = client.prepare_index_params()
        params.add_index("vector", index_type=spec.index_type, metric_type="IP", params=dict(spec.index_params))
        client.create_collection(
            name,
            schema=_schema(client, encoder.dim),
            index_params=params,
            consistency_level=spec.consistency,
            num_partitions=spec.partitions,
        )
        meta = {"format": FORMAT_VERSION, "encoder": encoder.to_dict(), "store": spec.to_dict(), "state": state}
        index = cls(client, spec, name, encoder, meta)
        index.write_meta(state=state, created_at=_now())
        return index

    @classmethod
    def open(cls, client: Any, spec: MilvusSpec, name: str) -> MilvusIndex:
        """The collection (or alias) ``name``; raises when it is missing or not an mmedrag index."""
        if not client.has_collection(name):
            raise IndexFolderError(
                f"no Milvus index {name!r} at {spec.uri}; "
                f"build it with `mmedrag index SOURCE --store milvus:{spec.uri}`"
            )
        ensure_loaded(client, name)
        rows = client.query(name, filter=f'pk == "{META_PK}"', output_fields=["data"], consistency_level="Strong")
        if not rows:
            raise IndexFolderError(f"Milvus collection {name!r} at {spec.uri} is not an mmedrag index (no meta row)")
        meta = json.loads(rows[0]["data"])
        if meta.get("format") != FORMAT_VERSION:
            raise IndexFolderError(
                f"Milvus index {name!r}: format {meta.get('format')} is not {FORMAT_VERSION}; rebuild"
            )
        return cls(client, spec, name, Fingerprint.from_dict(meta["encoder"]), meta)

    @property
    def info(self) -> dict[str, Any]:
        """What the build recorded in the meta row (state, timestamps, the in-scope fit): the protocol's ``info``."""
        return self.meta

    def write_meta(self, **changes: Any) -> None:
        self.meta.update(changes, updated_at=_now())
        row = self._blank(META_PK, "meta", "")
        row["data"] = json.dumps(self.meta)
        self.client.delete(self.name, ids=[META_PK])
        self.client.insert(self.name, [row])

    def check_encoder(self, fingerprint: Fingerprint, partial: bool = False) -> None:
        """Refuse queries (and updates) from an encoder other than the one that built this index (``partial``: the
        fingerprint holds the probes of the modalities a query uses only, see :meth:`Fingerprint.mismatch`)."""
        reason = self.encoder.mismatch(fingerprint, partial=partial)
        if reason:
            raise EncoderMismatchError(
                f"index {self.path} was built with encoder {self.encoder.name} but the query encoder is "
                f"{fingerprint.name} ({reason}); query with the index's encoder or rebuild the index"
            )

    # --- writes ------------------------------------------------------------------------------------------------------

    def _blank(self, pk: str, kind: str, record_id: str) -> dict[str, Any]:
        row: dict[str, Any] = {"pk": pk, "kind": kind, "record_id": record_id, "has_vector": False}
        row["vector"] = np.zeros(self.encoder.dim, dtype=np.float32).tolist()
        row.update({name: "" for name in FILTER_FIELDS}, sha256="", dhash=0, content="", data="")
        row.update({f"band{i}": -1 for i in range(BANDS)})
        return row

    def _record_row(self, record: Record, vector: np.ndarray | None, content: str) -> dict[str, Any]:
        row = self._blank(f"r/{record.id}", "record", record.id)
        row.update({name: getattr(record, name) or "" for name in FILTER_FIELDS}, content=content)
        row["data"] = json.dumps(record.to_dict(), ensure_ascii=False)
        if vector is not None:
            row.update(vector=vector.astype(np.float32).tolist(), has_vector=True)
        return row

    def upsert(
        self,
        records: Sequence[Record],
        text_vectors: Mapping[str, np.ndarray],
        image_vectors: Mapping[str, Sequence[np.ndarray | None]],
        fingerprints: Mapping[str, Sequence[tuple[str, int]]],
    ) -> int:
        """Insert or replace records with their vectors; returns how many already existed.

        Image rows are written before record rows: the record row (with its content hash) is the commit mark a
        resumed build trusts, so a process killed in between redoes the record instead of skipping it (and deletes
        the image rows it had written).
        """
        ids = [r.id for r in records]
        existing = set(self.contents(ids))
        stale = self._image_pks(ids)
        images: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for record in records:
            views = fingerprints.get(record.id, ())
            vectors = list(image_vectors.get(record.id, ()))
            for n, (sha, value) in enumerate(views):
                row = self._blank(f"i/{record.id}#{n}", "image", record.id)
                row.update({name: getattr(record, name) or "" for name in FILTER_FIELDS}, sha256=sha)
                row.update(dhash=_signed(value), **{f"band{i}": b for i, b in enumerate(bands(value))})
                vector = vectors[n] if n < len(vectors) else None
                if vector is not None:  # views are kept without a vector too: the leakage guard needs their hashes
                    row.update(vector=np.asarray(vector, dtype=np.float32).tolist(), has_vector=True)
                images.append(row)
            rows.append(self._record_row(record, text_vectors.get(record.id), content_hash(record, views)))
        # Delete, then insert: Milvus 2.3's upsert puts rows in the wrong partition of a partition-key collection
        # (a domain filter then misses them). Everything stored for these records goes first, so a re-run after a
        # crash at any point never leaves two rows with one key; a reader may miss a replaced record for that moment.
        doomed = stale + [f"r/{i}" for i in existing]
        if doomed:
            self.client.delete(self.name, ids=doomed)
        for start in range(0, len(images), 1000):
            self.client.insert(self.name, images[start : start + 1000])
        self.client.insert(self.name, rows)
        return len(existing)

    def flush(self, wait: bool = True) -> bool:
        """Seal what was written and (``wait``) wait until the server searches it through the vector index.

        Returns False when the index was not serving every row after the wait (searches then still work, with the
        lower recall of Milvus' interim index under restrictive filters: see :func:`wait_until_indexed`).
        """
        self.client.flush(self.name)
        # Milvus Lite serves what it indexed at once (and does not answer the segment query the wait asks).
        return wait_until_indexed(self.client, self.name) if wait and self.spec.remote else True

    def delete(self, ids: Sequence[str]) -> int:
        """Remove records and all their image rows; returns how many existed (unknown ids are ignored)."""
        existing = list(self.contents(ids))
        pks = [f"r/{i}" for i in existing] + self._image_pks(ids)
        if pks:
            self.client.delete(self.name, ids=pks)
        return len(existing)

    # --- reads -------------------------------------------------------------------------------------------------------

    def _query(self, expression: str, fields: list[str], strong: bool = False) -> list[dict[str, Any]]:
        # The write path reads its own writes (resume, replace, delete): always Strong, whatever searches use.
        extra = {"consistency_level": "Strong"} if strong else {}
        return list(self.client.query(self.name, filter=expression, output_fields=fields, limit=MAX_LIMIT, **extra))

    def _chunked(
        self, field_name: str, values: Sequence[str], extra: str, fields: list[str], strong: bool = False
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        unique = sorted(set(values))
        for start in range(0, len(unique), _QUERY_CHUNK):
            clause = one_of(field_name, unique[start : start + _QUERY_CHUNK])
            rows += self._query(f"({extra}) and ({clause})", fields, strong)
        return rows

    def rows(self, pks: Sequence[str], fields: list[str]) -> list[dict[str, Any]]:
        """The rows with these primary keys (e.g. stored image vectors for the in-scope fit), in no set order."""
        return self._chunked("pk", pks, 'kind != ""', fields)

    def _image_pks(self, record_ids: Sequence[str]) -> list[str]:
        return [row["pk"] for row in self._chunked("record_id", record_ids, 'kind == "image"', ["pk"], strong=True)]

    def contents(self, ids: Sequence[str]) -> dict[str, str]:
        """Content hash of each stored record among ``ids`` (read Strong: a resumed build trusts it)."""
        rows = self._chunked("record_id", ids, 'kind == "record"', ["record_id", "content"], strong=True)
        return {row["record_id"]: row["content"] for row in rows}

    def get(self, ids: Sequence[str]) -> dict[str, Record]:
        """The stored records among ``ids``."""
        rows = self._chunked("record_id", ids, 'kind == "record"', ["record_id", "data"])
        found = {}
        for row in rows:
            raw = json.loads(row["data"])
            raw["image_paths"] = tuple(raw.get("image_paths", ()))
            found[row["record_id"]] = Record(**raw)
        return found

    def count(self) -> int:
        """Number of records (read Strong: counts are checked right after writes)."""
        rows = self.client.query(
            self.name, filter='kind == "record"', output_fields=["count(*)"], consistency_level="Strong"
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def ids(self) -> list[str]:
        """Every record id (streamed page by page)."""
        return [row["record_id"] for row in self.iter_rows('kind == "record"', ["record_id"])]

    def iter_rows(self, expression: str, fields: list[str], batch: int = 1000) -> Iterable[dict[str, Any]]:
        """Every row matching ``expression``: one query up to half Milvus' query window, else streamed by a query
        iterator (pymilvus 3's iterator on a 2.3 server can wait indefinitely for its session timestamp right after
        a write; one query does not)."""
        if self.searcher.count(expression, consistency="Strong") < MAX_LIMIT // 2:
            yield from self._query(expression, fields, strong=True)
            return
        iterator = self.client.query_iterator(self.name, batch_size=batch, filter=expression, output_fields=fields)
        try:
            while page := iterator.next():
                yield from page
        finally:
            iterator.close()

    # --- search ------------------------------------------------------------------------------------------------------

    def excluded_records(self, exclusion: Exclusion) -> set[str]:
        """Records holding the query image itself (its pixel hash), and the near copies the guard found."""
        found = set(exclusion.records)
        if exclusion.image_sha256:
            rows = self._chunked("sha256", exclusion.image_sha256, 'kind == "image"', ["record_id"])
            found |= {row["record_id"] for row in rows}
        return found

    def image_hashes(self) -> list[tuple[str, int]]:
        """``(record id, dHash)`` of every image view (the near-copy guard caches them).

        Up to half of Milvus' largest query window they come in one query; past it, streamed by a query iterator
        (pymilvus 3's iterator on a 2.3 server can wait long for its session timestamp: one query avoids it).
        """
        fields = ["record_id", "dhash"]
        small = self.searcher.count('kind == "image"') < MAX_LIMIT // 2
        rows = self._query('kind == "image"', fields) if small else self.iter_rows('kind == "image"', fields)
        return [(row["record_id"], int(row["dhash"]) % (1 << 64)) for row in rows]

    def reopen(self) -> MilvusIndex:
        """A live collection always serves its newest state (a rebuild switches the alias under it)."""
        return self

    def close(self) -> None:
        """Nothing to release: the client is shared per URI for the process (Milvus Lite allows one)."""

    def search_records(
        self,
        vectors: np.ndarray,
        space: str,
        k: int,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        exclusions: Sequence[Exclusion | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Best ``k`` ``(record id, score)`` per query row; ``space`` is ``text`` (reports) or ``image`` (views).

        Filters and exclusions are evaluated by Milvus; image views are collapsed to their best-scoring record.
        """
        kind = "image" if space == "image" else "record"
        guards = list(exclusions) if exclusions is not None else [None] * len(vectors)
        expressions = []
        for guard in guards:
            excluded = self.excluded_records(guard) if guard else set()
            patient, study = (guard.patient_id, guard.study_id) if guard else (None, None)
            expressions.append(search_expression(kind, filters or {}, patient, study, excluded))
        results: list[list[tuple[str, float]]] = [[] for _ in guards]
        groups: dict[str, list[int]] = {}
        for row, expression in enumerate(expressions):
            groups.setdefault(expression, []).append(row)
        filtered = any(bool(value) for value in (filters or {}).values())
        for expression, rows in groups.items():  # one call per distinct expression, all its queries at once
            for row, hits in zip(rows, self._search(vectors[rows], kind, k, expression, filtered), strict=True):
                results[row] = hits
        return results

    def _search(
        self, vectors: np.ndarray, kind: str, k: int, expression: str, filtered: bool
    ) -> list[list[tuple[str, float]]]:
        # A filter on the record's fields (domain, modality, ...) may keep few rows: count them, so the search widens
        # its HNSW beam to keep recall (milvus_search). The leakage guard alone removes a handful: no count needed.
        kept = self.searcher.kept(expression, search_expression(kind, {})) if filtered else None
        return self.searcher.search(vectors, k, expression, fetch_factor=1 if kind == "record" else 4, kept=kept)


def open_milvus_index(spec: str | Mapping[str, Any], name: str | None = None) -> MilvusIndex:
    """Open an existing index from a ``milvus:`` spec (``collection=`` or ``name`` picks the index)."""
    parsed, token = parse_milvus_spec(spec)
    collection = name or parsed.collection
    if not collection:
        raise IndexFolderError(f"name the Milvus index: add |collection=NAME to {parsed.uri!r}")
    return MilvusIndex.open(connect(parsed, token), parsed, collection)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
