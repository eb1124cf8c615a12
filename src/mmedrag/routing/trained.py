"""A trained router, loaded for inference: a head on frozen encoder embeddings, or a small CNN on pixels.

Training lives in :mod:`mmedrag.training.router`; this module only loads, saves and applies a router folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag.encoders.base import Encoder
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.routing import models
from mmedrag.routing.base import (
    ROUTER_FILE,
    ROUTER_WEIGHTS,
    check_router_classes,
    check_threshold,
    read_router_file,
)
from mmedrag.routing.temperature import softmax


class TrainedRouter:
    """A trained router folder: ``router.json`` (classes, architecture, encoder spec, temperature, threshold,
    training facts) and ``router.safetensors`` (weights).

    Example:
        >>> router = TrainedRouter.load("routers/cnn")  # doctest: +SKIP
    """

    kind = "trained"

    def __init__(
        self,
        model: Any,
        classes: Sequence[str],
        architecture: dict[str, Any],
        encoder: Encoder | None = None,
        temperature: float = 1.0,
        threshold: float = 0.5,
        training: dict[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        self.classes = check_router_classes(classes)
        if int(architecture.get("classes", -1)) != len(self.classes):
            raise ConfigError(
                f"router architecture has {architecture.get('classes')} outputs for {len(classes)} classes"
            )
        if architecture["type"] != "cnn" and encoder is None:
            raise ConfigError(f"a {architecture['type']} router head needs the encoder it was trained on")
        self.model, self.architecture, self.encoder = model, dict(architecture), encoder
        self.temperature, self.threshold = float(temperature), check_threshold(threshold)
        self.training = dict(training or {})
        self.path = path

    def logits(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Uncalibrated scores, shape (n, classes)."""
        if not images:
            return np.zeros((0, len(self.classes)))
        if self.architecture["type"] == "cnn":
            return models.cnn_logits(self.model, list(images), int(self.architecture["image_size"]))
        assert self.encoder is not None  # checked in __init__
        return models.head_logits(self.model, self.encoder.encode_images(list(images)))

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray:
        return softmax(self.logits(images), self.temperature)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": None if self.path is None else str(self.path)}

    def save(self, path: str | Path) -> Path:
        """Write the weights, then ``router.json`` last, so a folder with a config always has its weights."""
        folder = Path(path).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        models.save_weights(self.model, folder / ROUTER_WEIGHTS)
        atomic_write_json(
            folder / ROUTER_FILE,
            {
                "kind": self.kind,
                "format_version": 1,
                "classes": list(self.classes),
                "encoder": None if self.encoder is None else self.encoder.spec(),
                "architecture": self.architecture,
                "temperature": self.temperature,
                "threshold": self.threshold,
                "training": self.training,
            },
        )
        self.path = folder
        return folder

    @classmethod
    def load(
        cls, path: str | Path, encoder: Encoder | None = None, threshold: float | None = None, device: str | None = None
    ) -> TrainedRouter:
        """Load a folder written by :meth:`save`; ``encoder`` skips rebuilding a head's encoder from its spec.

        Raises:
            ConfigError: not a router folder, not a trained router, or weights of another architecture.
        """
        folder = Path(path).expanduser()
        data = read_router_file(folder)
        if data["kind"] != cls.kind:
            raise ConfigError(f"{folder}: a {data['kind']!r} router, not a trained one; load it with load_router")
        try:
            classes, architecture = data["classes"], dict(data["architecture"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{folder / ROUTER_FILE}: malformed trained router ({exc}); retrain it") from exc
        model = models.build_model(architecture)
        models.load_weights(model, folder / ROUTER_WEIGHTS)
        model.eval()
        if architecture.get("type") != "cnn" and encoder is None:
            from mmedrag.encoders import create_encoder

            if not data.get("encoder"):
                raise ConfigError(f"{folder}: a head router without an encoder spec; retrain it with --encoder")
            encoder = create_encoder(data["encoder"], device=device)
        return cls(
            model,
            classes,
            architecture,
            encoder=encoder,
            temperature=float(data.get("temperature", 1.0)),
            threshold=float(data.get("threshold", 0.5)) if threshold is None else threshold,
            training=data.get("training"),
            path=folder,
        )
