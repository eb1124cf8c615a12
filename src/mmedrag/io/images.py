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
from mmedrag.io.limits import MAX_PIXELS
from mmedrag.types import Query

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


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open ``path`` as an RGB image, fully decoded.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated, or larger than ``max_pixels``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: image file not found; check the path or the data root it is resolved against")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: image file is empty (0 bytes); re-export or remove it")
    if is_dicom(path):
        from mmedrag.io.dicom import load_dicom_image

        return load_dicom_image(path, max_pixels=max_pixels)
    try:
        # No warnings filter here: warnings.catch_warnings is not thread-safe, and images decode in thread pools.
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{path}: {width}x{height} pixels exceeds the limit of {max_pixels}; downsample it first"
                )
            return to_rgb(image)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: not a readable image ({type(exc).__name__}); check the file format") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data surfaces as these
        raise ImageError(f"{path}: image is corrupt or truncated ({exc}); re-export it") from exc


def to_rgb(image: Image.Image) -> Image.Image:
    """Decode and convert any PIL mode to 8-bit RGB (alpha composited on black, 16-bit scaled to 8-bit)."""
    image.load()
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = np.zeros_like(array) if high <= low else (array - low) / (high - low) * 255.0
        image = Image.fromarray(scaled.astype(np.uint8), mode="L")
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


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
    """The image a query is about: the one it carries, else its ``image_path`` decoded by :func:`load_image`."""
    if query.image is not None:
        return query.image
    return load_image(query.image_path) if query.image_path else None
