"""Device and dtype choice shared by the torch-based encoders and generators."""

from __future__ import annotations

from typing import Any


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
