"""Batch planning for local generation: prompts about one image with one reference set stay together (so that their
shared prefix is computed once), and batches are sorted by prompt length inside a bounded window (so that left
padding stays small without reordering the whole run). Pure Python: no torch here.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmedrag.types import Prompt

if TYPE_CHECKING:
    from PIL import Image


def image_digest(prompt: Prompt) -> str:
    """A content digest of the prompt's images: two prompts about the same pixels match even when loaded twice."""
    digest = hashlib.blake2b(digest_size=16)
    for image in prompt.images:
        digest.update(image_bytes_digest(image).encode())
    return digest.hexdigest()


# id(image) -> (weak reference, digest): the questions about one image object hash its pixels once (about 1 ms per
# 512 x 512 image, paid again by the share key and the image cache otherwise). Images are not edited once loaded.
_SEEN: dict[int, tuple[weakref.ref[Image.Image], str]] = {}
_SEEN_LIMIT = 4096


def image_bytes_digest(image: Image.Image) -> str:
    """A content digest of one image (mode, size and pixels), computed once per image object."""
    seen = _SEEN.get(id(image))
    if seen is not None and seen[0]() is image:
        return seen[1]
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.mode}:{image.size}".encode())
    digest.update(image.tobytes())
    if len(_SEEN) >= _SEEN_LIMIT:
        _SEEN.clear()
    _SEEN[id(image)] = (weakref.ref(image), digest.hexdigest())
    return _SEEN[id(image)][1]


def share_key(prompt: Prompt, adapter: str | None) -> tuple[Hashable, ...]:
    """What must be equal for two prompts to share a prefix: the images, the references and the adapter.

    The task and the question may differ: they come last in every template (:mod:`mmedrag.generation.prompts`).
    """
    references = tuple((ref.record_id, ref.text) for ref in prompt.references)
    return (image_digest(prompt), references, prompt.domain, adapter)


@dataclass(frozen=True)
class PlannedBatch:
    """Indices (into the caller's prompt list) of one batch, with the share groups it holds (lists of indices)."""

    indices: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]


def plan_batches(
    indices: Sequence[int],
    lengths: Sequence[int],
    keys: Sequence[Hashable] | None,
    batch_size: int,
    sort_window: int,
) -> list[PlannedBatch]:
    """Cut ``indices`` into batches of at most ``batch_size``.

    Args:
        indices: the prompts to plan, in input order.
        lengths: prompt length (tokens) of every prompt, indexed like the caller's prompt list.
        keys: share key of every prompt (indexed the same way), or None to plan without grouping.
        batch_size: prompts per batch.
        sort_window: prompts (in input order) inside which groups are sorted by length; 0 or 1 keeps input order.
            A bounded window keeps the memory of a long run flat and its progress bar honest.

    Returns:
        Batches in run order. A group larger than ``batch_size`` is split; otherwise groups are never split.
    """
    sort = sort_window > 1
    pieces: list[tuple[int, ...]] = []
    window: list[tuple[int, ...]] = []
    seen = 0
    for unit in _units(indices, keys):
        window.append(unit)
        seen += len(unit)
        if seen >= sort_window:
            pieces.extend(_pieces(window, lengths, batch_size, sort))
            window, seen = [], 0
    pieces.extend(_pieces(window, lengths, batch_size, sort))
    return _pack(pieces, batch_size)


def _units(indices: Sequence[int], keys: Sequence[Hashable] | None) -> list[tuple[int, ...]]:
    """Share groups in order of first appearance (each a tuple of indices), or single prompts without keys."""
    if keys is None:
        return [(index,) for index in indices]
    groups: dict[Hashable, list[int]] = {}
    for index in indices:
        groups.setdefault(keys[index], []).append(index)
    return [tuple(group) for group in groups.values()]


def _pieces(units: list[tuple[int, ...]], lengths: Sequence[int], batch_size: int, sort: bool) -> list[tuple[int, ...]]:
    """Units cut to at most ``batch_size`` (only units larger than a batch are split), longest first when sorting."""
    pieces: list[tuple[int, ...]] = []
    for unit in units:
        ordered = sorted(unit, key=lambda i: lengths[i]) if sort else list(unit)
        pieces.extend(tuple(ordered[start : start + batch_size]) for start in range(0, len(ordered), batch_size))
    if sort:
        pieces.sort(key=lambda piece: -max(lengths[i] for i in piece))
    return pieces


def _pack(pieces: list[tuple[int, ...]], batch_size: int) -> list[PlannedBatch]:
    """Fill batches with whole pieces in order; a piece that does not fit starts the next batch."""
    batches: list[PlannedBatch] = []
    current: list[tuple[int, ...]] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > batch_size:
            batches.append(_batch(current))
            current, size = [], 0
        current.append(piece)
        size += len(piece)
    if current:
        batches.append(_batch(current))
    return batches


def _batch(pieces: list[tuple[int, ...]]) -> PlannedBatch:
    return PlannedBatch(indices=tuple(i for piece in pieces for i in piece), groups=tuple(pieces))


def padding_fraction(lengths: Sequence[int]) -> float:
    """Share of a left-padded batch's token slots that are padding."""
    if not lengths:
        return 0.0
    slots = max(lengths) * len(lengths)
    return 1.0 - sum(lengths) / slots
