"""MedMNIST v2 ``.npz`` (Yang et al., Sci Data 10:41, 2023; CC BY 4.0, DermaMNIST CC BY-NC 4.0) -> one PNG and one
record per image, streamed row by row; text = the class name (labels only: no reports, no patient ids).
PNGs go to ``extract_to`` (the data folder may be read-only); 3D volumes (``*mnist3d``) are not supported.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Item, ReaderSpec
from mmedrag.types import Record

SPLITS = ("train", "val", "test")
_NPY_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
_ORGANS: tuple[str, ...] = (
    "bladder",
    "left femur",
    "right femur",
    "heart",
    "left kidney",
    "right kidney",
    "liver",
    "left lung",
)
_ORGANS += ("right lung", "pancreas", "spleen")


@dataclass(frozen=True)
class MedMnistInfo:
    """What one MedMNIST dataset shows: the caption prefix, domain, modality, class names and licence."""

    title: str
    domain: str
    modality: str
    labels: tuple[str, ...]
    multi_label: bool = False
    license: str = "CC BY 4.0"


# Labels from medmnist/info.py (MedMNIST/MedMNIST on GitHub), wording lightly normalised ("pleural" is ChestX-ray14's
# "Pleural_Thickening", "femur-left" reads "left femur"). RetinaMNIST's info.py names its classes "0".."4"; the
# words are the International Clinical DR severity scale that its source, DeepDRiD, grades with.
DATASETS: dict[str, MedMnistInfo] = {
    "pathmnist": MedMnistInfo(
        "Colorectal histology patch (H&E)",
        "pathology",
        "histopathology",
        ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa")
        + ("cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
    ),
    "chestmnist": MedMnistInfo(
        "Chest X-ray",
        "radiology",
        "xray",
        ("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia", "pneumothorax")
        + ("consolidation", "edema", "emphysema", "fibrosis", "pleural thickening", "hernia"),
        multi_label=True,
    ),
    "dermamnist": MedMnistInfo(
        "Dermoscopy image",
        "dermatology",
        "dermoscopy",
        ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions")
        + ("dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"),
        license="CC BY-NC 4.0",
    ),
    "octmnist": MedMnistInfo(
        "Retinal OCT",
        "ophthalmology",
        "oct",
        ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
    ),
    "pneumoniamnist": MedMnistInfo("Paediatric chest X-ray", "radiology", "xray", ("normal", "pneumonia")),
    "retinamnist": MedMnistInfo(
        "Fundus photograph",
        "ophthalmology",
        "fundus",
        tuple(
            f"diabetic retinopathy grade {grade} ({name})"
            for grade, name in enumerate(
                ("no retinopathy", "mild non-proliferative", "moderate non-proliferative", "severe non-proliferative")
                + ("proliferative",)
            )
        ),
    ),
    # BreastMNIST merges the source's normal and benign classes into label 1; 0 is malignant.
    "breastmnist": MedMnistInfo("Breast ultrasound", "radiology", "ultrasound", ("malignant", "normal or benign")),
    "bloodmnist": MedMnistInfo(
        "Blood cell microscopy",
        "pathology",
        "microscopy",
        ("basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte", "neutrophil")
        + ("platelet",),
    ),
    "tissuemnist": MedMnistInfo(
        "Kidney cortex cell microscopy",
        "pathology",
        "microscopy",
        ("collecting duct, connecting tubule", "distal convoluted tubule", "glomerular endothelial cells")
        + ("interstitial endothelial cells", "leukocytes", "podocytes", "proximal tubule segments")
        + ("thick ascending limb",),
    ),
    "organamnist": MedMnistInfo("Abdominal CT (axial)", "radiology", "ct", _ORGANS),
    "organcmnist": MedMnistInfo("Abdominal CT (coronal)", "radiology", "ct", _ORGANS),
    "organsmnist": MedMnistInfo("Abdominal CT (sagittal)", "radiology", "ct", _ORGANS),
}


def dataset_of(path: Path) -> str | None:
    """The MedMNIST flag a file name starts with (``retinamnist_224.npz`` -> ``retinamnist``), if any."""
    stem = path.stem.lower()
    return next((flag for flag in sorted(DATASETS, key=len, reverse=True) if stem.startswith(flag)), None)


def label_text(info: MedMnistInfo, label: np.ndarray) -> str:
    """The caption of one label row: ``"<title>: <class>."``; multi-label rows list the positive classes."""
    values = np.asarray(label).reshape(-1)
    if info.multi_label:
        names = [info.labels[i] for i in np.flatnonzero(values) if i < len(info.labels)]
        return f"{info.title}: {', '.join(names) if names else 'no finding'}."
    index = int(values[0])
    name = info.labels[index] if 0 <= index < len(info.labels) else f"class {index}"
    return f"{info.title}: {name}."


def _iter_rows(archive: zipfile.ZipFile, path: Path, key: str) -> Iterator[np.ndarray]:
    """The rows of ``key`` in the npz, read one at a time from the (possibly compressed) member: memory stays flat."""
    fmt = np.lib.format
    with archive.open(f"{key}.npy") as handle:
        try:
            version = fmt.read_magic(handle)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
            if reader is None:
                raise DataError(f"{path}: {key} uses .npy format {version}, which this reader does not stream")
            shape, fortran_order, dtype = reader(handle)
        except _NPY_ERRORS as exc:
            raise DataError(f"{path}: {key} is not a valid .npy array ({exc}); re-download the file") from exc
        if fortran_order or dtype.hasobject:
            raise DataError(f"{path}: {key} is Fortran-ordered or holds objects; re-save it with numpy.savez")
        row_shape = tuple(shape[1:])
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * dtype.itemsize
        for index in range(shape[0]):
            try:
                data = handle.read(row_bytes)
            except _NPY_ERRORS as exc:  # a bad CRC or deflate stream in the archive member
                raise DataError(f"{path}: {key} is corrupt at row {index} ({exc}); re-download the file") from exc
            if len(data) != row_bytes:
                raise DataError(f"{path}: {key} is truncated at row {index}; re-download the file")
            yield np.frombuffer(data, dtype=dtype).reshape(row_shape)


def _png_bytes(pixels: np.ndarray) -> bytes:
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless the file already holds exactly it; True when written.

    A temporary sibling renamed over the target means a killed run never leaves a half-written PNG. No fsync: the
    files are a re-creatable cache, and fsync per 28-pixel image would dominate the run time.
    """
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _read_npz(path: Path, out: Path, flag: str) -> Iterator[Item]:
    info = DATASETS[flag]
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc}); re-download it") from exc
    with archive, np.load(path, allow_pickle=False) as npz:
        keys = set(npz.files)
        for split in SPLITS:
            if f"{split}_images" not in keys:
                continue
            if f"{split}_labels" not in keys:
                yield DataError(f"{path}: {split}_images has no {split}_labels; split skipped")
                continue
            try:
                labels = npz[f"{split}_labels"]  # small: one byte (or 14) per image
                if not isinstance(labels, np.ndarray):  # NpzFile hands back raw bytes for a non-.npy member
                    raise ValueError("not a .npy array")
            except _NPY_ERRORS as exc:
                yield DataError(f"{path}: {split}_labels cannot be read ({exc}); split skipped")
                continue
            images = _iter_rows(archive, path, f"{split}_images")
            for index, pixels in enumerate(images):
                if index >= len(labels):
                    yield DataError(f"{path}: {split}_images has more rows than {split}_labels; rest skipped")
                    break
                if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[-1] not in (1, 3)):
                    raise DataError(f"{path}: {split} images have shape {pixels.shape}; 3D volumes are not supported")
                target = out / split / f"{split}_{index:06d}.png"
                write_if_changed(target, _png_bytes(pixels))
                label = labels[index]
                yield Record(
                    id=f"medmnist:{path.stem}:{split}:{index}",
                    text=label_text(info, label),
                    image_paths=(str(target),),
                    domain=info.domain,
                    modality=info.modality,
                    split=split,
                    source=f"medmnist:{flag}",
                    metadata={"label": np.asarray(label).reshape(-1).tolist(), "index": index, "npz": str(path)}
                    | {"caption_kind": "label-derived", "license": info.license},
                )


