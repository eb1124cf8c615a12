"""The project's own JSONL manifest as a reader (records only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mmedrag.errors import ConfigError
from mmedrag.io.manifest import ManifestError, duplicate_id_message, iter_manifest_lines
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import RECORD_FIELDS


def read_jsonl_manifest(
    source: Path, data_root: str | Path | None = None, image_root: str | Path | None = None
) -> Iterator[Item]:
    """Records of a manifest. Image paths resolve against the data root and may not escape it (``../``, absolute
    paths or symlinks elsewhere are a per-line error): the root is ``data_root`` (``image_root`` is the same option
    under the name other readers use), else the manifest's own folder."""
    if data_root is not None and image_root is not None and Path(data_root) != Path(image_root):
        raise ConfigError("give --data-root or --image-root for a manifest, not both (they are the same option)")
    given = data_root if data_root is not None else image_root
    root = Path(given).expanduser() if given is not None else source.parent
    if given is not None and not root.is_dir():
        raise ConfigError(f"data root {root} is not a folder; pass --data-root with the folder that holds the images")
    errors: list[ManifestError] = []
    first_line: dict[str, int] = {}
    for line, record in iter_manifest_lines(source, root=root, errors=errors, confine=True):
        yield from errors
        errors.clear()
        if record.id in first_line:  # DUPLICATE_ID_POLICY: the first line wins, each later one is an error
            yield ManifestError(source, line, "id", duplicate_id_message(record.id, first_line[record.id]))
            continue
        first_line[record.id] = line
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
