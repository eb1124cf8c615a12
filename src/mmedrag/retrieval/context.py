"""Context selection: how many of the retrieved hits the generator sees.

Every selector records in the trace the scores it saw and where it cut, so an answer can be audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from mmedrag.errors import ConfigError
from mmedrag.types import Context, Hit, Query


@runtime_checkable
class ContextSelector(Protocol):
    def select(self, query: Query, hits: Sequence[Hit]) -> Context: ...


def _context(hits: Sequence[Hit], keep: int, rule: str, **extra: object) -> Context:
    kept = tuple(hits[:keep])
    return Context(hits=kept, trace={"rule": rule, "scores": [round(h.score, 6) for h in hits], "cut": keep, **extra})


@dataclass(frozen=True)
class TopK:
    """The ``k`` best hits (k = 0 means no retrieval)."""

    k: int = 3

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"top-k needs k >= 0, got {self.k}")

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        return _context(hits, min(self.k, len(hits)), "top_k", k=self.k)


@dataclass(frozen=True)
class MinScore:
    """Hits scoring at least ``min_score``, at most ``k`` of them."""

    min_score: float
    k: int = 10

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        keep = 0
        while keep < min(self.k, len(hits)) and hits[keep].score >= self.min_score:
            keep += 1
        return _context(hits, keep, "min_score", min_score=self.min_score, k=self.k)
