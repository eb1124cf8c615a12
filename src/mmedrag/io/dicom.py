"""Decode DICOM images into 8-bit RGB pictures for the encoders, and extract the few header tags records may keep.

It renders for display (LUTs, windowing, colour: :mod:`mmedrag.io.dicom_render`); it does not resample, reorient
or keep Hounsfield values. With ``max_side`` each frame is downscaled before its RGB copy is made, and the encoded
pixel data is let go before rendering, so the decoder's own buffers are the peak (``benchmarks/bench_memory.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from mmedrag._optional import available, require
from mmedrag.errors import ConfigError, ImageError, MmedragError
from mmedrag.io.dicom_render import CT_RGB_WINDOWS, WINDOWS, Window, first_value, to_8bit
from mmedrag.io.limits import MAX_PIXELS, fit

if TYPE_CHECKING:
    from pydicom import Dataset

# The only tags copied into records: enough to route, group and guard against leakage, and nothing that names
# the patient (PatientName, PatientBirthDate and the like are never read out).
METADATA_TAGS: tuple[str, ...] = (
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
)

Frames = Literal["middle", "all"] | int

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_LIBJPEG = "pylibjpeg pylibjpeg-libjpeg"
_OPENJPEG = "pylibjpeg pylibjpeg-openjpeg"
# Transfer Syntax UID (PS3.6 Annex A) -> packages whose pydicom 3 decoder plugin handles it.
_INSTALL_HINTS: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": _LIBJPEG,  # JPEG Baseline: Pillow usually decodes it
    "1.2.840.10008.1.2.4.51": _LIBJPEG,  # JPEG Extended: Pillow cannot decode 12-bit samples
    "1.2.840.10008.1.2.4.57": _LIBJPEG,  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": _LIBJPEG,  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": f"{_LIBJPEG} (or pyjpegls)",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": f"{_LIBJPEG} (or pyjpegls)",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90": _OPENJPEG,  # JPEG 2000 Lossless: Pillow decodes it when built with OpenJPEG
    "1.2.840.10008.1.2.4.91": _OPENJPEG,  # JPEG 2000
    "1.2.840.10008.1.2.4.201": _OPENJPEG,  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": _OPENJPEG,  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": _OPENJPEG,  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",  # RLE: pydicom's own decoder needs only numpy
}


@dataclass(frozen=True)
class DicomImage:
    """A decoded DICOM file: one RGB image per requested frame, plus what a record may keep of its header.

    ``window`` says how grey values were mapped to 0..255 (``"preset:lung"``, ``"window:40/400"``,
    ``"dataset window"``, ``"dataset VOI LUT"``, ``"min-max"``, ``"ct_rgb:lung/mediastinum/bone"`` or ``"colour"``).
    """

    images: list[Image.Image]
    metadata: dict[str, str]
    rows: int
    columns: int
    frames: int
    frame_indices: tuple[int, ...]
    photometric: str
    transfer_syntax: str
    window: str

    @property
    def image(self) -> Image.Image:
        """The first (by default the only) rendered frame."""
        return self.images[0]


def dicom_metadata(dataset: Dataset) -> dict[str, str]:
    """The whitelisted tags of ``dataset`` (:data:`METADATA_TAGS`) as stripped strings; empty ones are left out."""
    metadata: dict[str, str] = {}
    for keyword in METADATA_TAGS:
        value = dataset.get(keyword)
        text = "" if value is None else str(value).strip()
        if text:
            metadata[keyword] = text
    return metadata


def read_dicom_header(path: str | Path) -> dict[str, str]:
    """The whitelisted tags of a DICOM file's header (:func:`dicom_metadata`), without reading its pixel data.

    Raises:
        ImageError: the file is missing, empty, not DICOM, or its header is corrupt.
        MissingExtraError: pydicom is not installed.
    """
    return dicom_metadata(_read_dataset(require("pydicom", "dicom"), Path(path)))


def load_dicom_image(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """The middle frame of a DICOM file as 8-bit RGB, greys mapped by the file's own VOI (else min-max); with
    ``max_side``, downscaled (Lanczos) so that no side exceeds it.

    Raises:
        ImageError: the file is empty, not DICOM, has no pixel data, is truncated, too large, or uses a compression
            no installed plugin decodes (the message names the transfer syntax and the package to install).
        MissingExtraError: pydicom is not installed.
    """
    return read_dicom(path, max_pixels=max_pixels, max_side=max_side).image


def read_dicom(
    path: str | Path,
    *,
    window: Window | Sequence[float] | None = None,
    frames: Frames = "middle",
    ct_rgb: bool = False,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = None,
) -> DicomImage:
    """Decode ``path`` and render the requested frames as 8-bit RGB.

    Grey images go through the modality LUT (rescale slope/intercept, PS3.3 C.11.1), then a VOI (PS3.3 C.11.2):
    ``window`` if given, else the file's VOI LUT or Window Center/Width, else the min-max of the frame; MONOCHROME1
    is inverted last. Palette, RGB and YBR images come out in RGB.

    Args:
        path: the DICOM file.
        window: a preset name from :data:`WINDOWS` (CT only, in HU) or ``(centre, width)`` in modality units.
        frames: ``"middle"`` (default), ``"all"``, or a 0-based frame index.
        ct_rgb: for CT, render the lung, mediastinum and bone windows as the R, G and B channels.
        max_pixels: refuse files whose decoded frames hold more pixels than this, checked before decoding.
        max_side: downscale each rendered frame (Lanczos) so no side exceeds this, before its RGB copy is made.

    Raises:
        ConfigError: ``window`` or ``frames`` is not a valid choice.
        ImageError: see :func:`load_dicom_image`.
    """
    window = _check_options(window, frames)
    pydicom = require("pydicom", "dicom")
    path = Path(path)
    dataset = _read_dataset(pydicom, path)
    try:
        return _render(
            dataset, path, window=window, frames=frames, ct_rgb=ct_rgb, max_pixels=max_pixels, max_side=max_side
        )
    except MmedragError:
        raise
    except Exception as exc:  # decoder plugins raise anything (RuntimeError, ValueError, struct.error, ...)
        raise ImageError(_decode_failure(path, dataset, exc)) from exc


def _check_options(window: Window | Sequence[float] | None, frames: Frames) -> Window | None:
    """Validate the caller's choices (a config or CLI mistake, not a per-file error); lists become tuples."""
    if not (frames in ("middle", "all") or (isinstance(frames, int) and not isinstance(frames, bool))):
        raise ConfigError(f"frames={frames!r}: use 'middle', 'all' or a 0-based frame index")
    if window is None or isinstance(window, str):
        if window is not None and window not in WINDOWS:
            raise ConfigError(f"unknown window {window!r}; use one of: {', '.join(WINDOWS)}, or (centre, width)")
        return window
    try:
        centre, width = (float(value) for value in window)
    except (TypeError, ValueError):
        raise ConfigError(f"window {window!r} must be a preset name or (centre, width)") from None
    if width <= 0:
        raise ConfigError(f"window {window!r}: the width must be positive")
    return (centre, width)


