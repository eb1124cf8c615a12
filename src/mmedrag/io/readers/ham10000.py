"""HAM10000 dermoscopy images (Tschandl et al., Sci Data 5:180161, 2018; CC BY-NC 4.0) from their metadata CSV.

HAM10000 has no reports: the record text is a caption made from the labels (diagnosis, site, age, sex), not a
clinician's description. ``lesion_id`` groups images of one lesion and is the study id; patients are not identified.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec, SkippedItem
from mmedrag.io.readers.tabular import iter_csv_rows, read_header
from mmedrag.types import Record

METADATA_NAMES = ("metadata.csv", "HAM10000_metadata.csv", "HAM10000_metadata")
# Diagnosis codes as defined in the HAM10000 paper (Table 1).
DX_NAMES = {
    "akiec": "actinic keratosis / intraepithelial carcinoma",
    "bcc": "basal cell carcinoma",
    "bkl": "benign keratosis-like lesion",
    "df": "dermatofibroma",
    "mel": "melanoma",
    "nv": "melanocytic nevus",
    "vasc": "vascular lesion",
}
# How the diagnosis was established (column dx_type).
DX_TYPES = {
    "histo": "histopathology",
    "follow_up": "follow-up examination",
    "consensus": "expert consensus",
    "confocal": "in-vivo confocal microscopy",
}
# The upstream download splits the images over two folders.
_IMAGE_FOLDERS = ("images", "HAM10000_images_part_1", "HAM10000_images_part_2", "HAM10000_images", ".")


def _known(value: str | None) -> str:
    text = (value or "").strip()
    return "" if text.lower() in {"", "unknown", "nan"} else text


def ham_caption(dx_name: str, localization: str, age: str, sex: str, dx_type: str) -> str:
    """A label-derived caption, e.g. "Dermoscopy of a melanoma on the back of a 35-year-old female."."""
    subject = f"Dermoscopy of a {dx_name}" if dx_name else "Dermoscopy of a skin lesion"
    site = f" on the {localization}" if localization else ""
    try:
        years = f"{int(float(age))}-year-old " if age else ""
    except ValueError:
        years = ""
    person = f" of a {years}{sex}" if sex else f" of a {years}patient" if years else ""
    how = f" Diagnosis by {DX_TYPES.get(dx_type, dx_type)}." if dx_type else ""
    return f"{subject}{site}{person}.{how}"


def _image_of(folder: Path, row: dict[str, str]) -> Path | None:
    if row.get("image"):
        return folder / row["image"]
    image_id = row.get("image_id", "")
    for sub in _IMAGE_FOLDERS:
        candidate = folder / sub / f"{image_id}.jpg"
        if candidate.is_file():
            return candidate
    return None


def _metadata_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    return next((path / name for name in METADATA_NAMES if (path / name).is_file()), None)


def read_ham10000(source: Path) -> Iterator[Item]:
    """Read HAM10000 from its folder (metadata CSV + images) or from the metadata CSV itself.

    Yields:
        A dermatology/dermoscopy Record per image row (id ``ham10000:<image_id>``, study ``ham10000:<lesion_id>``);
        a SkippedItem for a row whose image is not in this copy; a DataError for an unreadable row.
    """
    path = _metadata_file(source)
    if path is None:
        raise DataError(f"{source}: no HAM10000 metadata ({', '.join(METADATA_NAMES)}) found")
    if not {"image_id", "lesion_id", "dx"} <= set(read_header(path)):
        raise DataError(f"{path}: not HAM10000 metadata (needs columns image_id, lesion_id, dx)")
    for number, row in iter_csv_rows(path):
        if isinstance(row, DataError):
            yield row
            continue
        image_id, dx = row.get("image_id", ""), row.get("dx", "")
        if not image_id or not dx:
            yield DataError(f"{path}: row {number} has no image_id or no dx; skipped")
            continue
        image = _image_of(path.parent, row)
        if image is None or not image.is_file():
            yield SkippedItem(
                f"{path}: row {number}: image {image_id} not in this copy of HAM10000", "image not in this copy"
            )
            continue
        dx_name = row.get("dx_name") or DX_NAMES.get(dx, dx)
        fields = {name: _known(row.get(name)) for name in ("localization", "age", "sex", "dx_type")}
        metadata = {"dx": dx, "dx_name": dx_name, "lesion_id": row.get("lesion_id", "")} | fields
        metadata |= {"caption_kind": "label-derived", "license": "CC BY-NC 4.0"}
        metadata |= {name: row[name] for name in ("dataset",) if row.get(name)}
        yield Record(
            id=f"ham10000:{image_id}",
            text=ham_caption(dx_name, fields["localization"], fields["age"], fields["sex"], fields["dx_type"]),
            image_paths=(str(image),),
            domain="dermatology",
            modality="dermoscopy",
            study_id=f"ham10000:{row['lesion_id']}" if row.get("lesion_id") else None,
            source="ham10000",
            metadata=metadata,
        )


def _detect(path: Path) -> bool:
    if path.is_file() and path.suffix.lower() != ".csv" and path.name != "HAM10000_metadata":
        return False
    if not path.exists():
        return False
    file = _metadata_file(path)
    return file is not None and {"image_id", "lesion_id", "dx"} <= set(read_header(file))


SPEC = ReaderSpec(
    name="ham10000",
    read=read_ham10000,
    detect=_detect,
    description="HAM10000 dermoscopy: metadata CSV (image_id, lesion_id, dx, ...) + images; label-derived captions",
)
