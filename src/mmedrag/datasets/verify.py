"""Is a dataset folder usable? A completion marker written by ``fetch``, a quick size check, or a full SHA-256 check.

A fetch writes ``.mmedrag-dataset.json`` into the folder last, before the folder is renamed into place, so a
half-finished fetch never looks like a dataset. Folders prepared by hand (a copy made elsewhere) carry no marker:
they count as present when every catalogued file is there with its size, and ``mmedrag data verify`` checks every
byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag.datasets.catalogue import MARKER_NAME, Dataset, FetchError
from mmedrag.datasets.download import sha256_file
from mmedrag.progress import track


def catalogue_digest(dataset: Dataset) -> str:
    """A digest of what the catalogue promises for ``dataset`` (paths and checksums); markers record it."""
    digest = hashlib.sha256()
    for entry in sorted(dataset.fetchable, key=lambda f: f.path):
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    return digest.hexdigest()


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion marker of ``folder``, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_ready(folder: Path, dataset: Dataset) -> bool:
    """True when ``folder`` holds ``dataset``: a current completion marker, or every file present with its size."""
    if not folder.is_dir():
        return False
    marker = read_marker(folder)
    if marker and marker.get("catalogue_digest") == catalogue_digest(dataset):
        return True
    for entry in dataset.fetchable:
        path = folder / entry.path
        if not path.is_file() or path.stat().st_size != entry.size:
            return False
    return True


def dataset_path(root: Path, dataset: Dataset) -> Path:
    """The folder of a usable ``dataset`` under ``root``; a one-line error says how to fetch it otherwise."""
    folder = root / dataset.name
    if not is_ready(folder, dataset):
        state = "incomplete" if folder.exists() else "not fetched"
        raise FetchError(f"{dataset.name}: {state} in {root}; run `mmedrag data fetch {dataset.name}`")
    return folder


@dataclass
class VerifyReport:
    """What ``verify_dataset`` found in one folder."""

    name: str
    path: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    optional_absent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every required file is present and every present file has its SHA-256."""
        return not self.missing and not self.mismatched


def verify_dataset(folder: Path, dataset: Dataset, progress: bool = False) -> VerifyReport:
    """Check the SHA-256 of every catalogued file of ``dataset`` in ``folder`` (optional files when present)."""
    report = VerifyReport(name=dataset.name, path=str(folder))
    for entry in track(dataset.files, f"verify {dataset.name}", total=len(dataset.files), enabled=progress):
        path = folder / entry.path
        if not path.is_file():
            (report.optional_absent if entry.optional or entry.source is None else report.missing).append(entry.path)
            continue
        report.checked += 1
        if path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
            report.mismatched.append(entry.path)
    return report


__all__ = ["VerifyReport", "catalogue_digest", "dataset_path", "is_ready", "read_marker", "verify_dataset"]
