"""open_clip encoders: any open_clip model name, ``hf-hub:`` repos (BiomedCLIP) and local folders.

BiomedCLIP (``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``) needs the Hugging Face hub, or a
local snapshot of it: a folder with ``open_clip_config.json`` and weights is loaded through open_clip's
``local-dir:`` scheme, the same code path. A local folder without weights is refused unless ``allow_random_init``:
open_clip would otherwise warn and go on with random weights, which silently ruins retrieval.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.encoders.torch_utils import encode_in_batches, resolve_device
from mmedrag.errors import ConfigError

BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth")  # the files open_clip itself looks for in a local-dir


def resolve_model_name(model: str) -> str:
    """Turn a plain folder path into ``local-dir:<path>``; names and ``hf-hub:`` ids pass through."""
    if model.startswith(("hf-hub:", "local-dir:")):
        return model
    path = Path(model).expanduser()
    if path.is_dir():
        return f"local-dir:{path.resolve()}"
    return model


class OpenClipEncoder:
    """Image and text towers of an open_clip model, in eval mode.

    Args:
        model: an open_clip name (``ViT-B-16``), ``hf-hub:org/repo``, or a local folder / ``local-dir:`` path.
        pretrained: a weights tag or file for built-in names (ignored by open_clip for ``hf-hub:``/``local-dir:``).
        allow_random_init: accept a local folder with a config but no weights (tests only).

    Example:
        >>> encoder = OpenClipEncoder(BIOMEDCLIP)  # doctest: +SKIP  (needs the hub or its cache)
    """

    kind = "open_clip"
    modalities = frozenset({"image", "text"})

    def __init__(
        self,
        model: str = BIOMEDCLIP,
        pretrained: str | None = None,
        device: str = "auto",
        batch_size: int = 32,
        allow_random_init: bool = False,
    ) -> None:
        open_clip = require("open_clip", "openclip")
        self._torch = require("torch", "openclip")
        self.model_name = resolve_model_name(model)
        self.pretrained, self.batch_size, self.allow_random_init = pretrained, batch_size, allow_random_init
        self.device = resolve_device(device)
        if self.model_name.startswith("local-dir:"):
            self._check_local_dir(Path(self.model_name.removeprefix("local-dir:")))
        elif not self.model_name.startswith("hf-hub:") and not pretrained and not allow_random_init:
            raise ConfigError(
                f"open_clip model {model!r} without pretrained weights would be random; pass pretrained=<tag or file>"
            )
        try:
            # pretrained_text=False: the CLIP checkpoint holds the text weights; otherwise open_clip would fetch the
            # base text model (e.g. PubMedBERT) from the hub before loading the checkpoint over it.
            self._model, _, self._preprocess = open_clip.create_model_and_transforms(
                self.model_name, pretrained=pretrained, device=self.device, pretrained_text=False
            )
            self._tokenizer = open_clip.get_tokenizer(self.model_name)
        except (RuntimeError, OSError, ValueError) as exc:
            hint = (
                "the Hugging Face hub is unreachable and the model is not cached; download the repo where the hub is "
                "reachable (hf download <repo>) and pass its local folder; BiomedCLIP's text tower config "
                "(microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract) must be in the Hugging Face cache too"
                if self.model_name.startswith("hf-hub:")
                else "check the model name, the folder's open_clip_config.json and its weights"
            )
            raise ConfigError(f"cannot load open_clip model {model!r}: {hint} ({str(exc).splitlines()[0]})") from exc
        self._model.eval()
        self.name = self.model_name if not pretrained else f"{self.model_name}@{pretrained}"
        self.dim = int(self.encode_texts(["dimension probe"]).shape[1])

    def _check_local_dir(self, folder: Path) -> None:
        if not (folder / "open_clip_config.json").is_file():
            raise ConfigError(f"{folder}: no open_clip_config.json; an open_clip folder needs its config and weights")
        has_weights = any(p.suffix in _WEIGHT_SUFFIXES for p in folder.iterdir())
        if not has_weights and not self.allow_random_init:
            raise ConfigError(f"{folder}: open_clip config but no weights file; add open_clip_model.safetensors")

    def spec(self) -> dict[str, Any]:
        spec = {"kind": self.kind, "model": self.model_name, "pretrained": self.pretrained}
        return {**spec, "allow_random_init": True} if self.allow_random_init else spec

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        def encode(batch: Sequence[Image.Image]) -> Any:
            pixels = self._torch.stack([self._preprocess(image) for image in batch])
            return self._model.encode_image(pixels.to(self.device))

        return encode_in_batches(images, self.batch_size, encode, getattr(self, "dim", 0))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        def encode(batch: Sequence[str]) -> Any:
            return self._model.encode_text(self._tokenizer(list(batch)).to(self.device))

        return encode_in_batches(texts, self.batch_size, encode, getattr(self, "dim", 0))