def _read_dataset(pydicom: Any, path: Path) -> Dataset:
    """Parse the header; large values (the pixel data) are deferred so size checks run before anything is loaded."""
    if not path.is_file():
        raise ImageError(f"{path}: DICOM file not found; check the path")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: DICOM file is empty (0 bytes); re-export or remove it")
    errors = pydicom.errors.InvalidDicomError
    try:
        try:
            dataset = pydicom.dcmread(path, defer_size="64 KB")
        except errors:
            # PS3.10 files start with a preamble and "DICM"; older exports are bare datasets, so try once more.
            dataset = pydicom.dcmread(path, defer_size="64 KB", force=True)
            if "SOPClassUID" not in dataset and "Rows" not in dataset:
                raise ImageError(
                    f"{path}: not a DICOM file (no 'DICM' marker, no image header); check the file"
                ) from None
    except ImageError:
        raise
    except Exception as exc:  # truncated or garbled headers surface as EOFError, ValueError, struct.error, ...
        raise ImageError(f"{path}: DICOM header is truncated or corrupt ({one_line(exc)}); re-export it") from exc
    return dataset


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: message`` on one line, cut to ``limit`` characters (pydicom messages span several lines)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:limit]


def _transfer_syntax(pydicom: Any, dataset: Dataset, path: Path) -> Any:
    """The dataset's Transfer Syntax UID; for bare datasets, the native syntax they were parsed with (PS3.5 A.1-A.3)."""
    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    if uid:
        return uid
    if "PixelData" in dataset and dataset["PixelData"].is_undefined_length:  # encapsulated: compressed, codec unknown
        raise ImageError(
            f"{path}: compressed pixel data but no Transfer Syntax UID; re-export it with a file meta header"
        )
    implicit, little = dataset.original_encoding
    uids = pydicom.uid
    guessed = (
        uids.ImplicitVRLittleEndian if implicit else uids.ExplicitVRLittleEndian if little else uids.ExplicitVRBigEndian
    )
    if meta is None:
        dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = guessed
    return guessed


