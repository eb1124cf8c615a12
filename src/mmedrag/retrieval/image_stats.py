"""The encoder-independent half of the in-scope check: a few image statistics, and distance to the knowledge base's.

A weak image encoder (the demo's small tower) may put a chart next to a CT slice; simple statistics do not: CT and MR
are grey (no saturation), mostly dark with a smooth histogram, few flat or clipped areas; charts, screenshots and
photos are colourful, or flat and white, or full of hard edges. The test's score is minus the distance of an image's
standardised statistics to the nearest of a stored sample of knowledge-base images (higher = more in-domain), fitted
with the same leave-one-out conformal scores as the embedding test (:mod:`mmedrag.retrieval.scope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mmedrag.retrieval.scope import ScopeTest

IMAGE_STATS = "image_stats"
SIDE = 128  # statistics are read from a thumbnail: cheap, and the same whatever the scan's resolution
MAX_REFERENCE = 400  # stored reference images at most: coverage of the knowledge base, in a small JSON fit
FEATURES = (
    *(f"grey_hist_{n}" for n in range(4)),
    "grey_mean",
    "grey_std",
    "saturation_mean",
    "colourful_fraction",
    "colourfulness",
    "flat_fraction",
    "clipped_fraction",
    "edge_density",
    "modal_fraction",
    "grey_levels",
)


def image_statistics(image: Image.Image) -> np.ndarray:
    """The :data:`FEATURES` of one image, each roughly in [0, 1]."""
    thumb = image.convert("RGB")
    thumb.thumbnail((SIDE, SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(thumb, dtype=np.float32) / 255.0
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-6), 0.0)
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    # Hasler & Suesstrunk (2003), "Measuring colourfulness in natural images", scaled to about [0, 1].
    colourful = (np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())) / 0.5
    dx, dy = np.abs(np.diff(grey, axis=1))[:-1, :], np.abs(np.diff(grey, axis=0))[:, :-1]
    gradient = np.hypot(dx, dy) if grey.shape[0] > 1 and grey.shape[1] > 1 else np.zeros((1, 1), np.float32)
    levels = np.round(grey * 255).astype(np.int64).ravel()
    counts = np.bincount(levels, minlength=256)
    histogram = np.histogram(grey, bins=4, range=(0.0, 1.0))[0] / grey.size
    # CT and MR are flat only where they are black (air); rendered pages, charts and blanks are flat where they are lit
    lit = grey[:-1, :-1] > 0.06 if grey.shape[0] > 1 and grey.shape[1] > 1 else np.zeros((1, 1), bool)
    return np.array(
        [
            *histogram,
            grey.mean(),
            grey.std() * 2,
            saturation.mean(),
            (saturation > 0.25).mean(),
            min(colourful, 2.0),
            ((gradient < 1 / 255) & lit).sum() / max(int(lit.sum()), 1),
            ((grey <= 1 / 255) | (grey >= 254 / 255)).mean(),
            (gradient > 0.15).mean(),
            counts.max() / grey.size,
            (counts > 0).sum() / 256,
        ],
        dtype=np.float64,
    )


def statistics_matrix(images: Sequence[Image.Image]) -> np.ndarray:
    return np.stack([image_statistics(image) for image in images]) if images else np.zeros((0, len(FEATURES)))


def fit_stats_test(
    features: np.ndarray, groups: Sequence[str], seed: int = 0, limit: int = MAX_REFERENCE
) -> ScopeTest | None:
    """Leave-one-out scores of ``features`` (one row per knowledge-base image) against a stored reference sample.

    ``groups`` names each row's patient/study/record: a row is never scored against a reference of its own group.
    Rows beyond ``limit`` references are still scored (the bound needs many scores, the reference only coverage).
    """
    if len(features) < 2:
        return None
    centre, scale = features.mean(axis=0), features.std(axis=0) + 1e-3
    z = (features - centre) / scale
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.choice(len(z), size=min(limit, len(z)), replace=False))
    distances = np.linalg.norm(z[:, None, :] - z[None, reference, :], axis=2)
    same = np.asarray(groups, dtype=object)[:, None] == np.asarray(groups, dtype=object)[None, reference]
    distances[same] = np.inf
    nearest = distances.min(axis=1)
    scores = -nearest[np.isfinite(nearest)]
    if not len(scores):
        return None
    params: dict[str, Any] = {
        "score": "minus the distance of standardised image statistics to the nearest reference image",
        "features": list(FEATURES),
        "centre": [round(float(v), 5) for v in centre],
        "scale": [round(float(v), 5) for v in scale],
        "reference": [[round(float(v), 3) for v in row] for row in z[reference]],
    }
    return ScopeTest(IMAGE_STATS, np.sort(scores), params)


def stats_scores(test: ScopeTest, images: Sequence[Image.Image]) -> list[float]:
    """The fitted test's score of each query image (no exclusions: a knowledge-base image is in scope)."""
    centre, scale = np.asarray(test.params["centre"]), np.asarray(test.params["scale"])
    reference = np.asarray(test.params["reference"], dtype=np.float64)
    z = (statistics_matrix(images) - centre) / scale
    return [-float(np.linalg.norm(reference - row, axis=1).min()) for row in z]


__all__ = ["FEATURES", "IMAGE_STATS", "fit_stats_test", "image_statistics", "stats_scores", "statistics_matrix"]
