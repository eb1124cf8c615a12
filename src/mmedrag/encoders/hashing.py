"""A deterministic, dependency-free encoder for unit tests only: it carries no medical meaning.

Texts become hashed bags of words; images a fixed random projection of a 16x16 grey thumbnail. Identical inputs
give identical vectors and similar inputs similar ones, which is all the tests need.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mmedrag.encoders.base import l2_normalize

_WORD = re.compile(r"[a-z0-9]+")


class HashEncoder:
    """Feature-hashing text encoder and random-projection image encoder (seeded)."""

    kind = "hash"
    modalities = frozenset({"image", "text"})

    def __init__(self, dim: int = 64, seed: int = 0, device: str = "cpu") -> None:
        # ``device`` is accepted (and ignored) so every encoder builds from the same CLI flags.
        self.dim, self.seed = dim, seed
        self.name = f"hash-{dim}"
        self._projection = np.random.default_rng(seed).standard_normal((16 * 16, dim)).astype(np.float32)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "dim": self.dim, "seed": self.seed}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(f"{self.seed}:{word}".encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dim] += 1.0 if (value >> 32) & 1 else -1.0
        return l2_normalize(out)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        thumbs = np.stack(
            [np.asarray(image.convert("L").resize((16, 16), Image.Resampling.BILINEAR), np.float32) for image in images]
        ).reshape(len(images), -1)
        centred = thumbs / 255.0 - 0.5
        return l2_normalize(centred @ self._projection)
