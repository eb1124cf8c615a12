"""The offline default encoder: a trained image tower aligned to a frozen pretrained text encoder (MiniLM).

A tower folder holds ``mmedrag_tower.json`` (the text encoder spec, the image tower config, training facts) and
``image_tower.safetensors``. Texts are embedded by the text encoder exactly as before training, so an index's report
vectors stay valid when only the image tower is retrained.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.encoders.base import Encoder
from mmedrag.encoders.torch_utils import encode_in_batches, resolve_device
from mmedrag.errors import ConfigError

TOWER_CONFIG = "mmedrag_tower.json"
TOWER_WEIGHTS = "image_tower.safetensors"


class TowerEncoder:
    """A trained image tower plus the frozen text encoder it was aligned to.

    Example:
        >>> encoder = TowerEncoder("~/.cache/mmedrag/towers/medpix2")  # doctest: +SKIP
    """

    kind = "tower"
    modalities = frozenset({"image", "text"})

    def __init__(
        self, path: str | Path, device: str = "auto", batch_size: int = 64, text_encoder: Encoder | None = None
    ) -> None:
        torch = require("torch", "torch")
        safetensors = require("safetensors.torch", "torch")
        from mmedrag.encoders.cnn import CNNConfig, SmallCNN

        self.path = Path(path).expanduser()
        config_file = self.path / TOWER_CONFIG
        if not config_file.is_file():
            raise ConfigError(
                f"{self.path}: not a trained tower (no {TOWER_CONFIG}); train one with `mmedrag train-retriever`"
            )
        try:
            self.config = json.loads(config_file.read_text(encoding="utf-8"))
            cnn_config = CNNConfig.from_dict(self.config["image_tower"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{config_file}: malformed tower config ({exc}); retrain the tower") from exc
        self._text: Encoder | None = None
        if text_encoder is not None:
            self._set_text(text_encoder, cnn_config.dim)
        self._torch, self.batch_size = torch, batch_size
        self.device = resolve_device(device)
        self._model = SmallCNN(cnn_config)
        try:
            state = safetensors.load_file(str(self.path / TOWER_WEIGHTS))
            self._model.load_state_dict(state)
        except (OSError, RuntimeError) as exc:
            raise ConfigError(
                f"{self.path}: image tower weights do not load into {type(self._model).__name__} "
                f"({str(exc).splitlines()[0]}); the checkpoint is of another architecture"
            ) from exc
        self._model.to(self.device).eval()
        self.image_size = cnn_config.image_size
        self.dim = cnn_config.dim
        text_name = text_encoder.name if text_encoder is not None else _text_name(self.config["text_encoder"])
        self.name = f"tower:{self.path.name}+{text_name or 'text'}"

    def _set_text(self, text_encoder: Encoder, dim: int) -> None:
        if text_encoder.dim != dim:
            raise ConfigError(f"{self.path}: tower dim {dim} != text encoder dim {text_encoder.dim}")
        self._text = text_encoder

    @property
    def text_encoder(self) -> Encoder:
        """The frozen text encoder, loaded on first use: an image query never needs it (start-up time)."""
        if self._text is None:
            from mmedrag.encoders import create_encoder

            self._set_text(create_encoder(self.config["text_encoder"]), self.dim)
        assert self._text is not None
        return self._text

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path)}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.text_encoder.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        from mmedrag.encoders.cnn import to_tensor

        def encode(batch: Sequence[Image.Image]) -> Any:
            return self._model(self._torch.stack([to_tensor(im, self.image_size) for im in batch]).to(self.device))

        return encode_in_batches(images, self.batch_size, encode, self.dim)


def _text_name(spec: Any) -> str | None:
    """The text encoder's display name from its spec, without loading it (sentence-transformers models only)."""
    if isinstance(spec, str) or (isinstance(spec, dict) and spec.get("kind") == "sentence"):
        from mmedrag.encoders.sentence import display_name

        model = spec if isinstance(spec, str) else str(spec.get("model", "minilm"))
        return display_name(model.removeprefix("sentence:"))
    return None
