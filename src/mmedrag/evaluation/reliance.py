"""Reliance diagnostics (MMed-RAG §5, RULE): does retrieval help, hurt, or get copied regardless of the image?

Three runs over the same questions: without retrieval (a), with retrieval (r), and with a noise image but the
references retrieved for the real image (n). Per question, correct(a), correct(r), correct(n):
* over-reliance rate = #(a right, r wrong) / #(r wrong): the share of retrieval errors that retrieval caused
  (RULE's over-reliance ratio, method.md §5.3);
* retrieval-helps rate = #(a wrong, r right) / n, and retrieval-hurts rate = #(a right, r wrong) / n;
* copy-reference rate = #(n right) / n: still "correct" with no image to look at (MMed-RAG's copy-reference rate).
The noise image is pure N(0,1) noise per pixel, clipped to [0,1] and scaled to 8 bits, as the reference mining code
builds it (method.md §5.1.4), and seeded per question so diagnostics are reproducible.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from PIL import Image


def noise_image(size: tuple[int, int], seed: int | str) -> Image.Image:
    """A pure-noise RGB image of ``size`` (width, height); the same seed gives the same image."""
    key = seed if isinstance(seed, int) else int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little")
    rng = np.random.default_rng(key)
    pixels = np.clip(rng.standard_normal((size[1], size[0], 3)), 0.0, 1.0) * 255.0
    return Image.fromarray(pixels.astype(np.uint8), mode="RGB")


def reliance_metrics(
    without: Sequence[bool], with_retrieval: Sequence[bool], noise: Sequence[bool] | None = None
) -> dict[str, float | int]:
    n = len(without)
    if n == 0:
        return {"n": 0}
    hurt = sum(a and not r for a, r in zip(without, with_retrieval, strict=True))
    helped = sum(r and not a for a, r in zip(without, with_retrieval, strict=True))
    rag_errors = sum(not r for r in with_retrieval)
    metrics: dict[str, float | int] = {
        "n": n,
        "accuracy_without_retrieval": sum(without) / n,
        "accuracy_with_retrieval": sum(with_retrieval) / n,
        "retrieval_helps": helped,
        "retrieval_hurts": hurt,
        "retrieval_helps_rate": helped / n,
        "retrieval_hurts_rate": hurt / n,
        "over_reliance_rate": hurt / rag_errors if rag_errors else 0.0,
    }
    if noise is not None:
        metrics["copy_reference_rate"] = sum(noise) / n
    return metrics
