"""MedPix 2.0 (Siragusa et al. 2025): CT/MR images with a per-image caption and the case's findings and diagnosis.

Reads the dataset's own layout: ``Descriptions.json`` (one entry per image), ``Case_topic.json`` (one per case) and
``images/<image id>.png``. Descriptions whose image file is absent (the shared copy holds a subset) are skipped and
counted, not treated as errors. A MedPix case is one patient, so the case id is the patient id for the leakage guard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.domains import normalize_modality
from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec, SkippedItem
from mmedrag.types import Record


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: MedPix 2.0 file missing; point the reader at the folder holding it and images/")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid UTF-8 JSON ({exc}); re-download the file") from exc


def _clean(value: Any) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text in {"N/A", "n/a", "None"} else " ".join(text.split())


def medpix_text(caption: str, findings: str, diagnosis: str) -> str:
    """The report text of one image: its caption, then the case findings and diagnosis (empty parts left out)."""
    parts = [caption]
    if findings:
        parts.append(f"Findings: {findings}")
    if diagnosis:
        parts.append(f"Diagnosis: {diagnosis}")
    return "\n".join(part for part in parts if part)


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: malformed nested fields read as missing."""
    return value if isinstance(value, dict) else {}


def _list_of(path: Path) -> list[Any]:
    data = _load_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list (MedPix 2.0 format), got {type(data).__name__}")
    return data


def read_medpix2(source: Path, image_dir: str = "images") -> Iterator[Item]:
    """Read MedPix 2.0 from ``source`` (a folder with Descriptions.json, Case_topic.json and images/)."""
    descriptions = _list_of(source / "Descriptions.json")
    cases = {str(case.get("U_id")): case for case in map(_mapping, _list_of(source / "Case_topic.json"))}
    for number, raw in enumerate(descriptions, start=1):
        entry = _mapping(raw)
        image_id = entry.get("image")
        if not image_id or not isinstance(image_id, str):
            yield DataError(f"{source}/Descriptions.json: entry {number} has no 'image' id; skipped")
            continue
        image_path = source / image_dir / f"{image_id}.png"
        if not image_path.is_file():
            yield SkippedItem(f"{image_path}: image not in this copy of MedPix 2.0", "image not in this copy")
            continue
        case_id = str(entry.get("U_id") or image_id.split("_")[0])
        case = _mapping(_mapping(cases.get(case_id)).get("Case"))
        description = _mapping(entry.get("Description"))
        caption = _clean(description.get("Caption"))
        findings = _clean(case.get("Findings"))
        diagnosis = _clean(case.get("Case Diagnosis")) or _clean(case.get("Title"))
        text = medpix_text(caption, findings, diagnosis)
        if not text:
            yield DataError(f"{image_path}: no caption and no case text; skipped")
            continue
        yield Record(
            id=f"medpix2:{image_id}",
            text=text,
            image_paths=(str(image_path),),
            domain="radiology",
            modality=normalize_modality(_clean(entry.get("Type")) or None),
            patient_id=f"medpix2:{case_id}",
            source="medpix2",
            metadata={
                "case_id": case_id,
                "source_image": image_id.split("_", 1)[-1],  # the MedPix "synpic" id, shared with VQA-RAD
                "modality_detail": _clean(description.get("Modality")),
                "plane": _clean(description.get("Plane")),
                "location": _clean(entry.get("Location")),
                "age": _clean(description.get("Age")),
                "sex": _clean(description.get("Sex")),
                "case_title": _clean(case.get("Title")),
                "history": _clean(case.get("History")),
            },
        )


SPEC = ReaderSpec(
    name="medpix2",
    read=read_medpix2,
    detect=lambda path: (
        path.is_dir() and (path / "Descriptions.json").is_file() and (path / "Case_topic.json").is_file()
    ),
    description="MedPix 2.0 folder: Descriptions.json, Case_topic.json, images/",
)
