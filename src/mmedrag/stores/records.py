"""The record store: id -> Record in SQLite (stdlib), with the columns the retriever filters on.

Also keeps each record's image fingerprints (pixel SHA-256 and difference hash) so the leakage guard can exclude
exact duplicates of a query image without opening any knowledge-base image again.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmedrag.errors import IndexFolderError
from mmedrag.types import Record

FILTER_COLUMNS = ("domain", "modality", "split", "source")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    domain TEXT, modality TEXT, split TEXT, source TEXT, patient_id TEXT, study_id TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_patient ON records(patient_id);
CREATE INDEX IF NOT EXISTS records_study ON records(study_id);
CREATE TABLE IF NOT EXISTS images (
    record_id TEXT NOT NULL REFERENCES records(id) ON DELETE CASCADE,
    view INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    dhash INTEGER NOT NULL,
    PRIMARY KEY (record_id, view)
);
CREATE INDEX IF NOT EXISTS images_sha ON images(sha256);
"""

_MAX_SQL_VARS = 900  # SQLite's default limit on bound parameters is 999


def _record_from_row(identifier: str, data: str, source: str) -> Record:
    """Rebuild a record from its JSON row; a malformed row is an :class:`IndexFolderError` naming file and id."""
    try:
        raw = json.loads(data)
        if not isinstance(raw, dict) or raw.get("id") != identifier or not isinstance(raw.get("text", ""), str):
            raise ValueError("not the JSON object of this record")
        if not isinstance(raw.get("metadata", {}), dict) or not isinstance(raw.get("image_paths", []), list):
            raise ValueError("'metadata' must be an object and 'image_paths' a list")
        raw["image_paths"] = tuple(raw.get("image_paths", ()))
        return Record(**raw)
    except (ValueError, TypeError) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        raise IndexFolderError(f"{source}: record {identifier!r} is malformed ({reason}); rebuild the index") from exc


