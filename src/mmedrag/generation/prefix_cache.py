"""Shared-prefix KV caches for a batch of prompts about the same image and references.

Questions about one image come in groups (IU-Xray: 4.4 per image; VQA-RAD: 2.2), and the image plus its retrieved
references is most of every prompt. The templates put the question last, so the prompts of a group agree on a long
token prefix. Each group's prefix is prefilled once, the groups of a batch together in a few right-padded forwards
(one forward per group costs a GPU about what sharing saves: issue 24); its KV cache is then laid out for every row of
the batch exactly where transformers' own left-padded batch would hold it, and ``generate`` continues from that cache.

Layout (one batch, rows padded on the left to length ``T``; ``S`` = the longest part of any row not covered by its
group's prefix): the cache holds the first ``C = T - S`` slots of every row. Row ``i`` (``len_i`` real tokens) holds
``pad_i = T - len_i`` empty slots, then the first ``len_i - S`` tokens of its group's prefix. The last ``S`` slots
(the rest of the prefix plus the question) are computed by ``generate`` as one chunk. Because the layout is the
unshared one, positions, padding masks, Gemma3's sliding window and Qwen2.5-VL's mrope offsets come out the same as
without sharing; only the values of the cached keys were computed once instead of once per row. Keys do not depend on
padding (positions count real tokens only), so the cached prefix is valid for every row.

Limits: every image token must lie in the cached part (the chunk carries no pixels); a batch where it would not is run
unshared. Image tokens attend to each other bidirectionally in Gemma3; the whole image sits in the prefix, whose
prefill sees the token types, so that holds as well.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mmedrag.generation import static_decode

_VISION_TYPE_KEYS = ("mm_token_type_ids", "token_type_ids")


@dataclass(frozen=True)
class SharedLayout:
    """Where each row's cached prefix sits in a batch.

    ``prefix_lengths[g]`` tokens are prefilled for group ``g``; row ``i`` (of group ``row_groups[i]``) keeps
    ``keep[i]`` of them after ``pad[i]`` empty slots; ``cached`` is the cache width and ``chunk`` the rest.
    """

    groups: tuple[tuple[int, ...], ...]
    row_groups: tuple[int, ...]
    prefix_lengths: tuple[int, ...]
    pad: tuple[int, ...]
    keep: tuple[int, ...]
    cached: int

    chunk: int

    @property
    def prefill_tokens(self) -> int:
        """Tokens the model runs before decoding: each prefix once, plus every row's chunk (padding included)."""
        return sum(self.prefix_lengths) + len(self.row_groups) * self.chunk


def vision_mask(inputs: dict[str, Any], image_token_id: int | None) -> Any:
    """Boolean (batch, seq) mask of image/video tokens, from the processor's token types or the image token id."""
    for key in _VISION_TYPE_KEYS:
        if key in inputs:
            return inputs[key] != 0
    ids = inputs["input_ids"]
    return ids == image_token_id if image_token_id is not None else ids < 0


