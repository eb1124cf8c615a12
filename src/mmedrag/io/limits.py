"""Decoding limits shared by every image reader (PNG/JPEG and DICOM), kept apart so neither imports the other:
the pixel ceiling, and :func:`fit`, the downscale to the side the encoders need."""

from __future__ import annotations

from PIL import Image

# Decoded-pixel ceiling (150 MP, 450 MB as RGB): larger files are refused before decoding rather than exhausting
# memory. Pillow itself refuses above ~179 MP (its decompression-bomb error), which is caught by the loaders.
MAX_PIXELS = 150_000_000


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` downscaled (Lanczos, aspect kept) so neither side exceeds ``max_side``; smaller ones as they are."""
    width, height = image.size
    if max(width, height) <= max_side:
        return image
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    gap = None if image.mode.startswith("I;16") else 3.0  # Pillow's reduce() has no 16-bit mode
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
