"""The project's own JSONL manifest as a reader (records only)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmedrag.io.manifest import ManifestError, iter_manifest
from mmedrag.io.readers.base import Item, ReaderSpec


def read_jsonl_manifest(source: Path, data_root: str | Path | None = None) -> Iterator[Item]:
    """Records of a manifest; with ``data_root``, paths resolve against it and may not escape it."""
    errors: list[ManifestError] = []
    for record in iter_manifest(source, root=data_root, errors=errors, confine=data_root is not None):
        yield from errors
        errors.clear()
        yield record
    yield from errors


SPEC = ReaderSpec(
    name="manifest",
    read=read_jsonl_manifest,
    detect=lambda path: path.is_file() and path.suffix == ".jsonl" and not path.name.startswith("vqa_test"),
    description="mmedrag JSONL manifest (one record per line)",
)
