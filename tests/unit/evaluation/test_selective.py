"""Risk-coverage curves and AURC: confident right answers first lower the area; a constant answer's area is its
error rate."""

from __future__ import annotations

import pytest

from mmedrag.evaluation.selective import aurc, risk_coverage, selective_inputs, selective_metrics


def test_ranking_right_answers_first_lowers_aurc() -> None:
    correct = [True, True, False, False]
    assert aurc([0.9, 0.8, 0.2, 0.1], correct) < aurc([0.1, 0.2, 0.8, 0.9], correct)
    assert aurc([0.9, 0.8, 0.2, 0.1], correct) == pytest.approx((0 + 0 + 1 / 3 + 2 / 4) / 4)


def test_constant_confidence_gives_the_error_rate_at_every_coverage() -> None:
    coverage, risk = risk_coverage([0.5] * 4, [True, False, False, False])
    assert coverage == [0.25, 0.5, 0.75, 1.0] and risk == pytest.approx([0.75] * 4)


def test_abstentions_rank_last_and_count_as_errors() -> None:
    metrics = selective_metrics(
        shown=[True, True, False, False],
        correct=[True, True, False, False],
        confidence=[0.9, 0.6, None, None],
        majority_accuracy=0.5,
    )
    assert metrics["coverage"] == 0.5 and metrics["answered_accuracy"] == 1.0
    assert metrics["curve"]["risk"] == pytest.approx([0.0, 0.0, 1 / 3, 0.5], abs=1e-5)
    assert metrics["aurc"] < metrics["majority_aurc"] == 0.5


def test_withheld_answers_rank_by_their_own_confidence_but_do_not_count_as_answered() -> None:
    rows = [
        {"label": "yes", "correct": True, "confidence": 0.9},
        {"label": None, "correct": False, "withheld": {"answer": "No.", "confidence": 0.7}, "withheld_correct": True},
        {"label": None, "correct": False, "withheld": None},
    ]
    shown, correct, confidence = selective_inputs(rows)
    assert (shown, correct, confidence) == ([True, False, False], [True, True, False], [0.9, 0.7, None])
    metrics = selective_metrics(shown, correct, confidence, majority_accuracy=0.5)
    assert metrics["coverage"] == pytest.approx(1 / 3) and metrics["curve"]["risk"][:2] == [0.0, 0.0]
