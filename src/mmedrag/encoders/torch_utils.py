"""Device and dtype choice shared by the torch-based encoders and generators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else passes through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` -> bfloat16 on CUDA, float32 elsewhere (bf16 is not faster on these CPUs; offline.md §4)."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError as exc:
        from mmedrag.errors import ConfigError

        raise ConfigError(f"unknown torch dtype {dtype!r}; use auto, float32, bfloat16 or float16") from exc


def encode_in_batches(
    items: Sequence[T], batch_size: int, encode: Callable[[Sequence[T]], Any], dim: int
) -> np.ndarray:
    """Run ``encode`` (a batch in, a tensor out) over ``items`` without gradients; L2-normalised float32 rows."""
    import torch

    from mmedrag.encoders.base import l2_normalize

    outputs = []
    with torch.inference_mode():
        for start in range(0, len(items), batch_size):
            outputs.append(encode(items[start : start + batch_size]).float().cpu().numpy())
    return l2_normalize(np.concatenate(outputs) if outputs else np.zeros((0, dim), dtype=np.float32))
