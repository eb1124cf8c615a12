"""Paired statistics over per-question scores: bootstrap confidence intervals and approximate randomization.

Both resample questions, not scores, so they respect the pairing of two systems answering the same questions
(Koehn 2004 for the bootstrap; Noreen 1989 / Riezler & Maxwell 2005 for approximate randomization).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float]


def bootstrap_ci(
    scores: Sequence[float] | np.ndarray,
    statistic: Statistic = np.mean,
    level: float = 0.95,
    samples: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point estimate, lower, upper) by the percentile bootstrap over questions."""
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.size, size=(samples, values.size))
    stats = np.array([statistic(values[row]) for row in draws]) if statistic is not np.mean else values[draws].mean(1)
    tail = (1 - level) / 2
    return float(statistic(values)), float(np.quantile(stats, tail)), float(np.quantile(stats, 1 - tail))


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], level: float = 0.95, samples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Confidence interval of mean(b) - mean(a) resampling the same questions for both systems."""
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    return bootstrap_ci(diff, level=level, samples=samples, seed=seed)


def approximate_randomization(
    a: Sequence[float], b: Sequence[float], samples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """(observed mean difference b - a, two-sided p-value) by randomly swapping each question's pair of scores."""
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.shape != second.shape:
        raise ValueError(f"paired test needs the same questions: {first.size} vs {second.size} scores")
    observed = float(second.mean() - first.mean()) if first.size else 0.0
    if first.size == 0:
        return observed, 1.0
    rng = np.random.default_rng(seed)
    diff = second - first
    signs = rng.choice((-1.0, 1.0), size=(samples, diff.size))
    shuffled = np.abs((signs * diff).mean(axis=1))
    # The +1 counts the observed assignment itself, so the p-value is never 0 (Davison & Hinkley 1997).
    p_value = (np.sum(shuffled >= abs(observed) - 1e-12) + 1) / (samples + 1)
    return observed, float(p_value)
