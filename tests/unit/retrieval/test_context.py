"""Context selectors against hand-worked score lists (method.md §2.4 and §3)."""

from __future__ import annotations

import math

import pytest

from mmedrag.errors import ConfigError
from mmedrag.retrieval.context import GapCutoff, MinScore, RatioToTop1, TopK
from mmedrag.types import Hit, Query, Record


def hits(*scores: float) -> list[Hit]:
    return [Hit(Record(id=f"r{i}", text="x"), s, i) for i, s in enumerate(scores, 1)]


@pytest.mark.parametrize(
    ("selector", "scores", "kept", "reason"),
    [
        # log(0.9/0.85)=0.057, log(0.85/0.8)=0.061, log(0.8/0.5)=0.470 > 0.2: cut after the third.
        (GapCutoff(0.2), (0.9, 0.85, 0.8, 0.5, 0.45), 3, "gap"),
        (GapCutoff(0.2), (0.9, 0.1), 1, "gap"),
        (GapCutoff(0.2), (0.5, 0.5, 0.5), 3, "end of positive scores"),  # ties never cut
        (GapCutoff(0.2), (0.6, 0.55, -0.1, -0.2), 2, "end of positive scores"),  # non-positive: not eligible
        (GapCutoff(0.2), (-0.1, -0.2), 0, "end of positive scores"),
        (GapCutoff(0.2, k_min=3), (0.9, 0.3), 2, "k_min"),  # shorter than k_min: all there is
        (GapCutoff(0.2, k_min=2), (0.9, 0.1, 0.05), 2, "k_min"),
        (GapCutoff(0.2, k=5), (0.7,) * 12, 5, "k_max"),
        (GapCutoff(0.2), (), 0, "end of positive scores"),
    ],
)
def test_gap_rule(selector: GapCutoff, scores: tuple[float, ...], kept: int, reason: str) -> None:
    context = selector.select(Query(text="q"), hits(*scores))
    assert context.k == kept and context.trace["reason"] == reason
    assert context.trace["scores"] == list(scores)
    positive = [s for s in scores[: selector.k] if s > 0]
    expected = [round(math.log(a / b), 6) for a, b in zip(positive, positive[1:], strict=False)]
    assert context.trace["log_ratios"] == expected


@pytest.mark.parametrize(
    ("threshold", "scores", "kept"),
    [
        (1.5, (0.9, 0.7, 0.6, 0.59), 2),  # 0.9/0.6 = 1.5 is not < 1.5
        (1.5, (0.9, 0.9, 0.9), 3),
        (1.5, (0.9, -0.1), 1),
        (1.0, (0.9, 0.9), 0),  # S1/S1 = 1 is not < 1
        (3.0, (0.4, 0.3, 0.2, 0.1), 3),  # 0.4/0.1 = 4
    ],
)
def test_ratio_to_top1(threshold: float, scores: tuple[float, ...], kept: int) -> None:
    assert RatioToTop1(threshold).select(Query(text="q"), hits(*scores)).k == kept


def test_ratio_to_top1_respects_k() -> None:
    assert RatioToTop1(2.0, k=2).select(Query(text="q"), hits(0.9, 0.9, 0.9)).k == 2


@pytest.mark.parametrize(
    "build",
    [lambda: GapCutoff(-1.0), lambda: GapCutoff(0.1, k_min=3, k=2), lambda: RatioToTop1(0.5), lambda: TopK(-2)],
)
def test_invalid_settings_are_refused(build) -> None:
    with pytest.raises(ConfigError):
        build()


def test_min_score_and_top_k_trace_their_cut() -> None:
    assert MinScore(0.5, k=3).select(Query(text="q"), hits(0.9, 0.6, 0.55, 0.52)).trace["cut"] == 3
    assert TopK(2).select(Query(text="q"), hits(0.9, 0.6, 0.55)).trace == {
        "rule": "top_k",
        "scores": [0.9, 0.6, 0.55],
        "cut": 2,
        "k": 2,
    }
