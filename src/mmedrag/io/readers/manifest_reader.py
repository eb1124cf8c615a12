"""The project's own JSONL manifest as a reader (records only)."""

from __future__ import annotations

from pathlib import Path

from mmedrag.io.manifest import ManifestError, read_manifest
from mmedrag.io.readers.base import Dataset


def read_jsonl_manifest(source: Path, root: str | Path | None = None) -> Dataset:
    errors: list[ManifestError] = []
    records = read_manifest(source, root=root, errors=errors)
    return Dataset(name=str(source), records=records, errors=list(errors))
