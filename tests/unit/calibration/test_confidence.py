"""Confidence calibration: isotonic per evidence group, temperature scaling, ECE, saved and reloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmedrag.calibration.confidence import ConfidenceCalibrator, expected_calibration_error
from mmedrag.errors import ConfigError


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_overconfident() -> None:
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [True, False, False, False]) == pytest.approx(0.75)


def test_isotonic_maps_each_group_to_its_own_accuracy() -> None:
    rng = np.random.default_rng(0)
    groups = ["own_sentence"] * 200 + ["similar_sentence"] * 200
    raw = [0.67] * 400  # the same raw number, very different reliability
    correct = list(rng.random(200) < 0.95) + list(rng.random(200) < 0.55)
    calibrator = ConfidenceCalibrator.fit(groups, raw, correct)
    assert calibrator("own_sentence", 0.67) == pytest.approx(np.mean(correct[:200]))
    assert calibrator("similar_sentence", 0.67) == pytest.approx(np.mean(correct[200:]))
    assert calibrator("never_seen", 0.67) == pytest.approx(np.mean(correct))  # the pooled map


def test_isotonic_is_monotone_and_temperature_softens_overconfidence(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    raw = rng.uniform(0.5, 1.0, 2000)
    truth = rng.random(2000) < 0.5 + 0.5 * (raw - 0.5)  # true accuracy far below the raw number
    iso = ConfidenceCalibrator.fit(["x"] * 2000, raw, truth)
    grid = [iso("x", value) for value in np.linspace(0.5, 1.0, 11)]
    assert all(a <= b for a, b in zip(grid, grid[1:], strict=False))
    temperature = ConfidenceCalibrator.fit(["x"] * 2000, raw, truth, method="temperature")
    assert temperature.temperature > 1.0
    before = expected_calibration_error(raw, truth)
    after = expected_calibration_error([temperature("x", r) for r in raw], truth)
    assert after < before / 2
    reloaded = ConfidenceCalibrator.load(iso.save(tmp_path / "confidence.json"))
    assert reloaded("x", 0.9) == pytest.approx(iso("x", 0.9))


def test_too_few_answers_or_a_bad_file_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 10"):
        ConfidenceCalibrator.fit(["x"] * 3, [0.9] * 3, [True] * 3)
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a confidence calibration file"):
        ConfidenceCalibrator.load(tmp_path / "bad.json")
