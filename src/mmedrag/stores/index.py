"""The index folder: records (SQLite), vector spaces and the encoder fingerprint, saved atomically.

Layout::

    DIR/CURRENT          name of the live version folder, replaced atomically (os.replace)
    DIR/v-000007/        index.json, records.sqlite, text/ and image/ vector stores
    DIR/.lock            held by the one writer at a time

A save writes a complete new version folder, fsyncs it, then flips ``CURRENT``; a process killed at any point leaves
the previous version loadable, and the next writer removes the unfinished folder. Spaces: ``text`` holds report
embeddings (image->report and text->report search), ``image`` one vector per image view (image->image search).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.backends import STORES
from mmedrag.errors import EncoderMismatchError, IndexFolderError
from mmedrag.io.atomic import atomic_write_json, atomic_write_text, fsync_dir
from mmedrag.stores.base import VectorStore, create_store, load_store
from mmedrag.stores.records import RecordStore
from mmedrag.types import Fingerprint

FORMAT_VERSION = 1
SPACES = ("text", "image")
_CURRENT = "CURRENT"
_META = "index.json"
_RECORDS = "records.sqlite"


def view_id(record_id: str, view: int) -> str:
    """Id of one image view of a record in the ``image`` space."""
    return f"{record_id}#{view}"


def record_of_view(identifier: str) -> str:
    return identifier.rsplit("#", 1)[0]


class KnowledgeIndex:
    """Records, their vectors and the fingerprint of the encoder that made them.

    Example:
        >>> index = KnowledgeIndex.load("indexes/medpix2")  # doctest: +SKIP
        >>> index.records.count()  # doctest: +SKIP
        501
    """

    def __init__(
        self,
        path: Path,
        encoder: Fingerprint,
        store_spec: dict[str, Any],
        records: RecordStore,
        spaces: dict[str, VectorStore],
        info: dict[str, Any] | None = None,
    ) -> None:
        self.path, self.encoder, self.store_spec = path, encoder, store_spec
        self.records, self.spaces = records, spaces
        self.info = info or {}

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / _CURRENT).is_file()

    @classmethod
    def create(cls, path: str | Path, encoder: Fingerprint, store: str | dict[str, Any]) -> KnowledgeIndex:
        """An empty, writable index for ``encoder`` (nothing is written until :meth:`save`)."""
        spec = STORES.parse(store)
        spaces = {name: create_store(spec, encoder.dim) for name in SPACES}
        return cls(Path(path), encoder, spec, RecordStore.in_memory(), spaces, info={"created_at": _now()})

    @classmethod
    def load(cls, path: str | Path, writable: bool = False) -> KnowledgeIndex:
        """Open the live version; ``writable`` copies the records into memory so they can be changed and saved."""
        root = Path(path)
        version = _current_version(root)
        try:
            meta = json.loads((version / _META).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexFolderError(f"{version}: index metadata unreadable ({exc}); rebuild the index") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise IndexFolderError(f"{root}: index format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
        encoder = Fingerprint.from_dict(meta["encoder"])
        spec = meta["store"]
        records = RecordStore.in_memory(version / _RECORDS) if writable else RecordStore.open(version / _RECORDS)
        spaces = {name: load_store(spec, version / name, encoder.dim) for name in SPACES}
        return cls(root, encoder, spec, records, spaces, info=meta.get("info", {}))

    def check_encoder(self, fingerprint: Fingerprint) -> None:
        """Refuse queries from an encoder other than the one that built this index."""
        reason = self.encoder.mismatch(fingerprint)
        if reason:
            raise EncoderMismatchError(
                f"index {self.path} was built with encoder {self.encoder.name} but the query encoder is "
                f"{fingerprint.name} ({reason}); query with the index's encoder or rebuild the index"
            )

    def save(self) -> Path:
        """Write a new version and make it live atomically; returns the version folder."""
        self.path.mkdir(parents=True, exist_ok=True)
        with _writer_lock(self.path):
            _remove_unfinished(self.path)
            version = self.path / f"v-{_next_number(self.path):06d}"
            try:
                version.mkdir()
                self.records.save(version / _RECORDS)
                for name, store in self.spaces.items():
                    store.save(version / name)
                self.info["updated_at"] = _now()
                atomic_write_json(version / _META, self.meta())
                for file in sorted(version.rglob("*")):
                    if file.is_file():
                        with file.open("rb+") as handle:
                            os.fsync(handle.fileno())
                fsync_dir(version)
                previous = (self.path / _CURRENT).read_text().strip() if self.exists(self.path) else None
                atomic_write_text(self.path / _CURRENT, version.name + "\n")
            except BaseException:
                shutil.rmtree(version, ignore_errors=True)
                raise
            if previous and previous != version.name:
                shutil.rmtree(self.path / previous, ignore_errors=True)
        return version

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "encoder": self.encoder.to_dict(),
            "store": self.store_spec,
            "counts": {"records": self.records.count(), **{n: s.count() for n, s in self.spaces.items()}},
            "info": self.info,
        }

    def delete(self, ids: list[str]) -> int:
        """Remove records and all their vectors (call :meth:`save` to persist)."""
        self.spaces["text"].delete(ids)
        doomed = set(ids)
        self.spaces["image"].delete([i for i in self.spaces["image"].ids() if record_of_view(i) in doomed])
        return self.records.delete(ids)


def _current_version(root: Path) -> Path:
    pointer = root / _CURRENT
    if not pointer.is_file():
        hint = "build it with `mmedrag index`" if not root.exists() else "it is not an mmedrag index folder"
        raise IndexFolderError(f"{root}: no index found; {hint}")
    version = root / pointer.read_text(encoding="utf-8").strip()
    if not version.is_dir():
        raise IndexFolderError(f"{root}: CURRENT points to missing {version.name}; rebuild the index")
    return version


def _next_number(root: Path) -> int:
    numbers = [int(p.name[2:]) for p in root.glob("v-*") if p.name[2:].isdigit()]
    return max(numbers, default=0) + 1


def _remove_unfinished(root: Path) -> None:
    """Delete version folders that CURRENT does not name: leftovers of a writer that was killed."""
    live = (root / _CURRENT).read_text().strip() if (root / _CURRENT).is_file() else None
    for folder in root.glob("v-*"):
        if folder.name != live:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _writer_lock(root: Path) -> Iterator[None]:
    with (root / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexFolderError(f"{root}: another process is writing this index; wait for it to finish") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
