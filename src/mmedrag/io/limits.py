"""Decoding limits shared by every image reader (PNG/JPEG and DICOM), kept apart so neither imports the other."""

from __future__ import annotations

# Decoded-pixel ceiling (150 MP, 450 MB as RGB): larger files are refused before decoding rather than exhausting
# memory. Pillow itself refuses above ~179 MP (its decompression-bomb error), which is caught by the loaders.
MAX_PIXELS = 150_000_000
