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


def bootstrap_closed_ci(
    predictions: Sequence[str | None],
    golds: Sequence[str],
    majority: str,
    level: float = 0.95,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of accuracy, balanced accuracy, F1 ("yes" positive) and the majority
    baseline's accuracy, resampling questions (one draw serves all four, so they stay comparable).

    ``predictions`` hold "yes", "no" or None (an abstention, wrong for every metric); ``golds`` "yes" or "no".
    """
    if not golds:
        return {}
    said = np.array([1 if p == "yes" else 0 if p == "no" else -1 for p in predictions], dtype=np.int8)
    truth = np.array([g == "yes" for g in golds], dtype=bool)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, truth.size, size=(samples, truth.size))
    s, t = said[draws], truth[draws]
    tp, fp = ((s == 1) & t).sum(1), ((s == 1) & ~t).sum(1)
    tn, positives = ((s == 0) & ~t).sum(1), t.sum(1)
    negatives = truth.size - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        recalls = np.stack([tp / positives, tn / negatives])
        f1 = np.where(2 * tp + fp + (positives - tp) > 0, 2 * tp / (2 * tp + fp + (positives - tp)), 0.0)
    stats = {
        "accuracy": (tp + tn) / truth.size,
        "balanced_accuracy": np.nanmean(recalls, axis=0),
        "f1": f1,
        "majority_accuracy": (positives if majority == "yes" else negatives) / truth.size,
    }
    tail = (1 - level) / 2
    return {
        name: (float(np.nanquantile(values, tail)), float(np.nanquantile(values, 1 - tail)))
        for name, values in stats.items()
    }
