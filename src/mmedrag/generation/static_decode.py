"""Decoding from a pre-allocated (static) KV cache, optionally with a compiled decode step (CUDA graphs on CUDA).

A dynamic cache grows by one slot per step, so every step allocates and copies; a static cache is written in place,
which lets ``torch.compile`` capture the whole decode step once. Every layer here is a full (not sliding-window)
static layer of ``prompt width + new tokens`` slots: the prefilled prefix of :mod:`mmedrag.generation.prefix_cache`
needs all its keys, and the sliding window is applied by the attention mask, as in the dynamic path.

Only architectures whose answers were proven equal to the dynamic path use it (:mod:`mmedrag.generation.fast_paths`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SLOT_ROUNDING = 64  # cache lengths rounded up: fewer distinct shapes, so fewer recompilations of the decode step


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
