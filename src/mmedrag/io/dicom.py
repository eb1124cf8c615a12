"""Decode DICOM images into 8-bit RGB pictures for the encoders, and extract the few header tags records may keep.

It renders for display (LUTs, windowing, colour); it does not resample, reorient or keep Hounsfield values.
Memory stays proportional to the decoded frame: the LUTs and windows run on strips of about a million pixels
(float64 there, so the output is exact), the full-size result is one 8-bit grey plane, and with ``max_side`` it is
downscaled before the RGB copy is made. A 36 MP 16-bit frame once cost 1.2 GB this way (a float64 full frame and
its temporaries); now the decoder's own buffers are the peak (``benchmarks/bench_memory.py``).
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
from mmedrag.io.limits import MAX_PIXELS, fit

if TYPE_CHECKING:
    from pydicom import Dataset

# CT presets as (centre, width) in Hounsfield units, from Radiopaedia "Windowing (CT)" (W/L table): lungs W1500 L-600,
# mediastinum W350 L50, brain W80 L40, bone W1800 L400, abdominal soft tissue W400 L50.
WINDOWS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "brain": (40.0, 80.0),
    "bone": (400.0, 1800.0),
    "abdomen": (50.0, 400.0),
}
# Three CT windows as R, G, B: a common way to feed one CT slice to an RGB network without losing contrast.
CT_RGB_WINDOWS: tuple[str, str, str] = ("lung", "mediastinum", "bone")

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

Window = str | tuple[float, float]
Frames = Literal["middle", "all"] | int

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_STRIP_PIXELS = 1 << 20  # pixels per strip rendered at once: 8 MB per float64 temporary
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
        pixels, how = _to_8bit(array, dataset, photometric, window=window, ct_rgb=ct_rgb and is_ct)
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


def _to_8bit(
    array: np.ndarray, dataset: Dataset, photometric: str, *, window: Window | None, ct_rgb: bool
) -> tuple[np.ndarray, str]:
    """The frame as 8-bit grey (rows x columns) or RGB (rows x columns x 3), rendered strip by strip."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    if photometric == "PALETTE COLOR":  # PS3.3 C.7.6.3.1.5: stored values index the RGB palette

        def palette(rows: np.ndarray) -> np.ndarray:
            lut = apply_color_lut(rows, dataset)[..., :3]
            return _scale_unsigned(lut, 16 if lut.dtype == np.uint16 else 8)

        return _by_strips(array, palette, colour=True), "colour"
    if array.ndim == 3:  # RGB, or YBR already converted to RGB by pydicom / the JPEG decoder (PS3.3 C.7.6.3.1.2)
        if array.dtype == np.uint8:
            return np.ascontiguousarray(array), "colour"
        bits = int(dataset.get("BitsStored") or 8)
        return _by_strips(array, lambda rows: _scale_unsigned(rows, bits), colour=True), "colour"

    def values(rows: np.ndarray) -> np.ndarray:  # stored values -> HU etc.
        return np.nan_to_num(apply_modality_lut(rows, dataset).astype(np.float64))

    if ct_rgb:

        def mapping(strip: np.ndarray) -> np.ndarray:
            return np.stack([_window_linear(strip, *WINDOWS[name]) for name in CT_RGB_WINDOWS], axis=-1)

        how = f"ct_rgb:{'/'.join(CT_RGB_WINDOWS)}"
    else:
        mapping, how = _voi(array, values, dataset, window)
    invert = photometric == "MONOCHROME1"  # PS3.3 C.7.6.3.1.2: the minimum value is white, so invert for display

    def render(rows: np.ndarray) -> np.ndarray:
        grey = mapping(values(rows))
        if invert:
            grey = 255.0 - grey
        return np.rint(grey).clip(0, 255).astype(np.uint8)

    return _by_strips(array, render, colour=ct_rgb), how


