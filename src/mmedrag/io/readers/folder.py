"""A folder of images (PNG/JPEG/BMP/TIFF and DICOM) with optional sidecar ``<stem>.txt`` / ``<stem>.json`` texts.

One record per image, id = its path relative to the folder; a top-level ``train``/``val``/``test`` subfolder gives
the split. A ``.txt`` sidecar holding YOLO boxes (``class cx cy w h`` lines) is read as boxes, never as a caption.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError, DataError
from mmedrag.io.images import is_dicom
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.io.readers.tabular import domain_and_modality, normalize_split
from mmedrag.types import RECORD_FIELDS, Record

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
_SIDECAR_SUFFIXES = (".txt", ".json")
_NOT_IMAGES = {".txt", ".json", ".csv", ".md", ".names", ".yaml", ".yml", ".xml", ".npz", ".parquet", ".gz", ".zip"}
_YOLO_LINE = re.compile(r"^\d+(\s+-?\d*\.?\d+(e-?\d+)?){4}$")
_CLASS_FILES = ("classes.txt", "obj.names")
_DETECT_SCAN = 500  # files looked at per folder by detect(): enough to find a sidecar, cheap on huge folders


def is_image_file(path: Path) -> bool:
    """A raster image by suffix, or a DICOM file by suffix or ``DICM`` marker (PACS exports have no suffix)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return True
    return suffix not in _NOT_IMAGES and is_dicom(path)


def _yolo_boxes(text: str) -> list[dict[str, float | int]] | None:
    """The boxes of a YOLO label file, or None when ``text`` is not one (then it is a caption)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not all(_YOLO_LINE.match(line) for line in lines):
        return None
    boxes: list[dict[str, float | int]] = []
    for line in lines:
        label, cx, cy, w, h = line.split()
        boxes.append({"class": int(label), "cx": float(cx), "cy": float(cy), "w": float(w), "h": float(h)})
    return boxes


def _class_names(root: Path) -> list[str]:
    """Class names of YOLO boxes from ``*.names`` / ``classes.txt`` at the folder root (or beside it)."""
    for folder in (root, root.parent):
        candidates = [folder / name for name in _CLASS_FILES] + sorted(folder.glob("*.names"))
        for path in candidates:
            if path.is_file():
                return [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    return []


def boxes_caption(boxes: list[dict[str, float | int]], names: list[str]) -> str:
    """A label-derived caption listing the annotated classes, e.g. "Annotated regions: optic disc (1)."."""
    counts: dict[int, int] = {}
    for box in boxes:
        counts[int(box["class"])] = counts.get(int(box["class"]), 0) + 1
    labels = [
        f"{(names[label] if label < len(names) else f'class {label}').replace('_', ' ')} ({count})"
        for label, count in sorted(counts.items())
    ]
    return f"Annotated regions: {', '.join(labels)}."


def _sidecar(image: Path) -> Path | None:
    return next((p for p in (image.with_suffix(s) for s in _SIDECAR_SUFFIXES) if p.is_file()), None)


def _read_sidecar(path: Path, names: list[str]) -> dict[str, Any]:
    """Record fields from a sidecar; raises DataError naming the file when it cannot be read."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: sidecar is not valid UTF-8 ({exc.reason} at byte {exc.start}); skipped") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read sidecar ({exc.strerror or exc}); skipped") from exc
    if path.suffix == ".txt":
        boxes = _yolo_boxes(raw)
        if boxes is None:
            return {"text": raw.strip()}
        caption = boxes_caption(boxes, names) if names else ""
        return {"text": caption, "metadata": {"boxes": boxes, "caption_kind": "label-derived"}}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: sidecar is not valid JSON ({exc}); skipped") from exc
    if isinstance(data, str):
        return {"text": data.strip()}
    if not isinstance(data, dict):
        raise DataError(f"{path}: sidecar JSON must be an object or a string, got {type(data).__name__}; skipped")
    nested = data.get("metadata")
    metadata: dict[str, Any] = dict(nested) if isinstance(nested, dict) else {}
    fields: dict[str, Any] = {"metadata": metadata}
    for key, value in data.items():
        if key == "metadata":
            continue
        if key in {"id", "image_paths"} or key not in RECORD_FIELDS:
            metadata[key] = value  # unknown keys (and a sidecar's own id) are kept, not lost
        else:
            fields[key] = None if value is None else str(value).strip()
    return fields


def _walk(root: Path) -> Iterator[Path]:
    """Image files under ``root`` in a stable order, skipping hidden files and folders."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if not name.startswith(".") and is_image_file(path):
                yield path


def read_folder(source: Path, domain: str | None = None, modality: str | None = None) -> Iterator[Item]:
    """Read every image under ``source`` into a record, with its sidecar's text and fields.

    Args:
        source: the folder.
        domain, modality: defaults for images whose sidecar does not name them.

    Yields:
        A Record per image (text-only sidecar, JSON sidecar with Record fields, YOLO boxes, or none: then the text
        is empty); a DataError naming the sidecar that cannot be read (its image is left out).
    """
    if not source.is_dir():
        raise DataError(f"{source}: not a folder; the folder reader walks a folder of images")
    names = _class_names(source)
    for image in _walk(source):
        relative = image.relative_to(source).as_posix()
        sidecar = _sidecar(image)
        try:
            fields = _read_sidecar(sidecar, names) if sidecar is not None else {}
        except DataError as exc:
            yield exc
            continue
        top = relative.split("/", 1)[0] if "/" in relative else None
        split = normalize_split(top) if normalize_split(top) in {"train", "val", "test"} else None
        try:
            row_domain, row_modality = domain_and_modality(
                fields.get("domain") or domain, fields.get("modality") or modality
            )
        except ConfigError as exc:
            yield DataError(f"{sidecar}: {exc}; skipped")
            continue
        metadata = dict(fields.get("metadata") or {})
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            metadata["dicom"] = True  # its header names the modality; the folder reader does not parse it
        if sidecar is not None:
            metadata["sidecar"] = sidecar.name
        yield Record(
            id=relative,
            text=fields.get("text") or "",
            image_paths=(str(image),),
            domain=row_domain,
            modality=row_modality,
            patient_id=fields.get("patient_id") or None,
            study_id=fields.get("study_id") or None,
            split=normalize_split(fields.get("split")) or split,
            source=fields.get("source") or source.name,
            metadata=metadata,
        )


def _has_sidecar_pair(folder: Path) -> bool:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)[:_DETECT_SCAN]
    except OSError:
        return False
    stems = {Path(e.name).stem for e in entries if Path(e.name).suffix.lower() in IMAGE_SUFFIXES}
    return any(Path(e.name).stem in stems for e in entries if Path(e.name).suffix.lower() in _SIDECAR_SUFFIXES)


def _detect(path: Path) -> bool:
    """A folder with an image and its sidecar at the top or one level down (a bare image folder needs --format)."""
    if not path.is_dir():
        return False
    subfolders = [p for p in sorted(path.iterdir())[:_DETECT_SCAN] if p.is_dir() and not p.name.startswith(".")]
    return any(_has_sidecar_pair(folder) for folder in [path, *subfolders])


SPEC = ReaderSpec(
    name="folder",
    read=read_folder,
    detect=_detect,
    description="folder of images (+DICOM) with sidecar <stem>.txt/.json; train/val/test subfolders give the split",
)
