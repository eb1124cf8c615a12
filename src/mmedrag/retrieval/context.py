"""Context selection: how many of the retrieved hits the generator sees.

* :class:`TopK`: a fixed number (RULE's calibrated k is a TopK with k from a calibration file).
* :class:`GapCutoff`: MMed-RAG's adaptive rule (method.md §3): keep 1..i at the first i with log(S_i/S_{i+1}) > γ.
* :class:`RatioToTop1`: the rule the MMed-RAG code implements instead (§2.4 step 6): keep j while S_1/S_j < t.
* :class:`MinScore`: hits scoring at least a threshold.
Every selector records in the trace the scores it saw, where it cut and why, so an answer can be audited. The
adaptive rules are heuristics: only a calibrated k carries a guarantee (:mod:`mmedrag.calibration`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mmedrag.errors import ConfigError
from mmedrag.types import Context, Hit, Query


@runtime_checkable
class ContextSelector(Protocol):
    """Chooses which of the retrieved hits become references.

    ``max_k`` is the most hits it can keep (None: no limit of its own); the pipeline retrieves at least that many,
    so a selector is never silently capped by retrieval.
    """

    @property
    def max_k(self) -> int | None: ...

    def select(self, query: Query, hits: Sequence[Hit]) -> Context: ...


def _context(hits: Sequence[Hit], keep: int, rule: str, **extra: Any) -> Context:
    kept = tuple(hits[:keep])
    return Context(hits=kept, trace={"rule": rule, "scores": [round(h.score, 6) for h in hits], "cut": keep, **extra})


def _positive_prefix(hits: Sequence[Hit]) -> int:
    """How many leading hits have a positive similarity: ratios of cosines are meaningless at or below zero."""
    count = 0
    while count < len(hits) and hits[count].score > 0:
        count += 1
    return count


@dataclass(frozen=True)
class TopK:
    """The ``k`` best hits (k = 0 means no retrieval)."""

    k: int = 3

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"top-k needs k >= 0, got {self.k}")

    @property
    def max_k(self) -> int:
        return self.k

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        return _context(hits, min(self.k, len(hits)), "top_k", k=self.k)


@dataclass(frozen=True)
class MinScore:
    """Hits scoring at least ``min_score``, at most ``k`` of them."""

    min_score: float = 0.0
    k: int = 10

    @property
    def max_k(self) -> int:
        return self.k

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        keep = 0
        while keep < min(self.k, len(hits)) and hits[keep].score >= self.min_score:
            keep += 1
        return _context(hits, keep, "min_score", min_score=self.min_score, k=self.k)


@dataclass(frozen=True)
class GapCutoff:
    """MMed-RAG's gap rule: cut after the first sharp similarity drop (log ratio of neighbours above ``gamma``).

    Only positively scored hits are eligible; a drop to a non-positive score counts as an infinite gap. The cut is
    then clamped to [``k_min``, ``k``] (``k_min`` cannot add hits that do not exist or score <= 0). Ties have a
    log ratio of 0 and never cut.
    """

    gamma: float = 0.1
    k_min: int = 1
    k: int = 10

    def __post_init__(self) -> None:
        if self.gamma < 0 or not 0 <= self.k_min <= self.k:
            raise ConfigError(f"gap rule needs gamma >= 0 and 0 <= k_min <= k, got {self}")

    @property
    def max_k(self) -> int:
        return self.k

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        eligible = min(_positive_prefix(hits), self.k)
        ratios = [math.log(hits[i].score / hits[i + 1].score) for i in range(eligible - 1)]
        cut = next((i + 1 for i, ratio in enumerate(ratios) if ratio > self.gamma), eligible)
        reason = "gap" if cut < eligible else ("k_max" if eligible == self.k else "end of positive scores")
        keep = max(cut, min(self.k_min, eligible))
        if keep > cut:
            reason = "k_min"
        return _context(
            hits,
            keep,
            "gap",
            gamma=self.gamma,
            k_min=self.k_min,
            k_max=self.k,
            log_ratios=[round(r, 6) for r in ratios],
            reason=reason,
        )


@dataclass(frozen=True)
class RatioToTop1:
    """The reference code's rule: keep hit j while S_1 / S_j < ``ratio`` (at most ``k``), for parity runs."""

    ratio: float = 1.5
    k: int = 10

    def __post_init__(self) -> None:
        if self.ratio < 1:
            raise ConfigError(f"ratio-to-top-1 needs a ratio >= 1, got {self.ratio}")

    @property
    def max_k(self) -> int:
        return self.k

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        eligible = min(_positive_prefix(hits), self.k)
        keep = 0
        while keep < eligible and hits[0].score / hits[keep].score < self.ratio:
            keep += 1
        return _context(hits, keep, "ratio_to_top1", threshold=self.ratio, k=self.k)


@dataclass(frozen=True)
class CalibratedK:
    """RULE's calibrated k: top-k* from a ``mmedrag calibrate`` result file.

    When the calibration certified no k, the guarantee does not hold for any k: ``on_uncertified="abstain"``
    makes the pipeline answer "unknown" (the default), ``"no_retrieval"`` answers without references. ``k`` caps
    k* as it caps every other selector (None: k* as certified; the trace keeps both).
    """

    calibration: str
    on_uncertified: str = "abstain"
    k: int | None = None

    def __post_init__(self) -> None:
        from mmedrag.calibration.ltt import CalibrationResult

        if self.on_uncertified not in {"abstain", "no_retrieval"}:
            raise ConfigError(f"on_uncertified must be abstain or no_retrieval, got {self.on_uncertified!r}")
        object.__setattr__(self, "result", CalibrationResult.load(self.calibration))

    @property
    def max_k(self) -> int | None:
        k_star: int | None = self.result.k_star  # type: ignore[attr-defined]
        return k_star if k_star is None or self.k is None else min(k_star, self.k)

    def select(self, query: Query, hits: Sequence[Hit]) -> Context:
        result = self.result  # type: ignore[attr-defined]
        facts = {"calibration": self.calibration, "alpha": result.alpha, "delta": result.delta, "k_star": result.k_star}
        if result.k_star is None:
            abstain = self.on_uncertified == "abstain"
            return _context(hits, 0, "calibrated", abstain=abstain, reason="no k certified", **facts)
        keep = min(result.k_star, len(hits), self.k if self.k is not None else result.k_star)
        return _context(hits, keep, "calibrated", cap=self.k, **facts)
