"""The project's own JSONL manifest as a reader (records only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mmedrag.io.manifest import ManifestError, iter_manifest
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import RECORD_FIELDS


def read_jsonl_manifest(source: Path, data_root: str | Path | None = None) -> Iterator[Item]:
    """Records of a manifest; with ``data_root``, paths resolve against it and may not escape it."""
    errors: list[ManifestError] = []
    for record in iter_manifest(source, root=data_root, errors=errors, confine=data_root is not None):
        yield from errors
        errors.clear()
        yield record
    yield from errors


def _detect(path: Path) -> bool:
    """A .jsonl file whose first object uses only record fields (other JSONL formats have their own keys)."""
    if not (path.is_file() and path.suffix == ".jsonl"):
        return False
    with path.open("rb") as handle:
        first = next((line for line in handle if line.strip()), b"")
    try:
        data = json.loads(first) if first else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return True  # let the reader report the bad line
    return isinstance(data, dict) and set(data) <= set(RECORD_FIELDS)


SPEC = ReaderSpec(
    name="manifest",
    read=read_jsonl_manifest,
    detect=_detect,
    description="mmedrag JSONL manifest (one record per line)",
)