def _strips(array: np.ndarray) -> range:
    rows = max(1, _STRIP_PIXELS // max(1, array.shape[1]))
    return range(0, array.shape[0], rows)


def _by_strips(array: np.ndarray, render: Any, colour: bool) -> np.ndarray:
    """``render`` applied to strips of rows of ``array``, written into one 8-bit output (no full-frame float)."""
    out = np.empty(array.shape[:2] + ((3,) if colour else ()), dtype=np.uint8)
    step = _strips(array).step
    for top in _strips(array):
        out[top : top + step] = render(array[top : top + step])
    return out


def _voi(array: np.ndarray, values: Any, dataset: Dataset, window: Window | None) -> tuple[Any, str]:
    """How modality values map to 0..255: explicit window > the file's VOI LUT or window (PS3.3 C.11.2) > min-max.

    Returns a function of a strip of modality values; min-max needs the range of the whole frame first.
    """
    is_ct = str(dataset.get("Modality", "")).upper() == "CT"
    if isinstance(window, str) and is_ct:  # presets are in HU; on other modalities they would be meaningless
        centre, width = WINDOWS[window]
        return (lambda strip: _window_linear(strip, centre, width)), f"preset:{window}"
    if isinstance(window, tuple):
        centre, width = float(window[0]), float(window[1])
        return (lambda strip: _window_linear(strip, centre, width)), f"window:{centre:g}/{width:g}"
    if dataset.get("VOILUTSequence"):
        item = dataset.VOILUTSequence[0]
        if item.get("LUTDescriptor") is not None and item.get("LUTData") is not None:
            return (lambda strip: _voi_lut(strip, dataset)), "dataset VOI LUT"
    file_centre, file_width = first_value(dataset.get("WindowCenter")), first_value(dataset.get("WindowWidth"))
    function = str(dataset.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    usable = function in {"LINEAR", "LINEAR_EXACT", "SIGMOID"}
    if file_centre is not None and file_width is not None and file_width > 0 and usable:
        centre, width = file_centre, file_width
        return (lambda strip: _window_linear(strip, centre, width, function)), "dataset window"
    step = _strips(array).step
    ranges = [(float(v.min()), float(v.max())) for top in _strips(array) for v in [values(array[top : top + step])]]
    low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return (lambda strip: _min_max(strip, low, high)), "min-max"


def first_value(value: Any) -> float | None:
    """Window Center/Width are multi-valued (alternative views, PS3.3 C.11.2.1.2); the first is the default view."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def _window_linear(values: np.ndarray, centre: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID) onto 0..255."""
    if function == "SIGMOID":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - (centre - width / 2.0)) / width, 0.0, 1.0) * 255.0
    if width <= 1.0:  # degenerate LINEAR window: a threshold at centre - 0.5
        return np.where(values > centre - 0.5, 255.0, 0.0)
    return np.clip((values - (centre - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0) * 255.0


def _voi_lut(values: np.ndarray, dataset: Dataset) -> np.ndarray:
    """Apply the first VOI LUT (PS3.3 C.11.2.1.1), scaled by the range of its entries: many LUTs declare 16 bits
    per entry but only use 12, and the entries' own range is what the LUT author meant as black to white."""
    from pydicom.pixels import apply_voi

    descriptor = dataset.VOILUTSequence[0].LUTDescriptor
    entries, first = int(descriptor[0]) or 2**16, int(descriptor[1])
    table = apply_voi(np.arange(first, first + entries, dtype=np.int64), dataset).astype(np.float64)
    mapped = apply_voi(np.rint(values).astype(np.int64), dataset).astype(np.float64)
    low, high = float(table.min()), float(table.max())
    return np.zeros_like(mapped) if high <= low else (mapped - low) / (high - low) * 255.0


def _min_max(values: np.ndarray, low: float, high: float) -> np.ndarray:
    return np.zeros_like(values) if high <= low else (values - low) / (high - low) * 255.0


def _scale_unsigned(array: np.ndarray, bits: int) -> np.ndarray:
    """Colour samples of ``bits`` bits to 0..255 (8-bit data is kept as is)."""
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    top = float(2 ** min(max(bits, 1), 64) - 1)
    return np.rint(np.clip(array.astype(np.float64), 0, top) / top * 255.0).astype(np.uint8)


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
