"""Prefer references that say something about the asked concept.

For a yes/no question about a finding, a similar case whose report states it present or absent is evidence; one
silent about it is not (another patient's silence answers nothing: the trust issue). The selector still decides how
many references (k, calibrated or not); this decides which cases fill those places: each chosen case silent about
the asked concepts is replaced, lowest-ranked first, by the best-ranked retrieved case not chosen whose report
asserts one (concept links, :mod:`mmedrag.kg.links`). References keep their retrieval order and scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from mmedrag.types import Context, Hit


def prefer_asserting(context: Context, retrieved: Sequence[Hit], asserting: set[str]) -> Context:
    """``context`` with silent references swapped for asserting ones from ``retrieved`` (see the module)."""
    chosen = list(context.hits)
    chosen_ids = {hit.record.id for hit in chosen}
    spare = [hit for hit in retrieved if hit.record.id in asserting and hit.record.id not in chosen_ids]
    silent = [n for n in range(len(chosen) - 1, -1, -1) if chosen[n].record.id not in asserting]
    swapped: list[str] = []
    for position, replacement in zip(silent, spare, strict=False):
        swapped.append(replacement.record.id)
        chosen[position] = replacement
    if not swapped:
        return context
    order = {hit.record.id: n for n, hit in enumerate(retrieved)}
    chosen.sort(key=lambda hit: order.get(hit.record.id, len(order)))
    return Context(hits=tuple(chosen), trace={**context.trace, "concept_swapped_in": swapped})
