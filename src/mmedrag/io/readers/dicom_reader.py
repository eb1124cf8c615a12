"""DICOM folders (PACS exports, DICOMDIR trees): one record per instance, series or study, built from headers only.

Pixel data is never read here (images are decoded later, by :func:`mmedrag.io.images.load_image`); reports come
from plain-text sidecar files, since DICOM images carry none.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mmedrag._optional import require
from mmedrag.domains import MODALITIES, normalize_modality
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.dicom import METADATA_TAGS, dicom_metadata, one_line
from mmedrag.io.images import is_dicom
from mmedrag.io.library_warnings import reading
from mmedrag.io.readers.base import Item, ReaderSpec, SkippedItem
from mmedrag.types import Record

GroupBy = Literal["instance", "series", "study"]
GROUP_BY: tuple[str, ...] = ("instance", "series", "study")
REPORT_NAME = "report.txt"

# DICOM Modality values (PS3.3 C.7.3.1.1.1) that are radiology but have no canonical mmedrag modality:
# fluoroscopy, angiography, intra-oral and panoramic dental X-ray, bone densitometry.
_RADIOLOGY_CODES = {"RF", "XA", "IO", "PX", "BMD", "DR"}
_DETECT_LIMIT = 50  # files looked at when guessing whether a folder is a DICOM export


@dataclass(frozen=True)
class _Instance:
    path: Path
    tags: dict[str, str]
    series_number: int
    instance_number: int


def read_dicom_folder(
    source: Path,
    group_by: GroupBy = "instance",
    reports: Literal["sidecar", "none"] = "sidecar",
) -> Iterator[Item]:
    """Walk ``source`` (a folder, or one file) and yield one :class:`Record` per instance, series or study.

    Args:
        source: a folder of DICOM files (any depth; files need no ``.dcm`` suffix) or a single file.
        group_by: ``"instance"`` streams one record per file; ``"series"`` and ``"study"`` make one case of several
            images (sorted by Series Number, Instance Number), yielded once every header has been read.
        reports: ``"sidecar"`` takes the text from ``<file>.txt`` / ``<file stem>.txt`` or a ``report.txt`` in the
            series (or study) folder; ``"none"`` leaves it empty.

    Yields:
        Records; a :class:`DataError` for a file that is not readable DICOM; a :class:`SkippedItem` for files that
        are not images (structured reports, RT plans, DICOMDIR, non-DICOM files) and for repeated SOP Instance UIDs.
    """
    if group_by not in GROUP_BY:
        raise ConfigError(f"group_by={group_by!r}: use one of {', '.join(GROUP_BY)}")
    if reports not in ("sidecar", "none"):
        raise ConfigError(f"reports={reports!r}: use 'sidecar' or 'none'")
    pydicom = require("pydicom", "dicom")
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: DICOM source not found; pass a folder or a file")
    groups: dict[str, list[_Instance]] = {}
    seen: dict[str, Path] = {}
    for path in _walk(source):
        with reading(str(path)):
            item = _read_header(pydicom, path)
        if not isinstance(item, _Instance):
            yield item
            continue
        # PS3.3 C.12.1.1.1: one SOP Instance UID is one image; a second file with it (the same instance exported
        # twice, or re-encoded in another transfer syntax) would duplicate the record id and the picture.
        uid = item.tags.get("SOPInstanceUID")
        if uid and uid in seen:
            yield SkippedItem(
                f"{path}: same SOP Instance UID as {seen[uid]}; skipped as a duplicate", "repeated SOP Instance UID"
            )
            continue
        if uid:
            seen[uid] = path
        if group_by == "instance":
            yield _record([item], "instance", reports, source)
        else:
            uid_key = "SeriesInstanceUID" if group_by == "series" else "StudyInstanceUID"
            # Without the UID the folder is the best guess at a series or study (one folder per series is usual).
            groups.setdefault(item.tags.get(uid_key) or f"folder:{path.parent}", []).append(item)
    for members in groups.values():
        yield _record(members, group_by, reports, source)


def _walk(source: Path) -> Iterator[Path]:
    """Files under ``source`` in a stable order, skipping hidden files and text sidecars."""
    if source.is_file():
        yield source
        return
    for folder, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and not name.lower().endswith(".txt"):
                yield Path(folder) / name


def _read_header(pydicom: Any, path: Path) -> _Instance | DataError:
    """The header of one file (pixel data is not read), or the per-item error that says why not."""
    if not is_dicom(path):
        return SkippedItem(f"{path}: not DICOM (no .dcm suffix, no 'DICM' marker); skipped", "not DICOM")
    try:
        dataset = _parse(pydicom, path)
        tags = dicom_metadata(dataset)
        rows = dataset.get("Rows")
        sop_class = getattr(dataset.get("SOPClassUID"), "name", None) or "unknown SOP class"
        series_number, instance_number = _number(dataset, "SeriesNumber"), _number(dataset, "InstanceNumber")
    except DataError as exc:
        return exc
    except Exception as exc:  # truncated or garbled headers surface as EOFError, ValueError, struct.error, ...
        return DataError(f"{path}: DICOM header is unreadable ({one_line(exc)}); re-export it")
    if not rows:  # no Image Pixel Module (PS3.3 C.7.6.3): SR, RT plan, DICOMDIR, waveform...
        return SkippedItem(f"{path}: no image ({sop_class}); skipped", "no image (SR, RT, DICOMDIR, ...)")
    return _Instance(path, tags, series_number, instance_number)


def _parse(pydicom: Any, path: Path) -> Any:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: DICOM file is empty (0 bytes); re-export or remove it")
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
    except pydicom.errors.InvalidDicomError:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, force=True)  # bare dataset, no PS3.10 preamble
        if "SOPClassUID" not in dataset and "Rows" not in dataset:
            raise DataError(
                f"{path}: not a readable DICOM file (no 'DICM' marker, no image header); remove it"
            ) from None
    if len(dataset) == 0:  # pydicom 3 returns an empty dataset for some corrupt files instead of raising
        raise DataError(f"{path}: no data elements after the file meta header; the file is corrupt, re-export it")
    return dataset


def _number(dataset: Any, keyword: str) -> int:
    """An IS value for sorting; missing or malformed values sort first rather than failing the file."""
    try:
        return int(dataset.get(keyword) or 0)
    except (TypeError, ValueError):
        return 0


def _record(members: list[_Instance], group_by: str, reports: str, source: Path) -> Record:
    members = sorted(
        members, key=lambda m: (m.series_number, m.tags.get("SeriesInstanceUID", ""), m.instance_number, str(m.path))
    )
    metadata = _merge([m.tags for m in members])
    codes = Counter(m.tags.get("Modality", "").upper() for m in members if m.tags.get("Modality"))
    code = codes.most_common(1)[0][0] if codes else ""
    modality = normalize_modality(code or None)
    key = {"instance": "SOPInstanceUID", "series": "SeriesInstanceUID", "study": "StudyInstanceUID"}[group_by]
    uid = metadata.get(key)
    ident = (
        uid if isinstance(uid, str) else os.path.relpath(members[0].path, source if source.is_dir() else source.parent)
    )
    patient = metadata.get("PatientID")
    study = metadata.get("StudyInstanceUID")
    if group_by != "instance":
        metadata["instances"] = len(members)
    return Record(
        id=f"dicom:{ident}" if group_by == "instance" else f"dicom:{group_by}:{ident}",
        text=_report(members, group_by) if reports == "sidecar" else "",
        image_paths=tuple(str(m.path) for m in members),
        domain=_domain(modality, code),
        modality=modality,
        patient_id=patient if isinstance(patient, str) else None,
        study_id=study if isinstance(study, str) else None,
        source="dicom",
        metadata=metadata,
    )


def _domain(modality: str | None, code: str) -> str:
    if modality in MODALITIES:
        return MODALITIES[modality][0]
    return "radiology" if code in _RADIOLOGY_CODES else "other"


def _merge(tag_sets: list[dict[str, str]]) -> dict[str, Any]:
    """One value per whitelisted tag: the shared value, or the sorted distinct values when instances differ."""
    merged: dict[str, Any] = {}
    for keyword in METADATA_TAGS:
        values = sorted({tags[keyword] for tags in tag_sets if keyword in tags})
        if values:
            merged[keyword] = values[0] if len(values) == 1 else values
    return merged


def _report(members: list[_Instance], group_by: str) -> str:
    """Sidecar text: a folder ``report.txt`` (series folder, then the study folder above it) or per-file sidecars."""
    folders = list(dict.fromkeys(m.path.parent for m in members))
    if group_by == "study" and len(folders) > 1:
        folders.append(Path(os.path.commonpath(folders)))
    texts = [_read_text(folder / REPORT_NAME) for folder in folders]
    if not any(texts):
        texts = [
            _read_text(m.path.with_name(m.path.name + ".txt")) or _read_text(m.path.with_suffix(".txt"))
            for m in members
        ]
    return "\n\n".join(dict.fromkeys(text for text in texts if text))


def _read_text(path: Path) -> str:
    if not path.is_file():
        return ""
    return path.read_text(encoding="utf-8", errors="replace").strip()


def _detect(path: Path) -> bool:
    """A DICOM file, or a folder whose first files (up to a few dozen, any depth) include one."""
    if path.is_file():
        return is_dicom(path)
    if not path.is_dir():
        return False
    for count, candidate in enumerate(_walk(path)):
        if count >= _DETECT_LIMIT:
            return False
        if is_dicom(candidate):
            return True
    return False


SPEC = ReaderSpec(
    name="dicom",
    read=read_dicom_folder,
    detect=_detect,
    description="DICOM file or folder (any depth); group_by=instance|series|study; sidecar <file>.txt or report.txt",
)