def plan_layout(
    inputs: dict[str, Any], groups: Sequence[Sequence[int]], image_token_id: int | None
) -> SharedLayout | None:
    """The shared layout for a left-padded batch, or None when sharing would not hold (an image token would fall in
    the uncached chunk) or would save nothing (no group has two rows)."""
    if all(len(group) < 2 for group in groups):
        return None
    ids, mask = inputs["input_ids"], inputs["attention_mask"].bool()
    vision = vision_mask(inputs, image_token_id)
    width = int(ids.shape[1])
    rows = [ids[i][mask[i]].tolist() for i in range(ids.shape[0])]
    row_vision = [vision[i][mask[i]].nonzero().flatten().tolist() for i in range(ids.shape[0])]
    row_groups = [0] * len(rows)
    prefix_lengths = []
    for number, group in enumerate(groups):
        for row in group:
            row_groups[row] = number
        prefix_lengths.append(_common_prefix([rows[row] for row in group]))
    chunk = max(len(rows[i]) - prefix_lengths[row_groups[i]] for i in range(len(rows)))
    keep = [max(0, len(row) - chunk) for row in rows]  # a row shorter than the chunk is all chunk
    for row, kept in enumerate(keep):
        if row_vision[row] and row_vision[row][-1] >= kept:
            return None
    return SharedLayout(
        groups=tuple(tuple(group) for group in groups),
        row_groups=tuple(row_groups),
        prefix_lengths=tuple(prefix_lengths),
        pad=tuple(width - chunk - kept for kept in keep),
        keep=tuple(keep),
        cached=width - chunk,
        chunk=chunk,
    )


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest common token prefix, leaving at least one token of the shortest row uncached (its last
    token's logits start the answer)."""
    first = rows[0]
    limit = min(len(row) for row in rows) - 1
    length = 0
    while length < limit and all(row[length] == first[length] for row in rows):
        length += 1
    return length


def prefill(
    model: Any, inputs: dict[str, Any], lengths: Sequence[int], rope_holder: Any | None
) -> tuple[list[list[Any]], Any]:
    """Run the first ``lengths[r]`` tokens of each row of a left-padded ``inputs`` (pixels included) in one forward
    and return, per row, the per-layer ``(keys, values)`` of those tokens and the rows' position offsets
    (``rope_deltas`` of mrope models, zeros otherwise; shape ``(rows, 1)``).

    The rows are moved to the left and right-padded to the longest prefix: slot ``j`` of row ``r`` then holds its
    token ``j`` at position ``j``, exactly as in a one-row prefill, and causal attention never lets a real token see
    the padding behind it. Only rounding can differ from one forward per row (a different matmul shape).
    """
    import torch
    from transformers import DynamicCache

    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    rows, seq = int(ids.shape[0]), int(ids.shape[1])
    width = max(lengths)
    starts = (seq - mask.sum(dim=1)).tolist()  # left padding of each row
    gather = (torch.arange(width, device=ids.device)[None, :] + ids.new_tensor(starts)[:, None]).clamp(max=seq - 1)
    keep = torch.arange(width, device=ids.device)[None, :] < ids.new_tensor(list(lengths))[:, None]
    moved = {}
    for key, value in inputs.items():
        if key.startswith("pixel") or value.ndim != 2 or tuple(value.shape) != (rows, seq):
            moved[key] = value  # pixels and per-image tensors are not per-token
        elif key == "attention_mask":
            moved[key] = keep.to(value.dtype)
        else:
            moved[key] = torch.where(keep, torch.gather(value, 1, gather), torch.zeros_like(value[:, :width]))
    if rope_holder is not None:
        rope_holder.rope_deltas = None  # a stale offset from an earlier batch must not leak into this prefill
    cache = DynamicCache()  # full layers everywhere: sliding layers would drop the prefix the rows still need
    with torch.inference_mode():
        output = model(**moved, **{cache_keyword(model): cache}, use_cache=True, logits_to_keep=1)
    filled: Any = returned_cache(output) or cache
    layers = [
        [(layer.keys[r : r + 1, :, :length], layer.values[r : r + 1, :, :length]) for layer in filled.layers]
        for r, length in enumerate(lengths)
    ]
    delta = getattr(rope_holder, "rope_deltas", None) if rope_holder is not None else None
    if delta is None:
        delta = torch.zeros(rows, 1, dtype=torch.long, device=ids.device)
    return layers, delta


def expand(
    prefixes: Sequence[list[Any]],
    layout: SharedLayout,
    static: static_decode.StaticCaches | None = None,
    slots: int = 0,
) -> Any:
    """One cache holding, per row, a copy of its group's prefix in the first ``layout.cached`` slots: a DynamicCache,
    or with ``static`` a static cache of ``slots`` slots, written layer by layer so that the peak memory is the
    static cache plus one expanded layer."""
    from transformers import DynamicCache

    layers = _expanded_layers(prefixes, layout)
    if static is None:
        return DynamicCache(ddp_cache_data=list(layers))
    return static.filled(layers, len(layout.row_groups), slots)


def _expanded_layers(prefixes: Sequence[list[Any]], layout: SharedLayout) -> Iterator[tuple[Any, Any]]:
    import torch

    first = prefixes[0][0][0]
    rows = torch.tensor(layout.row_groups, device=first.device)
    # Slot j of row i holds prefix token j - pad[i]; slots before pad[i] are padding (masked, zeroed here).
    position = (
        torch.arange(layout.cached, device=first.device)[None, :]
        - torch.tensor(layout.pad, device=first.device)[:, None]
    )
    valid = (position >= 0)[:, None, :, None]
    index = position.clamp(min=0)[:, None, :, None]
    for layer in range(len(prefixes[0])):
        expanded = []
        for part in (0, 1):  # keys, values
            tensors = [prefix[layer][part] for prefix in prefixes]
            longest = max(t.shape[2] for t in tensors)
            stacked = torch.cat([torch.nn.functional.pad(t, (0, 0, 0, longest - t.shape[2])) for t in tensors])
            source = stacked[rows]  # (rows, heads, longest, dim)
            gathered = torch.gather(source, 2, index.expand(-1, source.shape[1], -1, source.shape[3]))
            expanded.append(torch.where(valid, gathered, torch.zeros((), dtype=gathered.dtype, device=gathered.device)))
        yield expanded[0], expanded[1]


def cache_keyword(model: Any) -> str:
    """The name under which ``model`` takes a KV cache: ``cache`` from transformers 5.24 on, ``past_key_values``
    before (the old name still works until 5.40, with a deprecation warning)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PeftModel forwards **kwargs
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def returned_cache(output: Any) -> Any:
    """The KV cache of a model or ``generate`` output, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else getattr(output, "past_key_values", None)


def rope_holder(model: Any) -> Any | None:
    """The module that keeps mrope position offsets between calls (Qwen2-VL family), if the model has one."""
    return next((module for module in model.modules() if hasattr(module, "rope_deltas")), None)
