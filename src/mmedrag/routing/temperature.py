"""Temperature scaling and calibration metrics for router probabilities, in numpy only.

Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks", §4.2) divides the logits by one
scalar fitted to minimise held-out NLL; it changes confidence, never the argmax. Nothing here trains a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_MIN_TEMPERATURE, _MAX_TEMPERATURE = 1e-3, 1e3
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` as float64, stable for large logits."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def nll(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (probabilities clipped at 1e-12)."""
    rows = np.arange(len(probabilities))
    return float(-np.log(np.clip(probabilities[rows, np.asarray(labels)], 1e-12, 1.0)).mean())


def fit_temperature(
    logits: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    bounds: tuple[float, float] = (_MIN_TEMPERATURE, _MAX_TEMPERATURE),
    iterations: int = 60,
) -> float:
    """The temperature T in ``bounds`` minimising the NLL of ``softmax(logits / T)`` on labelled data.

    NLL is convex in the inverse temperature (a log-sum-exp minus a linear term), so a golden-section search over
    log T finds the minimum without scipy. Bounds matter on small held-out sets: when every held-out example is
    right, NLL keeps falling as T -> 0 and an unbounded fit would make every probability 1, disabling abstention.
    An empty set or a single class returns 1.0 (no evidence).
    """
    labels = np.asarray(labels)
    if len(labels) == 0 or len(np.unique(labels)) < 2:
        return 1.0

    def loss(log_t: float) -> float:
        return nll(softmax(logits, math.exp(log_t)), labels)

    low, high = math.log(bounds[0]), math.log(bounds[1])
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(iterations):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - _GOLDEN * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + _GOLDEN * (high - low)
            loss_b = loss(b)
    best = (low + high) / 2.0
    # Never return something worse than leaving the logits alone.
    inside_one = bounds[0] <= 1.0 <= bounds[1]
    return math.exp(best) if not inside_one or loss(best) <= loss(0.0) else 1.0


def expected_calibration_error(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width confidence bins (Guo et al. 2017, Eq. 3): sum over bins of |acc - conf| * share."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return 0.0
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += abs(float(correct[inside].mean()) - float(confidence[inside].mean())) * float(inside.mean())
    return total


def calibration_report(
    logits: np.ndarray, labels: np.ndarray, classes: Sequence[str], bounds: tuple[float, float]
) -> dict[str, Any]:
    """Fit the temperature on the held-out part and measure accuracy, NLL and ECE before and after."""
    if len(labels) == 0:
        return {
            "temperature": 1.0, "accuracy": None, "per_class_accuracy": {},
            "nll_before": None, "nll_after": None, "ece_before": None, "ece_after": None,
        }  # fmt: skip
    temperature = fit_temperature(logits, labels, bounds)
    before, after = softmax(logits), softmax(logits, temperature)
    predicted = after.argmax(axis=1)
    per_class = {
        classes[label]: round(float((predicted[labels == label] == label).mean()), 4) for label in np.unique(labels)
    }
    return {
        "temperature": round(temperature, 6),
        "accuracy": round(float((predicted == labels).mean()), 4),
        "per_class_accuracy": per_class,
        "nll_before": round(nll(before, labels), 4),
        "nll_after": round(nll(after, labels), 4) + 0.0,  # + 0.0 turns -0.0 into 0.0
        "ece_before": round(expected_calibration_error(before, labels), 4),
        "ece_after": round(expected_calibration_error(after, labels), 4) + 0.0,
    }
