"""The index folder: records (SQLite), vector spaces and the encoder fingerprint, saved atomically.

Layout::

    DIR/CURRENT          name of the live version folder (v-NNNNNN), replaced atomically (os.replace)
    DIR/v-000007/        index.json, records.sqlite, text/ and image/ vector stores
    DIR/.lock            held by the one writer at a time, from load to save

A save writes a complete new version folder, fsyncs it, records every file's SHA-256 and size in ``index.json``, then
flips ``CURRENT``; a process killed at any point leaves the previous version loadable, and the next writer removes
the unfinished folder. Writers serialise on the lock (:meth:`FolderIndex.open_for_write`); readers take no lock
and never fail because of a writer: superseded versions stay for a grace period (:mod:`mmedrag.stores.versions`).
Damage is detected on load and by :meth:`FolderIndex.verify` (:mod:`mmedrag.stores.integrity`), never served.
Spaces: ``text`` holds report embeddings (image->report and text->report search), ``image`` one vector per image view
(image->image search).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.backends import STORES
from mmedrag.errors import ConfigError, EncoderMismatchError, IndexFolderError
from mmedrag.io.atomic import atomic_write_json, atomic_write_text, fsync_dir
from mmedrag.stores import integrity, versions
from mmedrag.stores.base import VectorStore, create_store, load_store
from mmedrag.stores.folder_search import record_of_view, search_folder, view_id
from mmedrag.stores.records import RecordStore
from mmedrag.types import Exclusion, Fingerprint, Record

__all__ = ["FORMAT_VERSION", "SPACES", "FolderIndex", "record_of_view", "view_id"]

FORMAT_VERSION = 1
SPACES = ("text", "image")
_META = versions.META
_RECORDS = "records.sqlite"
_LOAD_ATTEMPTS = 5


class FolderIndex:
    """Records, their vectors and the fingerprint of the encoder that made them.

    Example:
        >>> index = FolderIndex.load("indexes/medpix2")  # doctest: +SKIP
        >>> index.records.count()  # doctest: +SKIP
        501
        >>> with FolderIndex.open_for_write("indexes/medpix2") as index:  # doctest: +SKIP
        ...     index.delete(["medpix:1"])
        ...     index.save()
    """

    # Superseded versions older than the previous one are removed once it has been live this long (seconds).
    grace_seconds: float = versions.GRACE_SECONDS

    def __init__(
        self,
        path: Path,
        encoder: Fingerprint,
        store_spec: dict[str, Any],
        records: RecordStore,
        spaces: dict[str, VectorStore],
        info: dict[str, Any] | None = None,
        base: str | None = None,
    ) -> None:
        self.path, self.encoder, self.store_spec = path, encoder, store_spec
        self.records, self.spaces = records, spaces
        self.info = info or {}
        self.base = base  # the version this copy was loaded from (None: created empty)
        self.checksums: integrity.BackgroundCheck | None = None  # a large version's checksums, checked after load

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / versions.CURRENT).is_file()

    @staticmethod
    def claims(location: str | Path) -> bool:
        """An index folder is one with a ``CURRENT`` pointer (see :class:`mmedrag.stores.locate.IndexKind`)."""
        return not str(location).startswith("milvus:") and FolderIndex.exists(location)

    # --- the KnowledgeIndex protocol (mmedrag.stores.locate) ----------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    def search_records(
        self,
        vectors: np.ndarray,
        space: str,
        k: int,
        filters: Mapping[str, str | Sequence[str]] | None = None,
        exclusions: Sequence[Exclusion | None] | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Best ``k`` ``(record id, score)`` per query row; filters and exclusions become allow-lists here."""
        self._refuse_damage()
        return search_folder(self.records, self.spaces, vectors, space, k, filters, exclusions)

    def get(self, ids: Sequence[str]) -> dict[str, Record]:
        self._refuse_damage()
        return self.records.get(ids)

    def _refuse_damage(self) -> None:
        if self.checksums is not None and self.checksums.problem:
            raise IndexFolderError(self.checksums.problem)

    def count(self) -> int:
        return self.records.count()

    def ids(self) -> list[str]:
        return self.records.ids()

    def image_hashes(self) -> list[tuple[str, int]]:
        return self.records.dhashes()

    def version(self) -> str:
        return self.base or "(unsaved)"

    def reopen(self) -> FolderIndex:
        """The folder's live version, loaded afresh (this object keeps serving the version it holds)."""
        return FolderIndex.load(self.path)

    def close(self) -> None:
        self.records.close()

    @classmethod
    def create(cls, path: str | Path, encoder: Fingerprint, store: str | dict[str, Any]) -> FolderIndex:
        """An empty, writable index for ``encoder`` (nothing is written until :meth:`save`)."""
        spec = STORES.parse(store)
        spaces = {name: create_store(spec, encoder.dim) for name in SPACES}
        return cls(Path(path), encoder, spec, RecordStore.in_memory(), spaces, info={"created_at": _now()})

    @classmethod
    def load(cls, path: str | Path, writable: bool = False, full_check: bool = False) -> FolderIndex:
        """Open the live version, checked (see :mod:`mmedrag.stores.integrity`); damage is an IndexFolderError.

        Args:
            writable: copy the records into memory so they can be changed and saved.
            full_check: verify every file's checksum, however large the index (writers always do).
        """
        root = Path(path)
        for attempt in range(_LOAD_ATTEMPTS):
            version = versions.current_version(root)
            try:
                return cls._load_version(root, version, writable, full_check)
            except (IndexFolderError, OSError) as exc:
                # A writer replaced CURRENT and removed this version while it was being opened: open the new one.
                if attempt + 1 < _LOAD_ATTEMPTS and versions.live_name(root) != version.name:
                    continue
                if isinstance(exc, IndexFolderError):
                    raise
                raise IndexFolderError(f"{version}: unreadable ({exc}); rebuild the index") from exc
        raise AssertionError("unreachable")

    @classmethod
    def _load_version(cls, root: Path, version: Path, writable: bool, full_check: bool) -> FolderIndex:
        meta = integrity.read_meta(version)
        if meta.get("format") != FORMAT_VERSION:
            raise IndexFolderError(f"{root}: index format {meta.get('format')} is not {FORMAT_VERSION}; rebuild it")
        files = meta.get("files")
        full = True
        if files is not None:  # indexes saved before checksums were recorded have none to check
            full = full_check or integrity.total_bytes(files) <= integrity.LOAD_CHECKSUM_BYTES
            problems = integrity.file_problems(version, files, full=full)
            if problems:
                more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
                raise IndexFolderError(f"{problems[0]}{more}; restore the index folder or rebuild it")
        for part in (_RECORDS, *SPACES):  # indexes saved without checksums get this much confinement too
            if (version / part).is_symlink():
                raise IndexFolderError(f"{version / part}: is a symbolic link; a version's files must be inside it")
        encoder = Fingerprint.from_dict(meta["encoder"])
        try:
            spec = STORES.parse(meta["store"])
        except ConfigError as exc:
            raise IndexFolderError(f"{version / _META}: {exc}; rebuild the index") from exc
        if spec["kind"] not in STORES.names():
            # An index folder is data: it may name a registered store, never code to import (package.module:X).
            raise IndexFolderError(f"{version / _META}: store kind {spec['kind']!r} is not a registered store")
        records = RecordStore.in_memory(version / _RECORDS) if writable else RecordStore.open(version / _RECORDS)
        spaces = {name: load_store(spec, version / name, encoder.dim) for name in SPACES}
        index = cls(root, encoder, spec, records, spaces, info=meta.get("info", {}), base=version.name)
        index._check_loaded(version, meta)
        if files is not None and not full:  # too large to checksum before serving: checked in the background
            index.checksums = integrity.BackgroundCheck(version, files)
        return index

    def _check_loaded(self, version: Path, meta: dict[str, Any]) -> None:
        """Counts against index.json and cheap vector invariants; arms the impossible-score guard of each space."""
        counts = meta.get("counts", {})
        found = {"records": self.records.count(), "fingerprints": self.records.fingerprint_count()}
        found |= {name: store.count() for name, store in self.spaces.items()}
        for name, number in found.items():
            if name in counts and counts[name] != number:
                where = version / (_RECORDS if name in ("records", "fingerprints") else name)
                raise IndexFolderError(
                    f"{where}: holds {number} {name}, index.json says {counts[name]}; restore the folder or rebuild"
                )
        for name, store in self.spaces.items():
            expect_unit = bool(meta.get("spaces", {}).get(name, {}).get("unit_norm", False))
            problem = integrity.vector_problem(_sample(store), expect_unit)
            if problem:
                raise IndexFolderError(f"{version / name}: {problem}; the vectors are damaged, rebuild the index")
            if expect_unit and getattr(store, "lossless", False) and hasattr(store, "max_score"):
                store.max_score = 1.0 + integrity.NORM_TOLERANCE

    @classmethod
    @contextlib.contextmanager
    def open_for_write(
        cls,
        path: str | Path,
        encoder: Fingerprint | None = None,
        store: str | dict[str, Any] | None = None,
        *,
        rebuild: bool = False,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[FolderIndex]:
        """Hold the writer lock from load to save: yields the live version (checksums verified) as a writable copy.

        A new empty index for ``encoder`` and ``store`` is yielded when none exists or ``rebuild`` is set. Another
        writer waits (``on_wait`` is told why) or, with ``wait=False``, gets an :class:`IndexFolderError`.
        Call :meth:`save` inside the block; leaving it without saving changes nothing.
        """
        root = Path(path)
        if encoder is None and not cls.exists(root):
            raise IndexFolderError(f"{root}: no index found; build it with `mmedrag index`")
        with versions.writer_lock(root, wait=wait, on_wait=on_wait):
            if cls.exists(root) and not rebuild:
                index = cls.load(root, writable=True, full_check=True)
            elif encoder is None or store is None:
                raise IndexFolderError(f"{root}: no index found; build it with `mmedrag index`")
            else:
                index = cls.create(root, encoder, store)
            yield index

    def check_encoder(self, fingerprint: Fingerprint, partial: bool = False) -> None:
        """Refuse queries from an encoder other than the one that built this index (``partial``: see
        :meth:`Fingerprint.mismatch`)."""
        reason = self.encoder.mismatch(fingerprint, partial=partial)
        if reason:
            raise EncoderMismatchError(
                f"index {self.path} was built with encoder {self.encoder.name} but the query encoder is "
                f"{fingerprint.name} ({reason}); query with the index's encoder or rebuild the index"
            )

    def save(self) -> Path:
        """Write a new version and make it live atomically; returns the version folder.

        Takes the writer lock unless this thread holds it already (:meth:`open_for_write`). A copy loaded outside
        the lock is refused if another writer saved since it was loaded, so no one's records are silently lost.
        """
        with versions.writer_lock(self.path):
            try:
                live = versions.live_name(self.path)
            except IndexFolderError:
                if self.base is not None:  # an update must build on the live version, which cannot be found
                    raise
                return self._commit()  # a rebuild over a broken CURRENT: replace the pointer, remove no folder
            if self.base is not None and live != self.base:
                raise IndexFolderError(
                    f"{self.path}: changed since this copy was loaded ({self.base} -> {live}); load it again under "
                    "the writer lock (FolderIndex.open_for_write) and redo the change"
                )
            versions.remove_unfinished(self.path, live)
            version = self._commit()
            versions.prune_superseded(self.path, version.name, live, grace=self.grace_seconds)
        return version

    def _commit(self) -> Path:
        """Write a complete new version folder, then point CURRENT at it (replacing the file, never following it)."""
        version = self.path / versions.version_name(versions.next_number(self.path))
        try:
            version.mkdir()
            self._write(version)
            atomic_write_text(self.path / versions.CURRENT, version.name + "\n")
        except BaseException:
            versions.remove_version(self.path, version)
            raise
        self.base = version.name
        return version

    def _write(self, version: Path) -> None:
        self.records.save(version / _RECORDS)
        for name, store in self.spaces.items():
            store.save(version / name)
        self.info["updated_at"] = _now()
        meta = self.meta()
        meta["files"] = integrity.seal_files(version)
        meta["spaces"] = {name: {"unit_norm": integrity.unit_norm(_sample(s))} for name, s in self.spaces.items()}
        meta["meta_sha256"] = integrity.meta_digest(meta)
        atomic_write_json(version / _META, meta)
        fsync_dir(version)

    def meta(self) -> dict[str, Any]:
        counts = {"records": self.records.count(), "fingerprints": self.records.fingerprint_count()}
        return {
            "format": FORMAT_VERSION,
            "encoder": self.encoder.to_dict(),
            "store": self.store_spec,
            "counts": {**counts, **{n: s.count() for n, s in self.spaces.items()}},
            "info": self.info,
        }

    def delete(self, ids: list[str]) -> int:
        """Remove records and all their vectors (call :meth:`save` to persist)."""
        self.spaces["text"].delete(ids)
        doomed = set(ids)
        self.spaces["image"].delete([i for i in self.spaces["image"].ids() if record_of_view(i) in doomed])
        return self.records.delete(ids)

    @classmethod
    def verify(cls, path: str | Path) -> dict[str, Any]:
        """Check the live version in full: every checksum, SQLite's integrity check, every record row, and that
        every vector belongs to a record. Returns ``{"ok", "problems", "warnings", ...}``; raises nothing for damage.
        """
        root = Path(path)
        pointer = root / versions.CURRENT
        if not pointer.exists() and not pointer.is_symlink():
            versions.current_version(root)  # no index here at all: an error naming the folder, not damage
        try:
            version = versions.current_version(root)
        except IndexFolderError as exc:  # CURRENT itself is damaged: damage, reported like any other (exit 1)
            return {"index": str(root), "version": None, "problems": [str(exc)], "warnings": [], "ok": False}
        report: dict[str, Any] = {"index": str(root), "version": version.name, "problems": [], "warnings": []}
        try:
            meta = integrity.read_meta(version)
        except IndexFolderError as exc:
            return {**report, "ok": False, "problems": [str(exc)]}
        files = meta.get("files")
        report |= {"files": len(files or {}), "bytes": integrity.total_bytes(files or {}), "counts": meta.get("counts")}
        if files is None:
            report["warnings"].append("no checksums recorded (saved by an older mmedrag); re-save the index")
        else:
            report["problems"] += integrity.file_problems(version, files, full=True)
        if not report["problems"]:
            try:
                index = cls._load_version(root, version, writable=False, full_check=False)
                report["problems"] += index.records.problems() + index._orphan_problems(version)
            except IndexFolderError as exc:
                report["problems"].append(str(exc))
        return {**report, "ok": not report["problems"]}

    def _orphan_problems(self, version: Path) -> list[str]:
        known = set(self.records.ids())
        problems = []
        for name, store in self.spaces.items():
            orphans = [i for i in store.ids() if (record_of_view(i) if name == "image" else i) not in known]
            if orphans:
                problems.append(f"{version / name}: {len(orphans)} vector(s) of no record, e.g. {orphans[0]!r}")
        return problems


def _sample(store: VectorStore) -> Any:
    sample = getattr(store, "sample_vectors", None)
    return sample(integrity.SAMPLE_ROWS) if sample is not None else None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
