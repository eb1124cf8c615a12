"""JSONL manifests: one :class:`~mmedrag.types.Record` per line, the exchange format between every stage.

A malformed line fails with the file, the line number and the field named. With ``errors=[]`` the reader instead
collects each bad line's error and goes on, so one bad record never aborts the rest.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mmedrag.domains import DOMAINS, normalize_modality
from mmedrag.errors import DataError
from mmedrag.io.atomic import atomic_open
from mmedrag.types import RECORD_FIELDS, Record

_OPTIONAL_STR_FIELDS = ("domain", "modality", "patient_id", "study_id", "split", "source")
MAX_TEXT_CHARS = 200_000  # ~100 pages: anything longer is a broken export, not a report
# Deepest metadata nesting accepted. Real exports nest a few levels (DICOM sequences in PS3.18 JSON reach about 10);
# hundreds of levels is an attack or a bug, and would exhaust the recursion of every JSON and SQLite step after it.
MAX_METADATA_DEPTH = 64


class ManifestError(DataError):
    """A manifest line that cannot become a record; names file, line and field."""

    def __init__(self, path: str | Path, line: int, field: str | None, message: str) -> None:
        self.path, self.line, self.field = str(path), line, field
        self.detail = (f"field {field!r}: " if field else "") + message  # without the file and line
        super().__init__(f"{path}:{line}: {self.detail}")


DUPLICATE_ID_POLICY = (
    "Record ids are unique within a source: the first record with an id is kept, and every later one is reported "
    "as an error naming the id and both lines (ingest and index go on without it; validate exits 1)."
)


def duplicate_id_message(record_id: str, first: int | str) -> str:
    """The one error text for a repeated id: ``first`` is a line number or a description of the first place."""
    where = f"on line {first}" if isinstance(first, int) else str(first)
    return f"duplicate id {record_id!r} (first {where}); the first is kept"


def record_id_for(text: str, image_paths: Iterable[str]) -> str:
    """A stable id from content, for lines that carry none (Haystack derives document ids the same way)."""
    digest = hashlib.sha256(text.encode("utf-8"))
    for image_path in image_paths:
        digest.update(b"\0" + image_path.encode("utf-8"))
    return digest.hexdigest()[:16]


def _check_known_fields(data: Mapping[str, Any], path: str, line: int) -> None:
    for key in data:
        if key not in RECORD_FIELDS:
            close = difflib.get_close_matches(str(key), RECORD_FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known fields: {', '.join(RECORD_FIELDS)}"
            raise ManifestError(path, line, str(key), f"unknown field{hint}")


def _text_and_images(data: Mapping[str, Any], path: str, line: int) -> tuple[str, list[str]]:
    text = data.get("text") or ""
    if not isinstance(text, str):
        raise ManifestError(path, line, "text", f"must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ManifestError(path, line, "text", f"{len(text):,} characters exceeds {MAX_TEXT_CHARS:,}; fix the export")
    image_paths = data.get("image_paths") or []
    if isinstance(image_paths, str):
        image_paths = [image_paths]
    if not isinstance(image_paths, list) or not all(isinstance(p, str) and p for p in image_paths):
        raise ManifestError(path, line, "image_paths", "must be a list of non-empty path strings")
    if any("\0" in p for p in image_paths):
        raise ManifestError(path, line, "image_paths", "a path holds a NUL byte; no file can have that name")
    if not text.strip() and not image_paths:
        raise ManifestError(path, line, "text", "a record needs a text, an image, or both; this one has neither")
    return text, image_paths


def _optional_strings(data: Mapping[str, Any], path: str, line: int) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name in _OPTIONAL_STR_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str | int):
            raise ManifestError(path, line, name, f"must be a string or null, got {type(value).__name__}")
        values[name] = None if value is None or str(value).strip() == "" else str(value)
    if values["domain"] is not None:
        values["domain"] = values["domain"].lower()
        if values["domain"] not in DOMAINS:
            raise ManifestError(path, line, "domain", f"unknown domain {values['domain']!r}; use one of {DOMAINS}")
    values["modality"] = normalize_modality(values["modality"])
    return values


def metadata_depth_exceeds(value: Any, limit: int = MAX_METADATA_DEPTH) -> bool:
    """Whether ``value`` nests dicts and lists deeper than ``limit`` levels (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list | tuple):
            if depth >= limit:
                return True
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _check_confined(image_paths: list[str], data_root: Path, path: str, line: int) -> None:
    """Refuse image paths that resolve outside the data root (``../../etc/passwd``, absolute paths, symlinks out)."""
    base = data_root.resolve()
    for image_path in image_paths:
        resolved = Path(image_path).resolve()
        if resolved != base and base not in resolved.parents:
            raise ManifestError(
                path,
                line,
                "image_paths",
                f"{image_path!r} escapes the data root {base}; pass --data-root with the folder that holds the "
                "images (paths outside it, ../ and symlinks out of it are refused)",
            )


