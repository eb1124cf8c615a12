"""transformers dual encoders (CLIP, SigLIP and their medical fine-tunes) loaded with ``AutoModel``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.encoders.torch_utils import encode_in_batches, resolve_device
from mmedrag.errors import ConfigError


def pooled_features(output: Any) -> Any:
    """transformers 5 returns a pooled-output object from ``get_*_features``; older versions a tensor."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


class HFClipEncoder:
    """``AutoModel`` + ``AutoProcessor`` of a CLIP-style checkpoint (hub id or local folder).

    SigLIP was trained with text padded to the maximum length, so its texts are padded the same way here.

    Example:
        >>> encoder = HFClipEncoder("openai/clip-vit-base-patch16")  # doctest: +SKIP
    """

    kind = "hf_clip"
    modalities = frozenset({"image", "text"})

    def __init__(self, model: str, device: str = "auto", batch_size: int = 32) -> None:
        transformers = require("transformers", "hf")
        require("torch", "hf")
        self.model_path, self.batch_size = str(model), batch_size
        self.device = resolve_device(device)
        try:
            self._model = transformers.AutoModel.from_pretrained(self.model_path).to(self.device).eval()
            self._processor = transformers.AutoProcessor.from_pretrained(self.model_path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load CLIP/SigLIP model {model!r}: pass a local folder saved with save_pretrained, or a hub "
                f"id where the hub is reachable ({str(exc).splitlines()[0]})"
            ) from exc
        if not hasattr(self._model, "get_image_features") or not hasattr(self._model, "get_text_features"):
            raise ConfigError(f"{model!r} is a {type(self._model).__name__}, not a CLIP-style dual encoder")
        self._padding = "max_length" if "siglip" in self._model.config.model_type else True
        self.name = f"hf:{self.model_path}"
        self.dim = int(self.encode_texts(["dimension probe"]).shape[1])

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model_path}

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        def encode(batch: Sequence[Image.Image]) -> Any:
            pixels = self._processor(images=list(batch), return_tensors="pt")["pixel_values"].to(self.device)
            return pooled_features(self._model.get_image_features(pixel_values=pixels))

        return encode_in_batches(images, self.batch_size, encode, getattr(self, "dim", 0))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        def encode(batch: Sequence[str]) -> Any:
            inputs = self._processor(text=list(batch), padding=self._padding, truncation=True, return_tensors="pt")
            text_inputs = {k: v.to(self.device) for k, v in inputs.items() if k in {"input_ids", "attention_mask"}}
            return pooled_features(self._model.get_text_features(**text_inputs))

        return encode_in_batches(texts, self.batch_size, encode, getattr(self, "dim", 0))