class RecordStore:
    """Records in an SQLite database: in memory while being edited, a file when saved.

    Use :meth:`open` for a saved file (read-only, nothing copied) and :meth:`in_memory` for a writable copy. A
    damaged database or row is an :class:`IndexFolderError` naming the file, never an sqlite3 traceback.
    """

    def __init__(self, connection: sqlite3.Connection, source: str = "record store") -> None:
        self._db = connection
        self._source = source
        self._db.execute("PRAGMA foreign_keys = ON")

    @classmethod
    def in_memory(cls, source: Path | None = None) -> RecordStore:
        """A writable in-memory store, optionally a copy of the database file ``source``."""
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            if source is not None:
                with contextlib.closing(sqlite3.connect(_read_only_uri(source), uri=True)) as disk:
                    disk.backup(connection)
            connection.executescript(_SCHEMA)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable text in a damaged page
            raise IndexFolderError(f"{source}: record database unreadable ({exc}); rebuild the index") from exc
        return cls(connection)

    @classmethod
    def open(cls, path: Path) -> RecordStore:
        """The saved database at ``path``, read-only (versions never change once saved, so SQLite skips locking)."""
        if not path.is_file():
            raise IndexFolderError(f"{path}: record database missing; rebuild the index")
        try:
            connection = sqlite3.connect(_read_only_uri(path), uri=True, check_same_thread=False)
            connection.execute("SELECT count(*) FROM records").fetchone()
        except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable text in a damaged page
            raise IndexFolderError(f"{path}: record database unreadable ({exc}); rebuild the index") from exc
        return cls(connection, source=str(path))

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a read query; SQLite errors (a damaged page found mid-file) become one-line errors naming the file."""
        try:
            return self._db.execute(sql, params).fetchall()
        except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable text in a damaged page
            raise IndexFolderError(f"{self._source}: record database damaged ({exc}); rebuild the index") from exc

    def problems(self) -> list[str]:
        """Everything wrong with the database: SQLite's integrity check, then every row that does not parse."""
        found = [f"{self._source}: {row[0]}" for row in self._rows("PRAGMA integrity_check") if row[0] != "ok"]
        if found:
            return found[:10]
        for identifier, data in self._rows("SELECT id, data FROM records ORDER BY rowid"):
            try:
                _record_from_row(identifier, data, self._source)
            except IndexFolderError as exc:
                found.append(str(exc))
        return found[:10]

    def save(self, path: Path) -> None:
        """Write the whole database to ``path`` (a new file; the index folder makes the switch atomic)."""
        path.unlink(missing_ok=True)
        with sqlite3.connect(path) as disk:
            self._db.backup(disk)
        disk.close()

    def close(self) -> None:
        self._db.close()

    def upsert(self, records: Iterable[Record], fingerprints: Mapping[str, Sequence[tuple[str, int]]]) -> int:
        """Insert or replace records; ``fingerprints[id]`` lists ``(sha256, dhash)`` per image view."""
        rows = [
            (r.id, r.domain, r.modality, r.split, r.source, r.patient_id, r.study_id, json.dumps(r.to_dict()))
            for r in records
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO records (id, domain, modality, split, source, patient_id, study_id, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            for record_id, views in fingerprints.items():
                self._db.execute("DELETE FROM images WHERE record_id = ?", (record_id,))
                self._db.executemany(
                    "INSERT INTO images (record_id, view, sha256, dhash) VALUES (?, ?, ?, ?)",
                    [(record_id, view, sha, _signed(dh)) for view, (sha, dh) in enumerate(views)],
                )
        return len(rows)

    def delete(self, ids: Collection[str]) -> int:
        removed = 0
        with self._db:
            for chunk in _chunks(list(ids)):
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM images WHERE record_id IN ({marks})", chunk)
                removed += self._db.execute(f"DELETE FROM records WHERE id IN ({marks})", chunk).rowcount
        return removed

    def get(self, ids: Sequence[str]) -> dict[str, Record]:
        found: dict[str, Record] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for identifier, data in self._rows(f"SELECT id, data FROM records WHERE id IN ({marks})", chunk):
                found[identifier] = _record_from_row(identifier, data, self._source)
        return found

    def __contains__(self, identifier: object) -> bool:
        return bool(self._rows("SELECT 1 FROM records WHERE id = ?", (identifier,)))

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM records")[0][0])

    def fingerprint_count(self) -> int:
        """Rows of the image-fingerprint table (one per indexed image view)."""
        return int(self._rows("SELECT count(*) FROM images")[0][0])

    def ids(self) -> list[str]:
        return [row[0] for row in self._rows("SELECT id FROM records ORDER BY rowid")]

    def iter_records(self) -> Iterator[Record]:
        for identifier, data in self._rows("SELECT id, data FROM records ORDER BY rowid"):
            yield _record_from_row(identifier, data, self._source)

    def ids_where(self, **filters: str | Sequence[str] | None) -> set[str]:
        """Ids whose filter columns equal the given value (or one of the given values)."""
        clauses: list[str] = []
        params: list[str] = []
        for column, value in filters.items():
            if column not in FILTER_COLUMNS:
                raise ValueError(f"cannot filter on {column!r}; use one of {FILTER_COLUMNS}")
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{column} IN ({','.join('?' * len(values))})")
            params.extend(values)
        where = " AND ".join(clauses) or "1"
        return {row[0] for row in self._rows(f"SELECT id FROM records WHERE {where}", params)}

    def related_ids(self, patient_id: str | None, study_id: str | None, image_sha256: Sequence[str] = ()) -> set[str]:
        """Records of the same patient or study, or holding an exactly identical image: the leakage guard's list."""
        found: set[str] = set()
        if patient_id:
            found |= {r[0] for r in self._rows("SELECT id FROM records WHERE patient_id = ?", (patient_id,))}
        if study_id:
            found |= {r[0] for r in self._rows("SELECT id FROM records WHERE study_id = ?", (study_id,))}
        for chunk in _chunks(list(image_sha256)):
            marks = ",".join("?" * len(chunk))
            found |= {r[0] for r in self._rows(f"SELECT record_id FROM images WHERE sha256 IN ({marks})", chunk)}
        return found

    def dhashes(self) -> list[tuple[str, int]]:
        """All ``(record id, dhash)`` pairs, for near-duplicate checks."""
        return [(rid, _unsigned(dh)) for rid, dh in self._rows("SELECT record_id, dhash FROM images")]

    def image_fingerprints(self) -> dict[str, list[tuple[str, int]]]:
        """``(sha256, dhash)`` per image view of every record, views in order (for copying an index elsewhere)."""
        found: dict[str, list[tuple[str, int]]] = {}
        for rid, sha, dh in self._db.execute("SELECT record_id, sha256, dhash FROM images ORDER BY record_id, view"):
            found.setdefault(rid, []).append((sha, _unsigned(dh)))
        return found

    def counts_by(self, column: str) -> dict[str, int]:
        if column not in FILTER_COLUMNS:
            raise ValueError(f"cannot count by {column!r}; use one of {FILTER_COLUMNS}")
        rows = self._rows(f"SELECT coalesce({column}, ''), count(*) FROM records GROUP BY 1 ORDER BY 2 DESC")
        return {value or "(none)": int(count) for value, count in rows}


def _read_only_uri(path: Path) -> str:
    # as_uri() percent-encodes the path, so names with '?' or '#' cannot be read as URI parameters.
    return f"{path.resolve().as_uri()}?mode=ro&immutable=1"


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _MAX_SQL_VARS):
        yield items[start : start + _MAX_SQL_VARS]


def _signed(value: int) -> int:
    """SQLite integers are signed 64-bit; store a 64-bit hash in two's complement."""
    return value - (1 << 64) if value >= (1 << 63) else value


def _unsigned(value: int) -> int:
    return value + (1 << 64) if value < 0 else value