def record_from_dict(
    data: Mapping[str, Any],
    root: Path | None = None,
    where: tuple[str, int] = ("<dict>", 0),
    confine: Path | None = None,
) -> Record:
    """Validate one manifest object and build a record; relative image paths are resolved against ``root``.

    With ``confine``, every image path must resolve inside that folder (a configured data root).
    """
    path, line = where
    if not isinstance(data, Mapping):
        raise ManifestError(path, line, None, f"expected a JSON object, got {type(data).__name__}")
    _check_known_fields(data, path, line)
    text, image_paths = _text_and_images(data, path, line)
    values = _optional_strings(data, path, line)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ManifestError(path, line, "metadata", f"must be an object, got {type(metadata).__name__}")
    if metadata_depth_exceeds(metadata, MAX_METADATA_DEPTH):
        raise ManifestError(path, line, "metadata", f"nested deeper than {MAX_METADATA_DEPTH} levels; flatten it")
    record_id = data.get("id")
    if record_id is None or record_id == "":
        record_id = record_id_for(text, image_paths)  # from the paths as written, so a moved corpus keeps its ids
    if not isinstance(record_id, str | int):
        raise ManifestError(path, line, "id", f"must be a string, got {type(record_id).__name__}")
    if root is not None:
        image_paths = [p if os.path.isabs(p) else str(root / p) for p in image_paths]
    if confine is not None:
        _check_confined(image_paths, confine, path, line)
    return Record(
        id=str(record_id),
        text=text,
        image_paths=tuple(image_paths),
        metadata=dict(metadata),
        **values,
    )


def iter_manifest(
    path: str | Path,
    root: str | Path | None = None,
    errors: list[ManifestError] | None = None,
    confine: bool = False,
) -> Iterator[Record]:
    """Yield records from a JSONL manifest; see :func:`iter_manifest_lines`."""
    for _, record in iter_manifest_lines(path, root=root, errors=errors, confine=confine):
        yield record


def iter_manifest_lines(
    path: str | Path,
    root: str | Path | None = None,
    errors: list[ManifestError] | None = None,
    confine: bool = False,
) -> Iterator[tuple[int, Record]]:
    """Yield ``(line number, record)`` from a JSONL manifest.

    Args:
        path: the manifest file.
        root: the data root that relative image paths are resolved against; default: the manifest's folder.
        errors: when given, bad lines are appended here and skipped; otherwise the first one raises.
        confine: refuse lines whose image paths resolve outside ``root`` (requires ``root``).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: manifest not found; pass a JSONL file with one record per line")
    base = Path(root) if root is not None else path.parent
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ManifestError(path, number, None, f"not UTF-8 text ({exc.reason}); re-save as UTF-8") from exc
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ManifestError(path, number, None, f"invalid JSON ({exc.msg} {_position(line, exc)})") from exc
                except RecursionError as exc:
                    message = f"JSON nested too deeply to read (over {MAX_METADATA_DEPTH} levels is refused)"
                    raise ManifestError(path, number, None, message) from exc
                yield (
                    number,
                    record_from_dict(data, root=base, where=(str(path), number), confine=base if confine else None),
                )
            except ManifestError as exc:
                if errors is None:
                    raise
                errors.append(exc)


def read_manifest(
    path: str | Path,
    root: str | Path | None = None,
    errors: list[ManifestError] | None = None,
    confine: bool = False,
) -> list[Record]:
    """Read a whole manifest; see :func:`iter_manifest`. Duplicate ids are an error (named with both lines)."""
    seen: dict[str, int] = {}
    unique: list[Record] = []
    for number, record in iter_manifest_lines(path, root=root, errors=errors, confine=confine):
        if record.id in seen:
            error = ManifestError(path, number, "id", duplicate_id_message(record.id, seen[record.id]))
            if errors is None:
                raise error
            errors.append(error)
            continue
        seen[record.id] = number
        unique.append(record)
    return unique


def write_manifest(records: Iterable[Record], path: str | Path) -> int:
    """Write records as JSONL atomically; returns the number written."""
    count = 0
    with atomic_open(path) as handle:
        for record in records:
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _position(line: str, exc: json.JSONDecodeError) -> str:
    """Where on the line the JSON broke; past its last character (the parser then points at the next line, column
    1) it is a value left open."""
    if exc.pos >= len(line.rstrip()):
        return "at the end of the line: an object, array or string is not closed"
    return f"at column {exc.pos + 1}"
