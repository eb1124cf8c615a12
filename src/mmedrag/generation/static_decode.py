"""Decoding from a pre-allocated (static) KV cache, optionally with a compiled decode step (CUDA graphs on CUDA).

A dynamic cache grows by one slot per step, so every step allocates and copies; a static cache is written in place,
which lets ``torch.compile`` capture the whole decode step once. Every layer here is a full (not sliding-window)
static layer of ``prompt width + new tokens`` slots: the prefilled prefix of :mod:`mmedrag.generation.prefix_cache`
needs all its keys, and the sliding window is applied by the attention mask, as in the dynamic path.

Only architectures whose answers were proven equal to the dynamic path (greedy tokens identical, P(yes) within 1e-6,
``tests/integration/test_hf_static_decode.py``) use it; any other model decodes dynamically and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

DECODE_CACHES = ("dynamic", "static", "compiled")
# model_type of the checkpoints (and of the text model inside them) covered by the equality tests.
PROVEN = frozenset({"gemma3", "qwen2_5_vl", "llava"})
_SLOT_ROUNDING = 64  # cache lengths rounded up: fewer distinct shapes, so fewer recompilations of the decode step


def plan(model: Any, requested: str, device: Any) -> tuple[str, str | None]:
    """The decode cache to use for ``requested`` on ``model`` and, when it is not the one asked for, why."""
    if requested == "dynamic":
        return "dynamic", None
    model_type = model.config.model_type
    if model_type not in PROVEN:
        return "dynamic", f"{requested} cache not proven equal for model type {model_type}: decoded dynamically"
    if requested == "compiled" and device.type != "cuda":
        return "static", f"compiled decode needs CUDA (device {device.type}): static cache decoded eagerly"
    return requested, None


class StaticCaches:
    """The static KV cache of the batch being decoded, kept for the next batch of the same shape.

    A compiled decode step (CUDA graphs) reads the cache at fixed addresses: a fresh allocation per batch would make
    torch re-record the graphs each batch (and give them up after its re-record limit). A batch of another shape
    frees the kept cache before allocating its own, so at most one static cache is alive.

    Args:
        layers: decoder layers of the model (one static layer each).
    """

    def __init__(self, layers: int) -> None:
        self._layers = layers
        self._kept: Any = None
        self._shape: tuple[int, int] | None = None

    def empty(self, rows: int, slots: int) -> Any:
        """A zeroed static cache of ``slots`` (rounded up) for ``rows`` rows; allocated on its first write."""
        from transformers.cache_utils import Cache, StaticLayer

        slots = -(-slots // _SLOT_ROUNDING) * _SLOT_ROUNDING
        if self._shape == (rows, slots):
            for layer in self._kept.layers:
                layer.reset()
            return self._kept
        self._kept = None  # freed before the new one is allocated
        self._kept = Cache(layers=[StaticLayer(max_cache_len=slots) for _ in range(self._layers)])
        self._shape = (rows, slots)
        return self._kept

    def filled(self, layers: Iterable[tuple[Any, Any]], rows: int, slots: int) -> Any:
        """A static cache of ``slots`` holding the ``(keys, values)`` of each layer in turn (consumed one by one, so
        that an expanded prefix never exists in full beside the static cache)."""
        cache = self.empty(rows, slots)
        count = 0
        for static, (keys, values) in zip(cache.layers, layers, strict=False):
            static.update(keys, values)
            count += 1
        if count != self._layers:
            raise ValueError(f"a prefix of {count} layers for a model of {self._layers}")
        return cache

    def ensure(self, cache: Any | None, rows: int, slots: int) -> Any:
        """``cache`` when it is static already, else a static cache holding its layers (empty for None)."""
        from transformers import DynamicCache

        if cache is None:
            return self.empty(rows, slots)
        if not isinstance(cache, DynamicCache):
            return cache
        layers: Any = cache.layers
        return self.filled(((layer.keys, layer.values) for layer in layers), rows, slots)
