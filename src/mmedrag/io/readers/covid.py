"""The COVID-19 image data collection (Cohen et al., arXiv:2003.11597): chest X-ray/CT images with clinical notes.

Reads the repository's metadata CSV; the licence is per image (column ``license``, mostly CC BY-NC-SA) and is kept
in each record's metadata. Rows whose image is not in this copy are skipped and counted, not treated as errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.domains import normalize_modality
from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec, SkippedItem
from mmedrag.io.readers.tabular import iter_csv_rows, read_header
from mmedrag.types import Record

# Upstream names metadata.csv; the shared copy holds the full file and the subset matching its images.
METADATA_NAMES = ("metadata.csv", "metadata_full.csv", "metadata_subset.csv")
_REQUIRED = {"patientid", "finding", "filename"}
_META_COLUMNS = ("view", "offset", "sex", "age", "survival", "date", "location", "doi", "url", "license", "other_notes")


def covid_text(finding: str, clinical_notes: str) -> str:
    """``Finding: <label>.`` then the clinical notes (``other_notes`` are credits, so they go to metadata)."""
    parts = [f"Finding: {finding.rstrip('.')}." if finding else "", " ".join(clinical_notes.split())]
    return "\n".join(part for part in parts if part)


def _metadata_files(folder: Path) -> list[Path]:
    return [folder / name for name in METADATA_NAMES if (folder / name).is_file()]


def _patient_aliases(files: list[Path]) -> dict[str, str]:
    """Patient ids that list the same image file, mapped to one id (the smallest) for the leakage guard.

    The source CSV lists a few images under two patient ids (e.g. 285 and 339): they are one patient, and a subset
    keeping one row per image can hold rows of both ids.
    """
    parent: dict[str, str] = {}

    def find(pid: str) -> str:
        while parent.setdefault(pid, pid) != pid:
            pid = parent[pid]
        return pid

    owner: dict[str, str] = {}
    for path in files:
        for _, row in iter_csv_rows(path):
            if isinstance(row, DataError) or not row.get("filename") or not row.get("patientid"):
                continue
            pid = row["patientid"]
            first = owner.setdefault(row["filename"], pid)
            a, b = find(first), find(pid)
            if a != b:
                low, high = sorted((a, b), key=lambda value: (len(value), value))
                parent[high] = low
    return {pid: find(pid) for pid in parent if find(pid) != pid}


def read_covid_chestxray(source: Path, metadata: str | None = None) -> Iterator[Item]:
    """Read the collection from ``source`` (its folder, or one of its metadata CSV files).

    Args:
        source: the dataset folder (with ``images/``) or a metadata CSV inside it.
        metadata: the metadata file name to read (default: the first of metadata.csv, metadata_full.csv,
            metadata_subset.csv that exists).

    Yields:
        A Record per image row (image at ``<folder column>/<filename>``, default folder ``images``); a SkippedItem
        for a row whose image is absent or that lists an image again; a DataError for an unreadable row.
    """
    folder = source if source.is_dir() else source.parent
    path = folder / metadata if metadata else source if source.is_file() else next(iter(_metadata_files(folder)), None)
    if path is None or not path.is_file():
        raise DataError(f"{folder}: no metadata CSV ({', '.join(METADATA_NAMES)}); point the reader at the dataset")
    missing = _REQUIRED - set(read_header(path))
    if missing:
        raise DataError(
            f"{path}: not the COVID-19 collection's metadata (missing columns: {', '.join(sorted(missing))})"
        )
    aliases = _patient_aliases(_metadata_files(folder) or [path])
    seen: dict[str, str] = {}
    for number, row in iter_csv_rows(path):
        if isinstance(row, DataError):
            yield row
            continue
        filename, pid = row.get("filename", ""), row.get("patientid", "")
        if not filename or not pid:
            yield DataError(f"{path}: row {number} has no filename or no patientid; skipped")
            continue
        if filename in seen:
            yield SkippedItem(
                f"{path}: row {number}: {filename} listed again (patient {pid}, first {seen[filename]})", "repeated row"
            )
            continue
        seen[filename] = pid
        image = folder / (row.get("folder") or "images") / filename
        if not image.is_file():
            yield SkippedItem(f"{image}: image not in this copy of the COVID-19 collection", "image not in this copy")
            continue
        notes = row.get("clinical_notes", "")
        text = covid_text(row.get("finding", ""), notes)
        canonical = aliases.get(pid, pid)
        meta: dict[str, Any] = {name: row[name] for name in _META_COLUMNS if row.get(name)}
        meta |= {"finding": row.get("finding", ""), "source_patientid": pid, "has_clinical_notes": bool(notes)}
        if "\ufffd" in text:  # the source CSV itself holds U+FFFD for some accented names and degree signs
            meta["replacement_characters"] = text.count("\ufffd")
        yield Record(
            id=f"covid:{filename}",
            text=text,
            image_paths=(str(image),),
            domain="radiology",
            modality=normalize_modality(row.get("modality") or None),
            patient_id=f"covid:{canonical}",
            source="covid_chestxray",
            metadata=meta,
        )


def _detect(path: Path) -> bool:
    files = (
        [path] if path.is_file() and path.suffix.lower() == ".csv" else _metadata_files(path) if path.is_dir() else []
    )
    return any(_REQUIRED | {"clinical_notes"} <= set(read_header(file)) for file in files)


SPEC = ReaderSpec(
    name="covid_chestxray",
    read=read_covid_chestxray,
    detect=_detect,
    description="COVID-19 image data collection (Cohen et al.): metadata CSV + images/ (option metadata=)",
)
