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


def static_from(layers: Iterable[tuple[Any, Any]], slots: int) -> Any:
    """A static cache of ``slots`` (rounded up) per row, holding the ``(keys, values)`` of each layer in turn."""
    from transformers.cache_utils import Cache, StaticLayer

    slots = -(-slots // _SLOT_ROUNDING) * _SLOT_ROUNDING
    built: list[Any] = []
    for keys, values in layers:
        layer = StaticLayer(max_cache_len=slots)
        layer.update(keys, values)  # the first write allocates the layer and sets the batch size
        built.append(layer)
    return Cache(layers=built)


def ensure_static(model: Any, cache: Any | None, slots: int) -> Any:
    """``cache`` if it is static already, else a static cache of ``slots`` holding its layers (empty for None)."""
    from transformers import DynamicCache
    from transformers.cache_utils import Cache, StaticLayer

    if cache is None:
        count = model.config.get_text_config(decoder=True).num_hidden_layers
        slots = -(-slots // _SLOT_ROUNDING) * _SLOT_ROUNDING
        return Cache(layers=[StaticLayer(max_cache_len=slots) for _ in range(count)])
    if not isinstance(cache, DynamicCache):
        return cache
    layers: Any = cache.layers
    return static_from(((layer.keys, layer.values) for layer in layers), slots)


def filled(cache: Any, rows: Any) -> Any:
    """The cache of ``rows`` (a long tensor) of ``cache``, of the same kind: a dynamic one selects them in place, a
    static one is copied into a new static cache of the same size."""
    from transformers import DynamicCache

    if isinstance(cache, DynamicCache):
        cache.batch_select_indices(rows)
        return cache
    length = int(cache.layers[0].cumulative_length)
    pairs = ((layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in cache.layers)
    return static_from(pairs, cache.layers[0].max_cache_len)
