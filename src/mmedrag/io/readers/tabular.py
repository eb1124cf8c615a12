"""A user CSV (or TSV) of image paths and texts, one row per record, with configurable column names.

Reads row by row, so a bad row (non-UTF-8 bytes, no text and no image) is one :class:`DataError` and the rest is
read. It does not open the images: ``mmedrag ingest`` checks them. Also holds the CSV helpers other readers share.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mmedrag.domains import MODALITIES, check_domain, normalize_modality
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import Record

IMAGE_COLUMNS = ("image", "image_path", "image_paths", "img", "path", "file", "filename")
TEXT_COLUMNS = ("text", "caption", "report", "findings", "description")
_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val"}
_SPLITS |= {"test": "test", "testing": "test"}
_SURROGATE = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of undecodable bytes


def normalize_split(value: str | None) -> str | None:
    """``train``/``val``/``test`` from the spellings datasets use (``validation``, ``valid``, ``dev``, ...)."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().lower()
    return _SPLITS.get(text, text)


def iter_csv_rows(path: Path, delimiter: str | None = None) -> Iterator[tuple[int, dict[str, str] | DataError]]:
    """``(row number, row)`` for each data row of ``path``; a row that cannot be read comes as a DataError.

    The file is decoded with ``surrogateescape`` so that one row with non-UTF-8 bytes fails alone while quoted
    fields may still span lines. Keys are the stripped header names; empty header cells are dropped.

    Raises:
        DataError: the file cannot be opened or has no header row.
    """
    delimiter = delimiter or ("\t" if path.suffix.lower() in {".tsv", ".tab"} else ",")
    try:
        handle = path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except (StopIteration, csv.Error) as exc:
            raise DataError(f"{path}: no header row; the first line must name the columns") from exc
        if any(_SURROGATE.search(name) for name in header):
            raise DataError(f"{path}: the header row is not UTF-8; re-save the file as UTF-8")
        number, last_line = 0, -1
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                if reader.line_num == last_line:  # the reader cannot get past this spot: stop rather than spin
                    yield number, DataError(f"{path}: row {number} (line {reader.line_num}): {exc}; rest not read")
                    return
                last_line = reader.line_num
                yield number, DataError(f"{path}: row {number} (line {reader.line_num}): malformed CSV ({exc})")
                continue
            if not any(cell.strip() for cell in cells):
                number -= 1  # blank lines are not rows
                continue
            if any(_SURROGATE.search(cell) for cell in cells):
                yield number, DataError(f"{path}: row {number} (line {reader.line_num}): not valid UTF-8; skipped")
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                # More values than columns: most often an unquoted delimiter, which would shift every later field.
                yield number, DataError(f"{path}: row {number} (line {reader.line_num}): more fields than columns")
                continue
            # Fewer values than columns reads the missing trailing fields as empty, as csv.DictReader does.
            yield number, {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}


def read_header(path: Path) -> list[str]:
    """The stripped column names of a CSV file, or ``[]`` when it cannot be read (for ``detect``)."""
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            first = next(csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","), [])
    except (OSError, csv.Error):
        return []
    return [name.strip() for name in first]


def pick_column(
    header: list[str], wanted: str | None, candidates: tuple[str, ...], role: str, path: Path
) -> str | None:
    """The configured column (which must exist) or the first default candidate present (case-insensitive)."""
    lowered = {name.lower(): name for name in header}
    if wanted is not None:
        if wanted not in header and wanted.lower() not in lowered:
            raise DataError(f"{path}: no {role} column {wanted!r}; the columns are: {', '.join(header)}")
        return wanted if wanted in header else lowered[wanted.lower()]
    return next((lowered[name] for name in candidates if name in lowered), None)