def _is_medmnist(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".npz"):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name in archive.namelist() for name in ("train_images.npy", "test_images.npy"))
    except (zipfile.BadZipFile, OSError):
        return False


def read_medmnist(source: Path, extract_to: str | Path | None = None, dataset: str | None = None) -> Iterator[Item]:
    """Read a MedMNIST ``.npz`` (or every one in a folder), writing its images as PNG files.

    Args:
        source: a ``<flag>[_size].npz`` file with ``{train,val,test}_{images,labels}``, or a folder of them.
        extract_to: folder the PNGs go to (``<extract_to>/<npz stem>/<split>/<split>_<index>.png``); required.
            Existing identical files are left alone, so a second run writes nothing.
        dataset: the MedMNIST flag (e.g. ``retinamnist``) when the file name does not start with it.

    Yields:
        A Record per image with its split and class-name text.
    """
    if extract_to is None:
        raise DataError(f"{source}: MedMNIST images must be written out as PNG files; pass extract_to=<folder>")
    files = sorted(p for p in source.glob("*.npz") if _is_medmnist(p)) if source.is_dir() else [source]
    if not files:
        raise DataError(f"{source}: no MedMNIST .npz files (with train_images/test_images) found")
    for path in files:
        flag = dataset.lower() if dataset else dataset_of(path)
        if flag not in DATASETS:
            raise DataError(
                f"{path}: cannot tell which MedMNIST dataset this is; pass dataset= one of: {', '.join(DATASETS)}"
            )
        yield from _read_npz(path, Path(extract_to).expanduser() / path.stem, flag)


def _detect(path: Path) -> bool:
    if path.is_dir():
        return any(_is_medmnist(p) for p in sorted(path.glob("*.npz"))[:20])
    return _is_medmnist(path)


SPEC = ReaderSpec(
    name="medmnist",
    read=read_medmnist,
    detect=_detect,
    description="MedMNIST .npz (or a folder of them) -> PNGs under extract_to= (required); label-derived captions",
)
