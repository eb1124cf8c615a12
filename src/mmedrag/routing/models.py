"""The torch side of the trained router: build a head or pixel CNN from its saved architecture, train it, run it.

Imports torch only inside functions (through ``require``) so the routing package imports without it. Calibration and
the saved folder format live in ``trained``; this module only fits weights.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.errors import ConfigError
from mmedrag.progress import track

# A small pixel CNN at 64 px: domain is gross appearance (grey vs colour, round fundus, stained tissue), which
# survives downsampling, and it trains in about a minute on two CPU cores.
DEFAULT_CNN_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)


@dataclass(frozen=True)
class FitOptions:
    epochs: int
    seed: int = 0
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    progress: bool = False
    threads: int | None = None  # torch intra-op threads while training; None leaves torch's setting alone


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op threads (restored afterwards).

    On a small shared machine one thread is often several times faster than two: OpenMP workers spin at every
    barrier while another process holds the other core (measured 5x on the 2-core dev box under load).
    """
    torch = require("torch", "torch")
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build_model(architecture: dict[str, Any]) -> Any:
    """A torch module from ``{"type": "cnn"|"linear"|"mlp", "classes": n, ...}`` (as saved in router.json)."""
    torch = require("torch", "torch")
    try:
        kind, classes = architecture["type"], int(architecture["classes"])
        if kind == "cnn":
            from mmedrag.encoders.cnn import CNNConfig, SmallCNN

            config = CNNConfig(classes, int(architecture["image_size"]), tuple(architecture["widths"]))
            return SmallCNN(config)
        if kind == "linear":
            return torch.nn.Linear(int(architecture["in_dim"]), classes)
        if kind == "mlp":
            hidden = int(architecture["hidden"])
            return torch.nn.Sequential(
                torch.nn.Linear(int(architecture["in_dim"]), hidden),
                torch.nn.GELU(),
                torch.nn.Dropout(float(architecture.get("dropout", 0.1))),
                torch.nn.Linear(hidden, classes),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"malformed router architecture {architecture} ({exc}); retrain the router") from exc
    raise ConfigError(f"unknown router architecture type {architecture.get('type')!r}; use cnn, linear or mlp")


def load_weights(model: Any, path: Path) -> None:
    """Load a safetensors state dict strictly; a mismatch means the checkpoint is of another architecture."""
    safetensors = require("safetensors.torch", "torch")
    try:
        model.load_state_dict(safetensors.load_file(str(path)), strict=True)
    except (OSError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{path}: weights do not fit the {type(model).__name__} described in router.json ({first}); "
            "the checkpoint is of another architecture; retrain with `mmedrag train-router`"
        ) from exc


def save_weights(model: Any, path: Path) -> None:
    safetensors = require("safetensors.torch", "torch")
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    safetensors.save_file(state, str(path))


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


def head_logits(model: Any, features: np.ndarray) -> np.ndarray:
    torch = require("torch", "torch")
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(features, dtype=np.float32))).numpy().astype(np.float64)


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


def prepare_images(images: Sequence[Image.Image], size: int) -> list[Image.Image]:
    """Shrink once to a little over the training size (short side), so each epoch's crops are cheap."""
    out = []
    for image in images:
        rgb = image.convert("RGB")
        scale = size * 1.25 / min(rgb.size)
        if scale < 1:
            # reducing_gap: decode-side box reduction first, several times faster on large scans.
            target = (max(8, round(rgb.width * scale)), max(8, round(rgb.height * scale)))
            rgb = rgb.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        out.append(rgb)
    return out


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


def cnn_logits(model: Any, images: Sequence[Image.Image], size: int, batch_size: int = 64) -> np.ndarray:
    """Logits for images resized (short side) and centre-cropped to ``size``, as in evaluation everywhere."""
    torch = require("torch", "torch")
    from mmedrag.encoders.cnn import to_tensor

    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            chunk = prepare_images(images[start : start + batch_size], size)
            outputs.append(model(torch.stack([to_tensor(image, size) for image in chunk])).numpy())
    if not outputs:
        return np.zeros((0, 0))
    return np.concatenate(outputs).astype(np.float64)
