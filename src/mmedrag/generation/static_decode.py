"""Decoding from a pre-allocated (static) KV cache, optionally with a compiled decode step (CUDA graphs on CUDA).

A dynamic cache grows by one slot per step, so every step allocates and copies; a static cache is written in place,
which lets ``torch.compile`` capture the whole decode step once. Every layer here is a full (not sliding-window)
static layer of ``prompt width + new tokens`` slots: the prefilled prefix of :mod:`mmedrag.generation.prefix_cache`
needs all its keys, and the sliding window is applied by the attention mask, as in the dynamic path.

Only architectures whose answers were proven equal to the dynamic path (greedy tokens identical, P(yes) within 1e-6,
``tests/integration/test_hf_static_decode.py``) use it; any other model decodes dynamically and says so.
"""

from __future__ import annotations

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


def static_cache(model: Any, prefix: Any | None, slots: int) -> Any:
    """A static cache of ``slots`` (rounded up) holding the layers of ``prefix`` (a cache whose ``layers`` carry
    ``keys``/``values``; None for an empty cache). The batch size comes with the first keys written."""
    from transformers.cache_utils import Cache, StaticLayer

    slots = -(-slots // _SLOT_ROUNDING) * _SLOT_ROUNDING
    count = model.config.get_text_config(decoder=True).num_hidden_layers
    layers: list[Any] = [StaticLayer(max_cache_len=slots) for _ in range(count)]
    if prefix is not None:
        for static, layer in zip(layers, prefix.layers, strict=True):
            static.update(layer.keys, layer.values)
    return Cache(layers=layers)


def filled(cache: Any, rows: Any) -> Any:
    """A DynamicCache of the filled slots of ``rows`` (a long tensor) of ``cache``, static or dynamic."""
    from transformers import DynamicCache

    if isinstance(cache, DynamicCache):
        cache.batch_select_indices(rows)
        return cache
    length = int(cache.layers[0].cumulative_length)
    data = [(layer.keys[rows, :, :length], layer.values[rows, :, :length]) for layer in cache.layers]
    return DynamicCache(ddp_cache_data=data)
