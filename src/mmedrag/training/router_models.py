"""Fitting the trained router's weights: a class-weighted head on frozen embeddings, or the pixel CNN with class-
and source-balanced sampling. The architectures and inference live in :mod:`mmedrag.routing.models`."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.progress import track
from mmedrag.routing.models import build_model, prepare_images, torch_threads


@dataclass(frozen=True)
class FitOptions:
    epochs: int
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    progress: bool = False
    threads: int | None = None  # torch intra-op threads while training; None leaves torch's setting alone


def class_weights(labels: np.ndarray, classes: int) -> np.ndarray:
    """Inverse-frequency weights normalised to mean 1 over the present classes: radiology dominates the data."""
    counts = np.bincount(labels, minlength=classes).astype(np.float64)
    weights = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return weights * (counts > 0).sum() / weights.sum()


def train_head(features: np.ndarray, labels: np.ndarray, architecture: dict[str, Any], options: FitOptions) -> Any:
    """Full-batch AdamW on frozen embeddings with a class-weighted cross-entropy (a linear probe when linear)."""
    torch = require("torch", "torch")
    torch.manual_seed(options.seed)
    model = build_model(architecture)
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    weight = torch.from_numpy(class_weights(labels, int(architecture["classes"])).astype(np.float32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate * 5, weight_decay=options.weight_decay)
    model.train()
    with torch_threads(options.threads):
        for _ in track(range(options.epochs), "training router head", options.epochs, options.progress):
            loss = torch.nn.functional.cross_entropy(model(x), y, weight=weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def _balanced_draw(labels: np.ndarray, groups: Sequence[str], count: int, rng: random.Random) -> list[int]:
    """Sample indices uniformly over classes, then uniformly over sources within a class, then over images.

    Balancing sources too keeps one large dataset (MedPix) from defining what its whole domain looks like.
    """
    table: dict[int, dict[str, list[int]]] = {}
    for row, (label, group) in enumerate(zip(labels.tolist(), groups, strict=True)):
        table.setdefault(label, {}).setdefault(group, []).append(row)
    classes = sorted(table)
    picks = []
    for _ in range(count):
        sources = table[rng.choice(classes)]
        picks.append(rng.choice(sources[rng.choice(sorted(sources))]))
    return picks


def _augment(image: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """Random crop (50-100% area), horizontal flip, and sometimes a low-resolution round trip.

    Flips are harmless here (domain does not depend on laterality, unlike findings); the low-resolution round trip
    makes thumbnails and small MedMNIST-style inputs look like something seen in training.
    """
    width, height = image.size
    area = rng.uniform(0.5, 1.0)
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w = max(8, min(width, round(math.sqrt(area * width * height * aspect))))
    crop_h = max(8, min(height, round(math.sqrt(area * width * height / aspect))))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    out = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.25:
        low = rng.randint(16, size)
        out = out.resize((low, low), Image.Resampling.BILINEAR)
    return out.resize((size, size), Image.Resampling.BILINEAR)


def train_cnn(
    images: Sequence[Image.Image],
    labels: np.ndarray,
    groups: Sequence[str],
    architecture: dict[str, Any],
    options: FitOptions,
) -> Any:
    """Train the pixel CNN with class- and source-balanced sampling, light augmentation and brightness jitter."""
    torch = require("torch", "torch")
    from mmedrag.encoders.cnn import to_tensor

    size = int(architecture["image_size"])
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    model = build_model(architecture)
    base = prepare_images(images, size)
    steps = max(1, math.ceil(len(base) / options.batch_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=options.learning_rate, total_steps=options.epochs * steps, pct_start=0.2
    )
    with torch_threads(options.threads):
        for _ in track(range(options.epochs), "training router CNN", options.epochs, options.progress):
            model.train()
            order = _balanced_draw(labels, groups, steps * options.batch_size, rng)
            for step in range(steps):
                rows = order[step * options.batch_size : (step + 1) * options.batch_size]
                batch = torch.stack([to_tensor(_augment(base[row], size, rng), size) for row in rows])
                gain = torch.tensor([rng.uniform(0.8, 1.2) for _ in rows]).view(-1, 1, 1, 1)
                shift = torch.tensor([rng.uniform(-0.2, 0.2) for _ in rows]).view(-1, 1, 1, 1)
                target = torch.from_numpy(labels[rows].astype(np.int64))
                loss = torch.nn.functional.cross_entropy(model(batch * gain + shift), target, label_smoothing=0.05)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
    return model.eval()
