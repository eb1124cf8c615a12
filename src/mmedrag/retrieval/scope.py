"""Is a query image like anything in the knowledge base? A conformal nearest-neighbour check fitted on the index.

Without a router, a bar chart asked "Is there a pleural effusion?" still has nearest neighbours, and is answered
from another patient's report. This check needs no router and no labels: at index time each (sampled)
knowledge-base image is scored by its similarity to its nearest neighbour among the *other* records, leaving out its
own record, study and patient and near copies of it (what the leakage guard removes at query time, so the score is
what a new image of the same distribution would see). The scores are kept sorted with the index; at query time a
query image's nearest-neighbour similarity gets the conformal p-value ``(1 + #{scores <= s}) / (n + 1)`` and is out
of scope when that is at most ``alpha``. Split conformal prediction (Vovk, Gammerman & Shafer 2005; Angelopoulos &
Bates 2021, §1) bounds the chance of flagging an exchangeable in-domain image by ``alpha``, with the finite-sample
correction built in: the threshold is the ``floor(alpha * (n + 1))``-th smallest score, and with fewer than
``1 / alpha - 1`` scores nothing can be flagged.

Each check is one *test* (a score per image, higher = more like the knowledge base); several tests share ``alpha``
by Bonferroni and an image is flagged when any of them flags it. The image-statistics test is in
:mod:`mmedrag.retrieval.image_stats`, the fitting on an index in :mod:`mmedrag.retrieval.scope_fit`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mmedrag.errors import ConfigError

SCOPE_KEY = "scope"  # where the fit lives in the index metadata (index.json "info", Milvus' meta row)
FIT_VERSION = 1
DEFAULT_ALPHA = 0.05
MAX_CALIBRATION = 2000  # images scored at fit time at most (sampled with a fixed seed): the bound needs n, not all
Status = Literal["in_scope", "out_of_scope", "not_fitted", "no_image", "off"]


def check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"scope alpha must be in (0, 1), got {alpha}")
    return float(alpha)


def conformal_threshold(scores: Sequence[float] | np.ndarray, alpha: float) -> float | None:
    """The least score an image needs to be in scope at level ``alpha``: the ``floor(alpha * (n + 1))``-th smallest.

    An exchangeable new score falls strictly below it with probability at most ``floor(alpha * (n + 1)) / (n + 1)
    <= alpha``. None when ``n`` is too small for any flag at this ``alpha`` (``alpha * (n + 1) < 1``).
    """
    rank = math.floor(check_alpha(alpha) * (len(scores) + 1))
    return None if rank < 1 else float(np.sort(np.asarray(scores, dtype=np.float64))[rank - 1])


def conformal_p_value(sorted_scores: np.ndarray, score: float) -> float:
    """``(1 + #{calibration scores <= score}) / (n + 1)``; ``p <= alpha`` exactly when ``score`` is below
    :func:`conformal_threshold` (without ties)."""
    below = int(np.searchsorted(sorted_scores, score, side="right"))
    return (1 + below) / (len(sorted_scores) + 1)


@dataclass(frozen=True)
class ScopeTest:
    """One fitted test: the sorted calibration scores of knowledge-base images (higher = more in-domain)."""

    name: str
    scores: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def result(self, score: float, alpha: float) -> dict[str, Any]:
        """The trace entry of one query score at level ``alpha`` (this test's share of the family's alpha)."""
        threshold = conformal_threshold(self.scores, alpha)
        p_value = conformal_p_value(self.scores, score)
        return {
            "score": round(float(score), 6),
            "threshold": None if threshold is None else round(threshold, 6),
            "p_value": round(p_value, 6),
            "alpha": round(alpha, 6),
            "flagged": threshold is not None and score < threshold,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"n": len(self.scores), "scores": [round(float(s), 5) for s in self.scores], **self.params}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ScopeTest:
        scores = np.sort(np.asarray(data.get("scores", []), dtype=np.float64))
        if scores.ndim != 1 or not np.isfinite(scores).all():
            raise ConfigError(f"scope test {name!r}: calibration scores are not a list of numbers; refit the index")
        return cls(name, scores, {k: v for k, v in data.items() if k not in ("n", "scores")})


@dataclass(frozen=True)
class ScopeVerdict:
    """Whether one query image is in scope, and the numbers behind it (``to_dict`` goes into the answer's trace)."""

    status: Status
    alpha: float | None = None
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    reason: str = ""

    @property
    def out_of_scope(self) -> bool:
        return self.status == "out_of_scope"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.alpha is not None:
            out["alpha"] = self.alpha
        if self.tests:
            out["tests"] = self.tests
        if self.reason:
            out["reason"] = self.reason
        return out


NOT_FITTED = ScopeVerdict(
    "not_fitted", reason="this index has no in-scope fit; refit it with `mmedrag index --index DIR --refit-scope`"
)
NOT_IMAGE_ENCODER = ScopeVerdict("not_fitted", reason="the retriever's encoder reads no images")
NO_IMAGE = ScopeVerdict("no_image")
OFF = ScopeVerdict("off", reason="the in-scope check is turned off (scope_check: false)")


@dataclass(frozen=True)
class ScopeModel:
    """The fitted tests of one index and the family-wise ``alpha`` they share (Bonferroni: ``alpha / len(tests)``)."""

    alpha: float
    tests: dict[str, ScopeTest]
    info: dict[str, Any] = field(default_factory=dict)

    def verdict(self, scores: Mapping[str, float]) -> ScopeVerdict:
        """Flag when any test's score is below its threshold at ``alpha / len(tests)``."""
        share = self.alpha / max(len(self.tests), 1)
        results = {name: test.result(scores[name], share) for name, test in self.tests.items() if name in scores}
        flagged = [name for name, result in results.items() if result["flagged"]]
        if flagged:
            reason = f"the image is unlike every knowledge-base image ({', '.join(flagged)} below the threshold)"
            return ScopeVerdict("out_of_scope", self.alpha, results, reason)
        return ScopeVerdict("in_scope", self.alpha, results)

    def to_dict(self) -> dict[str, Any]:
        tests = {name: test.to_dict() for name, test in self.tests.items()}
        return {"version": FIT_VERSION, "alpha": self.alpha, "tests": tests, **self.info}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ScopeModel | None:
        """The model saved by :meth:`to_dict`; None for an index fitted before this check existed (or not at all)."""
        if not data or not data.get("tests"):
            return None
        if data.get("version") != FIT_VERSION:
            raise ConfigError(f"in-scope fit version {data.get('version')} is not {FIT_VERSION}; refit the index")
        tests = {name: ScopeTest.from_dict(name, test) for name, test in data["tests"].items()}
        info = {k: v for k, v in data.items() if k not in ("version", "alpha", "tests")}
        return cls(check_alpha(float(data["alpha"])), tests, info)


# --- fitting ---------------------------------------------------------------------------------------------------------

# (calibration row) -> the ids of the rows that are not its neighbours (its own record, study, patient, near copies)
Excluded = Callable[[int], set[str]]
# (calibration rows' vectors, k) -> top-k (id, score) per row, best first
Search = Callable[[np.ndarray, int], list[list[tuple[str, float]]]]


def leave_one_out_scores(vectors: np.ndarray, search: Search, excluded: Excluded, total: int) -> np.ndarray:
    """Each row's best similarity to an id outside its exclusions, widening ``k`` until one is found.

    Rows whose every candidate is excluded get no score (they are dropped, and the count is reported by callers).
    """
    scores = np.full(len(vectors), np.nan)
    pending = list(range(len(vectors)))
    k = min(total, 16)
    while pending and k > 0:
        found = search(vectors[pending], k)
        still = []
        for row, hits in zip(pending, found, strict=True):
            skip = excluded(row)
            best = next((score for identifier, score in hits if identifier not in skip), None)
            if best is not None:
                scores[row] = best
            elif k < total:
                still.append(row)
        if k >= total:
            break
        pending, k = still, min(total, k * 4)
    return scores


def sample_rows(count: int, limit: int = MAX_CALIBRATION, seed: int = 0) -> np.ndarray:
    """Which of ``count`` images are scored at fit time: all of them up to ``limit``, else a seeded sample."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=limit, replace=False))


def fitted_info(n_images: int, scored: int, dropped: int, encoder: str) -> dict[str, Any]:
    return {
        "images": n_images,
        "scored": scored,
        "dropped": dropped,
        "encoder": encoder,
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


__all__ = [
    "DEFAULT_ALPHA",
    "NOT_FITTED",
    "NOT_IMAGE_ENCODER",
    "NO_IMAGE",
    "OFF",
    "SCOPE_KEY",
    "ScopeModel",
    "ScopeTest",
    "ScopeVerdict",
    "conformal_p_value",
    "conformal_threshold",
]
