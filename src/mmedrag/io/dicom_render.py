"""Render a decoded DICOM frame to 8 bits for display: modality LUT, VOI window or LUT, palette and colour scaling.

Memory stays proportional to the frame: the LUTs and windows run on strips of about a million pixels (float64
there, so the output is exactly what a whole-frame computation gives) and the full-size result is one 8-bit grey
plane (or RGB for colour). A 36 MP 16-bit frame once cost 1.2 GB (a float64 full frame and its temporaries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

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

Window = str | tuple[float, float]
_STRIP_PIXELS = 1 << 20  # pixels per strip rendered at once: 8 MB per float64 temporary


def to_8bit(
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
