"""Assemble a dataset folder from verified downloads: link or copy files, take members out of archives, apply the
catalogue's transforms, check every resulting SHA-256, then write the completion marker and rename into place."""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmedrag.datasets.catalogue import MARKER_NAME, ChecksumError, Dataset, FetchError, FileEntry, Source
from mmedrag.datasets.download import sha256_file
from mmedrag.datasets.verify import catalogue_digest
from mmedrag.io.atomic import fsync_dir


def blob_path(staging: Path, entry: FileEntry) -> Path:
    """Where a file's verified download is kept: named by the SHA-256 it was checked against."""
    return staging / "blobs" / (entry.download_sha256 or entry.sha256)


def archive_path(staging: Path, source: Source) -> Path:
    """Where an archive's verified download is kept (by its SHA-256 when the catalogue pins one)."""
    return staging / "blobs" / (source.sha256 or f"unpinned-{source.name}")


def _json_filter(source: Path, target: Path, spec: dict[str, Any]) -> None:
    """Keep the records of a JSON list whose ``field`` starts with ``prefix`` (the catalogue's ``json_filter``)."""
    records = json.loads(source.read_text(encoding="utf-8"))
    kept = [r for r in records if str(r.get(spec["field"], "")).startswith(spec["prefix"])]
    target.write_text(json.dumps(kept, indent=spec.get("indent")), encoding="utf-8")


def _place(entry: FileEntry, staged: Path, target: Path) -> bool:
    """Put a downloaded file at ``target``; returns True when its bytes must be verified again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.transform:
        if entry.transform.get("kind") != "json_filter":
            raise FetchError(f"{entry.path}: unknown transform {entry.transform.get('kind')!r}; upgrade mmedrag")
        _json_filter(staged, target, entry.transform)
        return True
    try:
        os.link(staged, target)  # same bytes, no copy: already verified
    except OSError:
        shutil.copyfile(staged, target)
        return True
    return False


def _unzip(dataset: Dataset, archive: Path, entries: list[FileEntry], tmp: Path) -> None:
    label = f"{dataset.name}/{Path(dataset.sources[entries[0].source].url).name}"  # type: ignore[index]
    try:
        with zipfile.ZipFile(archive) as handle:
            for entry in entries:
                target = tmp / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(entry.upstream) as member, open(target, "wb") as out:
                    shutil.copyfileobj(member, out, 1 << 20)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(f"{label}: archive is truncated or corrupt ({exc}); deleted, fetch again") from exc


def assemble(dataset: Dataset, staging: Path, tmp: Path) -> None:
    """Build the dataset folder in ``tmp`` from verified downloads, then check every file that was not linked."""
    recheck: list[FileEntry] = []
    by_archive: dict[str, list[FileEntry]] = {}
    for entry in dataset.fetchable:
        if dataset.sources[entry.source].kind == "zip":  # type: ignore[index]
            by_archive.setdefault(entry.source, []).append(entry)  # type: ignore[arg-type]
            recheck.append(entry)
        elif _place(entry, blob_path(staging, entry), tmp / entry.path):
            recheck.append(entry)
    for source, entries in by_archive.items():
        _unzip(dataset, archive_path(staging, dataset.sources[source]), entries, tmp)
    for entry in recheck:
        if sha256_file(tmp / entry.path) != entry.sha256:
            raise ChecksumError(
                f"{dataset.name}/{entry.path}: SHA-256 of the unpacked file does not match the catalogue; "
                "nothing marked usable"
            )


def install(dataset: Dataset, tmp: Path, target: Path, log: Callable[[str], None]) -> None:
    """Write the completion marker into ``tmp``, then rename it to ``target`` (a previous copy is moved aside)."""
    marker = {
        "name": dataset.name,
        "catalogue_digest": catalogue_digest(dataset),
        "files": len(dataset.fetchable),
        "bytes": dataset.size,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(tmp / MARKER_NAME, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(tmp)
    if target.exists():  # an incomplete or outdated copy: kept beside, never deleted
        aside = target.with_name(f"{target.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        target.rename(aside)
        log(f"{target}: moved the previous copy to {aside}; delete it when you no longer need it")
    tmp.rename(target)
    fsync_dir(target.parent)


__all__ = ["archive_path", "assemble", "blob_path", "install"]
