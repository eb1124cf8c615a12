"""The encoder protocol and the fingerprint that ties an index to the encoder that built it.

A fingerprint is the encoder's embedding of a fixed probe text and a fixed probe image. Two encoders match when
their probe embeddings agree (cosine > 0.999): a renamed folder still matches, a fine-tuned checkpoint does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from mmedrag.errors import ConfigError
from mmedrag.types import Fingerprint

PROBE_TEXT = "Frontal chest radiograph: no focal consolidation, pleural effusion or pneumothorax."


@runtime_checkable
class Encoder(Protocol):
    """Maps images and texts to L2-normalised float32 vectors of one shared dimension.

    ``modalities`` says which of ``"image"`` and ``"text"`` it encodes; a text-only encoder raises on images.
    ``spec()`` returns the arguments that rebuild it (saved in each index folder).
    """

    name: str
    dim: int
    modalities: frozenset[str]

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def spec(self) -> dict[str, Any]: ...


def probe_image() -> Image.Image:
    """A fixed synthetic 64x64 image: a soft disc on a gradient, not all one colour."""
    axis = np.linspace(-1.0, 1.0, 64)
    xx, yy = np.meshgrid(axis, axis)
    disc = np.exp(-((xx - 0.2) ** 2 + (yy + 0.1) ** 2) * 6.0)
    gray = (0.35 * (xx + 1.0) + 0.6 * disc) * 180.0
    return Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).convert("RGB")


def fingerprint_of(encoder: Encoder, modalities: frozenset[str] | None = None) -> Fingerprint:
    """Embed the probe text and (when supported) the probe image; ``modalities`` limits the probes to those
    (a partial fingerprint, checked with :meth:`Fingerprint.mismatch` ``partial=True``), so a query loads only the
    side of the encoder it uses."""
    wanted = encoder.modalities if modalities is None else encoder.modalities & modalities
    text = tuple(float(x) for x in encoder.encode_texts([PROBE_TEXT])[0]) if "text" in wanted else None
    image = tuple(float(x) for x in encoder.encode_images([probe_image()])[0]) if "image" in wanted else None
    return Fingerprint(
        kind=str(encoder.spec().get("kind", type(encoder).__name__)),
        name=encoder.name,
        dim=encoder.dim,
        text_probe=text,
        image_probe=image,
        spec=encoder.spec(),
    )


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-normalise to unit length as float32; all-zero rows stay zero instead of becoming NaN."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return np.divide(array, norms, out=np.zeros_like(array), where=norms > 0)


def text_only(name: str) -> ConfigError:
    return ConfigError(
        f"encoder {name} encodes text only; image queries need an image-text encoder (open_clip, hf_clip or tower)"
    )