def _render(
    dataset: Dataset,
    path: Path,
    *,
    window: Window | None,
    frames: Frames,
    ct_rgb: bool,
    max_pixels: int,
    max_side: int | None,
) -> DicomImage:
    pydicom = require("pydicom", "dicom")
    if not any(keyword in dataset for keyword in _PIXEL_KEYWORDS):
        meta = getattr(dataset, "file_meta", None)
        sop = dataset.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta is not None else None)
        kind = getattr(sop, "name", None) or "unknown SOP class"
        # pydicom 3 stops quietly at a truncated element, and returns an empty dataset when compressed (encapsulated)
        # pixel data is cut short, so an image header, an image SOP class or no elements at all mean truncation.
        if len(dataset) == 0 or "Rows" in dataset or "Image Storage" in kind:
            raise ImageError(f"{path}: {kind} header but no pixel data; the file looks truncated, re-export it")
        raise ImageError(f"{path}: has no pixel data ({kind}, e.g. a structured report or RT plan); skip it")
    rows, columns = _header_int(dataset, "Rows", path), _header_int(dataset, "Columns", path)
    if not rows or not columns:
        raise ImageError(f"{path}: pixel data without Rows/Columns; the image header is incomplete, re-export it")
    total = _header_int(dataset, "NumberOfFrames", path) or 1
    if total < 1:
        raise ImageError(f"{path}: Number of Frames is {total}; fix or re-export it")
    indices = _frame_indices(frames, total, path)
    # Decompression bomb guard: the decoded size is known from the header before a byte of pixel data is touched.
    if rows * columns * len(indices) > max_pixels:
        raise ImageError(
            f"{path}: {len(indices)} frame(s) of {columns}x{rows} pixels exceed the limit of {max_pixels}; "
            "decode fewer frames or downsample it first"
        )
    syntax = _transfer_syntax(pydicom, dataset, path)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    is_ct = str(dataset.get("Modality", "")).upper() == "CT"
    images: list[Image.Image] = []
    how = ""
    for index in indices:
        array = _decode_frame(dataset, index, syntax)
        if index == indices[-1]:  # the encoded bytes are read whole: let them go before the rendering copies
            for keyword in _PIXEL_KEYWORDS:
                if keyword in dataset:
                    del dataset[keyword]
        pixels, how = to_8bit(array, dataset, photometric, window=window, ct_rgb=ct_rgb and is_ct)
        del array  # the decoded frame goes before the downscaled copy is made
        image = Image.fromarray(pixels, mode="L" if pixels.ndim == 2 else "RGB")
        images.append((fit(image, max_side) if max_side else image).convert("RGB"))
        del pixels, image
    return DicomImage(
        images=images,
        metadata=dicom_metadata(dataset),
        rows=rows,
        columns=columns,
        frames=total,
        frame_indices=indices,
        photometric=photometric,
        transfer_syntax=str(getattr(syntax, "name", syntax)),
        window=how,
    )


def _header_int(dataset: Dataset, keyword: str, path: Path) -> int:
    """An integer header value (0 when absent); a malformed one (e.g. Number of Frames '1A') is a per-file error."""
    value = dataset.get(keyword)
    try:
        return 0 if value is None or value == "" else int(value)
    except (TypeError, ValueError) as exc:
        raise ImageError(f"{path}: header value {keyword}={value!r} is not an integer; fix or re-export it") from exc


def _frame_indices(frames: Frames, total: int, path: Path) -> tuple[int, ...]:
    if frames == "all":
        return tuple(range(total))
    if frames == "middle":
        return (total // 2,)  # the middle slice/phase is the most representative single picture of a cine or volume
    index = int(frames)
    if not 0 <= index < total:
        raise ImageError(f"{path}: frame {index} does not exist; the file has {total} frame(s) (0-based)")
    return (index,)


def _decode_frame(dataset: Dataset, index: int, syntax: Any) -> np.ndarray:
    """Decode one frame; YBR_FULL(_422) comes out as RGB (pydicom's default ``as_rgb``).

    JPEG-LS goes to CharLS (``pyjpegls``) when it is installed: pylibjpeg's libjpeg decoder needs twice the frame
    and keeps about as much allocated after it returns (measured on a 36 MP frame: 277 MB peak, 140 MB kept).
    No warnings filter here (``catch_warnings`` is not thread-safe and ingestion decodes in threads): the header
    size check has run, and Pillow refuses a corrupt JPEG 2000 header that claims more than twice its own limit.
    """
    from pydicom.pixels import pixel_array

    if str(syntax) in _JPEG_LS and available("jpeg_ls"):
        return pixel_array(dataset, index=index, decoding_plugin="pyjpegls")
    return pixel_array(dataset, index=index)


_JPEG_LS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}


def _decode_failure(path: Path, dataset: Dataset, exc: Exception) -> str:
    """One line: which transfer syntax failed and why, with the ``pip install`` that adds a decoder when one would."""
    meta = getattr(dataset, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    name = getattr(uid, "name", None) or "unknown transfer syntax"
    hint = _INSTALL_HINTS.get(str(uid or ""))
    detail = " ".join(str(exc).split())  # pydicom lists plugins on separate lines; errors here are one line
    if "missing dependencies" in detail:
        fix = f"install one with: pip install {hint}" if hint else "convert it (e.g. gdcmconv --raw)"
        return f"{path}: no installed plugin decodes '{name}' pixel data; {fix}"
    if "no pixel data decoders" in detail.lower() or isinstance(exc, NotImplementedError):
        reason = detail[:160]
        return f"{path}: '{name}' pixel data cannot be decoded in Python ({reason}); convert it (e.g. gdcmconv --raw)"
    if "exceptions were raised by all available plugins" in detail:
        fix = f"the data may be corrupt, or install another decoder: pip install {hint}" if hint else "re-export it"
        return f"{path}: decoding '{name}' failed with the installed plugins ({detail[:200]}); {fix}"
    return f"{path}: pixel data is corrupt or inconsistent with its header ({one_line(exc)}); re-export it"


__all__ = [
    "CT_RGB_WINDOWS",
    "WINDOWS",
    "DicomImage",
    "dicom_metadata",
    "first_value",
    "load_dicom_image",
    "read_dicom",
    "read_dicom_header",
]
