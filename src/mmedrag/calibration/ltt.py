"""Learn-then-Test for the number of references k (RULE §3.2, method.md §4; Angelopoulos et al. 2021).

For each candidate k, the null hypothesis H_k says the true factuality risk exceeds α. Its Hoeffding-Bentkus p-value
is min(exp(-n·h1(min(R̂, α), α)), e·P(Binomial(n, α) <= ⌈n·R̂⌉)), with h1 the Bernoulli KL divergence. Rejecting
H_k certifies k; family-wise error control at δ (Bonferroni, or fixed-sequence testing in an order fixed before
seeing data) gives: with probability >= 1-δ over the calibration set, every certified k has true risk <= α, provided
calibration and test data are exchangeable. k* is the certified k with the lowest empirical risk.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json

Method = Literal["bonferroni", "fixed_sequence"]


def bernoulli_kl(a: float, b: float) -> float:
    """h1(a, b) = a log(a/b) + (1-a) log((1-a)/(1-b)), with 0 log 0 = 0."""
    total = 0.0
    if a > 0:
        total += a * math.log(a / b)
    if a < 1:
        total += (1 - a) * math.log((1 - a) / (1 - b))
    return total


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k), summed in log space (pmf ratios accumulated with numpy) so large n stays exact."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    steps = np.arange(k, dtype=np.float64)
    # log pmf(i+1) - log pmf(i) = log((n - i) / (i + 1)) + log(p / (1 - p))
    log_pmf = n * math.log1p(-p) + np.concatenate(
        ([0.0], np.cumsum(np.log((n - steps) / (steps + 1)) + math.log(p) - math.log1p(-p)))
    )
    peak = float(log_pmf.max())
    return min(1.0, math.exp(peak) * float(np.exp(log_pmf - peak).sum()))


def hoeffding_bentkus_pvalue(risk: float, n: int, alpha: float) -> float:
    """p-value of H: true risk > ``alpha`` given empirical ``risk`` on ``n`` samples (LTT, Prop. 3 / RULE)."""
    if n <= 0:
        raise ConfigError("calibration needs at least one sample")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    hoeffding = math.exp(-n * bernoulli_kl(min(risk, alpha), alpha))
    bentkus = math.e * binomial_cdf(math.ceil(n * risk), n, alpha)
    return min(hoeffding, bentkus, 1.0)


def bonferroni(pvalues: Mapping[int, float], delta: float) -> list[int]:
    """Candidates whose p-value is at most δ/|C|."""
    return [k for k, p in pvalues.items() if p <= delta / len(pvalues)]


def fixed_sequence(pvalues: Mapping[int, float], order: Sequence[int], delta: float) -> list[int]:
    """Test in ``order`` at level δ each, stopping at the first failure (the order must not depend on the data)."""
    certified = []
    for k in order:
        if pvalues[k] > delta:
            break
        certified.append(k)
    return certified


def upper_bound(risk: float, n: int, level: float) -> float:
    """The largest α whose H-B test still fails to reject at ``level``: an upper confidence bound on the risk."""
    low, high = risk, 1.0 - 1e-12
    if hoeffding_bentkus_pvalue(risk, n, high) > level:
        return 1.0
    for _ in range(45):  # bisection to ~1e-13: the p-value decreases as alpha grows above the empirical risk
        middle = (low + high) / 2
        if middle <= 0 or hoeffding_bentkus_pvalue(risk, n, middle) > level:
            low = middle
        else:
            high = middle
    return high


@dataclass
class CalibrationResult:
    """Everything the calibration decided, saved as JSON for the pipeline to load."""

    alpha: float
    delta: float
    n: int
    method: str
    candidates: list[int]
    risks: dict[int, float]
    pvalues: dict[int, float]
    bounds: dict[int, float]
    certified: list[int]
    k_star: int | None
    order: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("risks", "pvalues", "bounds"):
            data[key] = {str(k): v for k, v in data[key].items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationResult:
        values = dict(data)
        for key in ("risks", "pvalues", "bounds"):
            values[key] = {int(k): float(v) for k, v in values[key].items()}
        return cls(**values)

    def save(self, path: str | Path) -> None:
        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> CalibrationResult:
        import json

        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a calibration file ({exc}); run `mmedrag calibrate`") from exc


def calibrate(
    risks: Mapping[int, float],
    n: int,
    alpha: float,
    delta: float,
    method: Method = "bonferroni",
    order: Sequence[int] | None = None,
) -> CalibrationResult:
    """Certify candidate k values from their empirical risks on ``n`` calibration samples.

    Args:
        order: the fixed-sequence testing order, decided before seeing data (default: increasing k, since fewer
            references are the conservative end in RULE's setting).
    """
    if not risks:
        raise ConfigError("no candidate k to calibrate")
    if not 0 < delta < 1:
        raise ConfigError(f"delta must be in (0, 1), got {delta}")
    pvalues = {k: hoeffding_bentkus_pvalue(r, n, alpha) for k, r in risks.items()}
    order = list(order) if order is not None else sorted(risks)
    if method == "bonferroni":
        certified, level = bonferroni(pvalues, delta), delta / len(risks)
    elif method == "fixed_sequence":
        certified, level = fixed_sequence(pvalues, order, delta), delta
    else:
        raise ConfigError(f"unknown multiple-testing method {method!r}; use bonferroni or fixed_sequence")
    k_star = min(certified, key=lambda k: (risks[k], k)) if certified else None
    return CalibrationResult(
        alpha=alpha,
        delta=delta,
        n=n,
        method=method,
        candidates=sorted(risks),
        risks=dict(risks),
        pvalues=pvalues,
        bounds={k: upper_bound(r, n, level) for k, r in risks.items()},
        certified=sorted(certified),
        k_star=k_star,
        order=order,
    )
