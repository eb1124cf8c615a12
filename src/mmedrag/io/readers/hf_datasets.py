"""Hugging Face image-text datasets: ``.parquet`` files (hub layout) or a ``Dataset.save_to_disk`` folder.

Streams in batches (pyarrow ``iter_batches``; ``datasets`` memory-maps its Arrow files). Embedded image bytes are
written to ``extract_to`` under their content hash; images are not decoded here beyond reading their format.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from mmedrag._optional import require
from mmedrag.domains import MODALITIES, check_domain, normalize_modality
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.io.readers.medmnist import write_if_changed
from mmedrag.io.readers.tabular import normalize_split, resolve_image
from mmedrag.types import Record

IMAGE_COLUMNS = ("image", "img", "image_path", "images", "image_paths", "file_name")
TEXT_COLUMNS = ("text", "caption", "report", "findings", "description")
ID_COLUMNS = ("id", "uid", "image_id")
_BATCH = 64
_SPLIT_IN_NAME = re.compile(r"^(train|training|validation|valid|val|dev|test)(?:[-_.]|$)", re.IGNORECASE)
_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif", "WEBP": ".webp"}


class _Rows:
    """Turns raw rows (Arrow ``to_pylist`` dicts) of one file or split into records."""

    def __init__(self, origin: Path, options: dict[str, Any], names: list[str]) -> None:
        self.origin = origin
        self.image_col = _pick(names, options.get("image_column"), IMAGE_COLUMNS, "image", origin)
        self.text_col = _pick(names, options.get("text_column"), TEXT_COLUMNS, "text", origin)
        if self.image_col is None and self.text_col is None:
            raise DataError(
                f"{origin}: no image or text column; pass image_column=/text_column= (columns: {', '.join(names)})"
            )
        self.id_col = _pick(names, options.get("id_column"), ID_COLUMNS, "id", origin)
        self.split_col = _pick(names, options.get("split_column"), ("split",), "split", origin)
        self.extract_to = Path(options["extract_to"]).expanduser() if options.get("extract_to") else None
        root = options.get("image_root")
        self.image_root = Path(root).expanduser() if root else origin if origin.is_dir() else origin.parent
        self.domain, self.modality = options.get("domain"), options.get("modality")
        self.used = {self.image_col, self.text_col, self.id_col, self.split_col}

    def _image(self, value: Any, where: str) -> str | None:
        """A path for one image cell: bytes go to ``extract_to`` under their SHA-256, paths resolve."""
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
        else:
            data, path = (value, None) if isinstance(value, bytes) else (None, value)
        if data:
            if self.extract_to is None:
                raise DataError(f"{where}: images are embedded bytes; pass extract_to=<folder> to write them out")
            try:
                fmt = Image.open(io.BytesIO(data)).format or ""
            except (UnidentifiedImageError, OSError, ValueError) as exc:
                raise _RowError(f"{where}: image bytes are not a readable image ({exc})") from exc
            digest = hashlib.sha256(data).hexdigest()
            target = self.extract_to / digest[:2] / f"{digest}{_SUFFIX.get(fmt, '.img')}"
            write_if_changed(target, data)
            return str(target)
        return resolve_image(str(path), self.image_root) if path else None

    def record(self, row: dict[str, Any], number: int, split: str | None) -> Record:
        where = f"{self.origin}: row {number}"
        cell = row.get(self.image_col) if self.image_col else None
        cells = cell if isinstance(cell, list) else [cell] if cell is not None else []
        images = tuple(path for path in (self._image(value, where) for value in cells) if path)
        raw_text = row.get(self.text_col) if self.text_col else None
        text = " ".join(str(raw_text).split()) if raw_text is not None else ""
        if not text and not images:
            raise _RowError(f"{where} has neither text nor an image; skipped")
        try:
            modality = normalize_modality(self.modality)
            domain = check_domain(self.domain) if self.domain else MODALITIES.get(modality or "", (None,))[0]
        except ConfigError as exc:
            raise DataError(f"{self.origin}: {exc}") from exc
        identifier = row.get(self.id_col) if self.id_col else None
        metadata = {
            key: value
            for key, value in row.items()
            if key not in self.used and isinstance(value, str | int | float | bool) and value != ""
        }
        return Record(
            id=str(identifier) if identifier not in (None, "") else f"{self.origin.stem}:{split or 'all'}:{number}",
            text=text,
            image_paths=images,
            domain=domain,
            modality=modality,
            split=normalize_split(row.get(self.split_col) if self.split_col else None) or split,
            source=self.origin.stem,
            metadata=metadata,
        )

    def read(self, batches: Iterator[Any], split: str | None) -> Iterator[Item]:
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                try:
                    yield self.record(row, number, split)
                except _RowError as exc:
                    yield DataError(str(exc))


class _RowError(DataError):
    """One row cannot be read: reported, and the rest of the file is read."""


def _pick(names: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, origin: Path) -> str | None:
    if wanted is not None:
        if wanted not in names:
            raise DataError(f"{origin}: no {role} column {wanted!r}; the columns are: {', '.join(names)}")
        return wanted
    return next((name for name in candidates if name in names), None)


def _split_of(path: Path) -> str | None:
    match = _SPLIT_IN_NAME.match(path.name)
    return normalize_split(match.group(1)) if match else None


def _read_parquet(path: Path, options: dict[str, Any]) -> Iterator[Item]:
    pq = require("pyarrow.parquet", "datasets")
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) for non-parquet bytes
        raise DataError(f"{path}: not a readable parquet file ({exc})") from exc
    rows = _Rows(path, options, list(parquet.schema_arrow.names))
    yield from rows.read(parquet.iter_batches(batch_size=_BATCH), _split_of(path))


def _read_saved(path: Path, options: dict[str, Any]) -> Iterator[Item]:
    datasets = require("datasets", "datasets")
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable datasets folder ({exc})") from exc
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for name, part in parts:
        origin = path / name if name else path
        rows = _Rows(origin, options, list(part.column_names))
        # Arrow format hands the Image feature's stored {bytes, path} dicts through without decoding them.
        yield from rows.read(part.with_format("arrow").iter(batch_size=_BATCH), normalize_split(name))


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


def _parquet_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.parquet")) + sorted(path.glob("data/**/*.parquet"))


def read_hf_dataset(
    source: Path,
    image_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    split_column: str | None = None,
    extract_to: str | Path | None = None,
    image_root: str | Path | None = None,
    domain: str | None = None,
    modality: str | None = None,
) -> Iterator[Item]:
    """Read a parquet file, a folder of them (``data/train-*.parquet``) or a ``save_to_disk`` folder.

    Args:
        source: the file or folder.
        image_column: the image column (default: the first of ``image, img, image_path, images, ...``); cells may be
            an HF Image dict (``bytes``/``path``), raw bytes, a path, or a list of these.
        text_column: the text column (default: the first of ``text, caption, report, findings, description``).
        id_column: record ids (default: ``id``/``uid``/``image_id`` if present, else ``<name>:<split>:<row>``).
        split_column: per-row split (default ``split`` if present, else the split's or file's name).
        extract_to: folder for embedded image bytes (``<sha256[:2]>/<sha256>.<ext>``); required when there are any.
        image_root: folder relative image paths start from (default: the file's folder).
        domain, modality: constants for every record (the domain follows from a known modality).

    Yields:
        A Record per row; a DataError naming the file and row for a row that cannot be read.
    """
    options = {
        "image_column": image_column,
        "text_column": text_column,
        "id_column": id_column,
        "split_column": split_column,
        "extract_to": extract_to,
        "image_root": image_root,
        "domain": domain,
        "modality": modality,
    }
    if source.is_dir() and _is_saved_dataset(source):
        yield from _read_saved(source, options)
        return
    files = _parquet_files(source) if source.is_dir() else [source]
    if not files:
        raise DataError(f"{source}: no .parquet files and no save_to_disk dataset here")
    for path in files:
        yield from _read_parquet(path, options)


def _detect(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".parquet"
    return path.is_dir() and (_is_saved_dataset(path) or bool(_parquet_files(path)))


SPEC = ReaderSpec(
    name="hf_dataset",
    read=read_hf_dataset,
    detect=_detect,
    description="Hugging Face dataset: .parquet file(s) or a save_to_disk folder with image and text columns",
)
