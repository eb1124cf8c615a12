"""The torch side of the trained router: build a head or pixel CNN from its saved architecture and run it.

Imports torch only inside functions (through ``require``) so the routing package imports without it. Fitting the
weights lives in :mod:`mmedrag.training.router_models`; the saved folder format in ``trained``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.errors import ConfigError

# A small pixel CNN at 64 px: domain is gross appearance (grey vs colour, round fundus, stained tissue), which
# survives downsampling, and it trains in about a minute on two CPU cores.
DEFAULT_CNN_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)


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


def head_logits(model: Any, features: np.ndarray) -> np.ndarray:
    torch = require("torch", "torch")
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(features, dtype=np.float32))).numpy().astype(np.float64)


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
