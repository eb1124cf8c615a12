"""Open images safely and fingerprint them for deduplication and the leakage guard.

Everything a user points at goes through :func:`load_image`, so a missing, truncated, non-image or oversized file
fails with one line naming the file and what to do. DICOM decoding lives in its own module (extra ``dicom``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mmedrag.errors import ImageError
from mmedrag.io.limits import MAX_PIXELS, fit
from mmedrag.types import Query

# The byte budget counts bit depth and channels: a picture may take as many bytes to decode as MAX_PIXELS RGB pixels
# (450 MB); a 16-bit RGBA one costs 8 bytes per pixel before it is converted.
BYTES_PER_PIXEL_BUDGET = 3
# Largest side kept when an image is decoded for an encoder or a fingerprint. Encoders take 224-448 pixels; 1024
# leaves the pixel hash, the dHash and the 128-pixel verification thumbnails of the leakage guard unchanged for
# every image up to that size, and bounds a decoded view to 3 MB, so a batch never holds full-size scans.
DECODE_SIDE = 1024
_SOURCE_SIZE = "mmedrag.source_size"  # Image.info key
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
_MODE_BYTES |= {"RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3}
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_ROWS_PER_BLOCK = 512

DICOM_SUFFIXES = {".dcm", ".dicom"}
_DICOM_MAGIC_OFFSET = 128  # PS3.10 §7.1: a 128-byte preamble, then "DICM"


def is_dicom(path: str | Path) -> bool:
    """A ``.dcm`` name or the PS3.10 ``DICM`` marker: PACS exports often have no file extension."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            handle.seek(_DICOM_MAGIC_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def decode_side(encoder: object | None = None) -> int:
    """The largest side worth decoding for ``encoder``: :data:`DECODE_SIDE`, or its input size when larger."""
    size = getattr(encoder, "image_size", None)
    return max(DECODE_SIDE, int(size)) if isinstance(size, int) else DECODE_SIDE


def decoded_bytes(mode: str, size: tuple[int, int]) -> int:
    """Bytes that decoding an image of ``mode`` and ``size`` takes (4 per pixel for modes not listed)."""
    return size[0] * size[1] * _MODE_BYTES.get(mode, 4)


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS, max_side: int | None = None) -> Image.Image:
    """Open ``path`` as an RGB image, fully decoded; with ``max_side``, downscaled so no side exceeds it.

    Downscaling happens as the image is decoded (a JPEG decodes at a reduced DCT scale; other formats are
    resized before the 8-bit RGB copy is made), so a 12000x12000 16-bit scan never exists as RGB, let alone float.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated, or larger than the decoding budget
            (``max_pixels`` pixels, or as many bytes as that many RGB pixels).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found; check the path or the data root it is resolved against")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: image file is empty (0 bytes); re-export or remove it")
    if is_dicom(path):
        from mmedrag.io.dicom import read_dicom

        decoded = read_dicom(path, max_pixels=max_pixels, max_side=max_side)  # downscaled before the RGB copy
        return _with_source_size(decoded.image, (decoded.columns, decoded.rows))
    try:
        # No warnings filter here: warnings.catch_warnings is not thread-safe, and images decode in thread pools.
        with Image.open(path) as image:
            _check_budget(path, image, max_pixels)
            size = image.size
            if max_side and image.format == "JPEG":
                image.draft(image.mode, (max_side, max_side))  # decode at 1/2, 1/4 or 1/8 scale where that fits
            image.load()
            return _with_source_size(to_rgb(fit(image, max_side) if max_side else image), size)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__}); check the file format") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data surfaces as these
        raise ImageError(f"{path}: image is corrupt or truncated ({exc}); re-export it") from exc


def source_size(image: Image.Image) -> tuple[int, int]:
    """The size of the file ``image`` was decoded from (before :func:`load_image` downscaled it), else its size."""
    size = image.info.get(_SOURCE_SIZE)
    if not (isinstance(size, tuple) and len(size) == 2 and min(size) > 0):
        return image.size
    # Pillow copies ``info`` into crops too: a source of another shape is not this image's source.
    width, height = image.size
    same_shape = abs(size[0] * height - size[1] * width) <= 0.02 * size[0] * height
    return (int(size[0]), int(size[1])) if same_shape else image.size


def _with_source_size(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    # Kept for geometry that compares two images at their true pixel scale: a 4% crop of a 2300-pixel film and the
    # film itself both decode to 1024 pixels wide, at scales 4% apart (quality.duplicates aligns them).
    if image.size != size:
        image.info[_SOURCE_SIZE] = size
    return image


def _check_budget(path: Path, image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(f"{path}: {width}x{height} pixels exceeds the limit of {max_pixels}; downsample it first")
    needed, budget = decoded_bytes(image.mode, image.size), max_pixels * BYTES_PER_PIXEL_BUDGET
    if needed > budget:
        raise ImageError(
            f"{path}: {width}x{height} {image.mode} pixels take {needed / 1e6:.0f} MB to decode, over the budget of "
            f"{budget / 1e6:.0f} MB; downsample it or reduce its bit depth first"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """Decode and convert any PIL mode to 8-bit RGB (alpha composited on black, 16-bit scaled to 8-bit)."""
    image.load()
    if image.mode in _SIXTEEN_BIT:
        image = _to_8bit(image)
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Min-max scale a 16-bit or 32-bit integer image to 8 bits, a strip of rows at a time (float32), so the only
    full-size buffer besides the decoded image is the 8-bit result (a float64 copy of a 12000x12000 scan is 1.2 GB)."""
    extrema = image.getextrema()  # single-band modes: (min, max)
    low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
    width, height = image.size
    out = np.zeros((height, width), dtype=np.uint8)
    if high > low:
        scale = np.float32(255.0 / (high - low))
        for top in range(0, height, _ROWS_PER_BLOCK):
            strip = np.asarray(image.crop((0, top, width, min(height, top + _ROWS_PER_BLOCK))), dtype=np.float32)
            out[top : top + _ROWS_PER_BLOCK] = np.clip((strip - np.float32(low)) * scale, 0, 255)
    return Image.fromarray(out, mode="L")


def pixel_sha256(image: Image.Image) -> str:
    """SHA-256 of the decoded RGB pixels and size: the same picture re-encoded losslessly gets the same hash."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def dhash(image: Image.Image, size: int = 8) -> int:
    """Difference hash (Krawetz 2013): 64 bits that survive resizing and re-compression; compare by Hamming distance."""
    gray = image.convert("L").resize((size + 1, size), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def query_image(query: Query) -> Image.Image | None:
    """The image a query is about: the one it carries, else its ``image_path`` decoded by :func:`load_image` (at most
    :data:`DECODE_SIDE` on a side, as the index decoded its images)."""
    if query.image is not None:
        return query.image
    return load_image(query.image_path, max_side=DECODE_SIDE) if query.image_path else None