def resolve_image(value: str, root: Path) -> str:
    """An absolute path string: ``value`` as given when absolute, else relative to ``root``."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


def domain_and_modality(domain: str | None, modality: str | None) -> tuple[str | None, str | None]:
    """Canonical ``(domain, modality)``; the domain follows from a known modality when not given.

    Raises:
        ConfigError: ``domain`` is not one of the known domains.
    """
    canonical = normalize_modality(modality)
    if domain:
        return check_domain(domain), canonical
    return (MODALITIES[canonical][0] if canonical in MODALITIES else None), canonical


def _value(row: Mapping[str, str], column: str | None) -> str | None:
    return (row.get(column) or None) if column else None


def read_csv(
    source: Path,
    image_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
    patient_column: str | None = None,
    study_column: str | None = None,
    split_column: str | None = None,
    domain: str | None = None,
    modality: str | None = None,
    domain_column: str | None = None,
    modality_column: str | None = None,
    image_root: str | Path | None = None,
    image_separator: str = ";",
    delimiter: str | None = None,
) -> Iterator[Item]:
    """Read a CSV of image paths and texts into records.

    Args:
        source: the ``.csv``/``.tsv`` file.
        image_column: column of image paths (default: the first of ``image, image_path, img, path, file, ...``);
            several images of one record are separated by ``image_separator``.
        text_column: column of the report/caption (default: the first of ``text, caption, report, findings``).
        id_column: record ids (default ``<file stem>:<row number>``).
        patient_column, study_column, split_column: optional columns for the leakage guard and splits.
        domain, modality: constants for every row; ``domain_column``/``modality_column`` win where a row has one.
        image_root: folder relative image paths start from (default: the CSV's folder).
        image_separator: separator between several image paths in one cell.
        delimiter: field delimiter (default: tab for ``.tsv``, else comma).

    Yields:
        A Record per row; a DataError naming the file and row for a row that cannot be read.
    """
    header = read_header(source)
    image_col = pick_column(header, image_column, IMAGE_COLUMNS, "image", source)
    text_col = pick_column(header, text_column, TEXT_COLUMNS, "text", source)
    if image_col is None and text_col is None:
        raise DataError(
            f"{source}: found neither an image nor a text column; name them with image_column=/text_column= "
            f"(the columns are: {', '.join(header)})"
        )
    named = {"id": id_column, "patient": patient_column, "study": study_column, "split": split_column}
    named |= {"domain": domain_column, "modality": modality_column}
    columns = {role: pick_column(header, wanted, (), role, source) for role, wanted in named.items() if wanted}
    used = {image_col, text_col, *columns.values()}
    root = Path(image_root).expanduser() if image_root is not None else source.parent
    for number, row in iter_csv_rows(source, delimiter):
        if isinstance(row, DataError):
            yield row
            continue
        text = " ".join((_value(row, text_col) or "").split())
        cell = _value(row, image_col) or ""
        images = tuple(resolve_image(part.strip(), root) for part in cell.split(image_separator) if part.strip())
        if not text and not images:
            yield DataError(f"{source}: row {number} has neither text nor an image; skipped")
            continue
        try:
            row_domain, row_modality = domain_and_modality(
                _value(row, columns.get("domain")) or domain, _value(row, columns.get("modality")) or modality
            )
        except ConfigError as exc:
            yield DataError(f"{source}: row {number}: {exc}")
            continue
        metadata: dict[str, Any] = {name: value for name, value in row.items() if name not in used and value}
        yield Record(
            id=_value(row, columns.get("id")) or f"{source.stem}:{number}",
            text=text,
            image_paths=images,
            domain=row_domain,
            modality=row_modality,
            patient_id=_value(row, columns.get("patient")),
            study_id=_value(row, columns.get("study")),
            split=normalize_split(_value(row, columns.get("split"))),
            source=source.stem,
            metadata=metadata,
        )


def _detect(path: Path) -> bool:
    """A CSV/TSV file whose header has one of the default image columns and one of the default text columns."""
    if not path.is_file() or path.suffix.lower() not in {".csv", ".tsv"}:
        return False
    lowered = {name.lower() for name in read_header(path)}
    return bool(lowered & set(IMAGE_COLUMNS)) and bool(lowered & set(TEXT_COLUMNS))


SPEC = ReaderSpec(
    name="csv",
    read=read_csv,
    detect=_detect,
    description="CSV/TSV with image path(s) and text columns (image_column=, text_column=, id_column=, ...)",
)
