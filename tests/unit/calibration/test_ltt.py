"""Learn-then-Test: p-values against independent computations, and the FWER guarantee by simulation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from mmedrag.calibration.ltt import (
    CalibrationResult,
    bernoulli_kl,
    binomial_cdf,
    bonferroni,
    calibrate,
    fixed_sequence,
    hoeffding_bentkus_pvalue,
    upper_bound,
)
from mmedrag.errors import ConfigError

CASES = [(100, 0.10, 0.2), (1000, 0.15, 0.2), (50, 0.30, 0.2), (20000, 0.19, 0.2), (300, 0.0, 0.05), (80, 0.05, 0.1)]


@pytest.mark.parametrize(("n", "risk", "alpha"), CASES)
def test_pvalue_matches_scipy_binomial_and_closed_form_kl(n: int, risk: float, alpha: float) -> None:
    binom = pytest.importorskip("scipy.stats", reason="scipy is the oracle here: pip install 'mmedrag[eval]'").binom
    a = min(risk, alpha)
    kl = (a * math.log(a / alpha) if a > 0 else 0.0) + (1 - a) * math.log((1 - a) / (1 - alpha))
    expected = min(math.exp(-n * kl), math.e * binom.cdf(math.ceil(n * risk), n, alpha), 1.0)
    assert hoeffding_bentkus_pvalue(risk, n, alpha) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert binomial_cdf(math.ceil(n * risk), n, alpha) == pytest.approx(
        binom.cdf(math.ceil(n * risk), n, alpha), rel=1e-9, abs=1e-300
    )


def test_bernoulli_kl_edge_cases() -> None:
    assert bernoulli_kl(0.2, 0.2) == 0.0
    assert bernoulli_kl(0.0, 0.5) == pytest.approx(math.log(2))
    assert bernoulli_kl(1.0, 0.5) == pytest.approx(math.log(2))


def test_pvalue_is_one_when_the_empirical_risk_exceeds_alpha() -> None:
    assert hoeffding_bentkus_pvalue(0.3, 500, 0.2) == 1.0


def test_multiple_testing_rules_by_hand() -> None:
    pvalues = {1: 0.001, 2: 0.02, 3: 0.04, 5: 0.2}
    assert bonferroni(pvalues, delta=0.1) == [1, 2]  # threshold 0.1 / 4 = 0.025
    assert fixed_sequence(pvalues, order=[1, 2, 3, 5], delta=0.05) == [1, 2, 3]
    assert fixed_sequence(pvalues, order=[5, 1, 2, 3], delta=0.05) == []  # the order is binding


def test_calibrate_picks_the_certified_k_with_lowest_risk_and_round_trips(tmp_path: Path) -> None:
    result = calibrate({0: 0.30, 1: 0.12, 2: 0.10, 3: 0.11, 5: 0.14}, n=800, alpha=0.2, delta=0.1)
    assert result.certified == [1, 2, 3, 5] and result.k_star == 2
    assert all(result.risks[k] <= result.bounds[k] for k in result.candidates)
    assert result.bounds[0] > 0.2 and all(result.bounds[k] <= 0.2 for k in result.certified)
    result.save(tmp_path / "cal.json")
    assert CalibrationResult.load(tmp_path / "cal.json") == result


def test_no_certified_k_gives_no_k_star() -> None:
    result = calibrate({1: 0.25, 2: 0.3}, n=200, alpha=0.2, delta=0.1)
    assert result.certified == [] and result.k_star is None


def test_upper_bound_is_where_the_pvalue_crosses_the_level() -> None:
    bound = upper_bound(0.1, 400, 0.05)
    assert hoeffding_bentkus_pvalue(0.1, 400, bound) == pytest.approx(0.05, rel=1e-3)
    assert 0.1 < bound < 0.2


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        calibrate({1: 0.1}, n=100, alpha=1.5, delta=0.1)
    with pytest.raises(ConfigError):
        calibrate({1: 0.1}, n=100, alpha=0.2, delta=0.0)
    with pytest.raises(ConfigError):
        calibrate({}, n=100, alpha=0.2, delta=0.1)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a calibration file"):
        CalibrationResult.load(tmp_path / "x.json")


@pytest.mark.parametrize("method", ["bonferroni", "fixed_sequence"])
def test_family_wise_error_is_controlled_over_1000_simulated_calibration_sets(method: str) -> None:
    """With known Bernoulli risks, the certified set holds a k with true risk > α in at most a δ fraction of
    calibration sets (plus three standard errors of the simulation)."""
    true_risk = {1: 0.12, 2: 0.16, 3: 0.19, 4: 0.21, 5: 0.24, 6: 0.30}
    alpha, delta, n, trials = 0.2, 0.1, 400, 1000
    rng = np.random.default_rng(7)
    failures = 0
    certified_any = 0
    for _ in range(trials):
        empirical = {k: rng.binomial(n, p) / n for k, p in true_risk.items()}
        result = calibrate(empirical, n=n, alpha=alpha, delta=delta, method=method)  # type: ignore[arg-type]
        certified_any += bool(result.certified)
        failures += any(true_risk[k] > alpha for k in result.certified)
    bound = delta + 3 * math.sqrt(delta * (1 - delta) / trials)
    assert failures / trials <= bound
    assert certified_any / trials > 0.5  # the test is not vacuous: it certifies something most of the time
