"""Answer-level confidence: map a generator's raw number (vote share, P(yes), token probability) and the evidence
grade to the probability that the answer is right, fitted on a validation split.

Two methods: ``isotonic`` (pool-adjacent-violators, one monotone map per evidence group, e.g. the tier that decided
(the query's own report, or similar cases' sentences), pooled over groups where a group has too few answers;
Zadrozny & Elkan, KDD 2002) and ``temperature`` (one temperature on the logit of the raw number,
Guo et al., ICML 2017). The result is saved as JSON beside the pipeline config and reported with its expected
calibration error (ECE, 10 equal-width bins, Naeini et al., AAAI 2015) on answers it was not fitted on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmedrag.config import CONFIDENCE_FILE
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json

Method = Literal["isotonic", "temperature"]
__all__ = ["CONFIDENCE_FILE", "ConfidenceCalibrator", "expected_calibration_error"]
MIN_PER_GROUP = 30  # fewer answers of a group than this: its map is the pooled one
_EPS = 1e-6


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE: the answer-weighted mean |accuracy - mean confidence| over equal-width confidence bins."""
    p = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    if p.size == 0:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / p.size)


def _isotonic(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Pool-adjacent-violators: knots (x, fitted y) of the non-decreasing least-squares fit of y on x; equal x
    values are pooled first, so every x maps to one value."""
    values, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=y).tolist()
    counts = np.bincount(inverse).astype(float).tolist()
    blocks: list[list[float]] = []  # [sum y, count, largest x]
    for total, count, top in zip(sums, counts, values.tolist(), strict=True):
        blocks.append([total, count, top])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], last[2]]
    return [b[2] for b in blocks], [b[0] / b[1] for b in blocks]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def _fit_temperature(raw: np.ndarray, correct: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood (golden-section search on log T)."""
    z = _logit(raw)

    def nll(log_t: float) -> float:
        q = np.clip(1.0 / (1.0 + np.exp(-z / math.exp(log_t))), _EPS, 1 - _EPS)
        return float(-(correct * np.log(q) + (1 - correct) * np.log(1 - q)).mean())

    low, high = math.log(0.05), math.log(50.0)
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


@dataclass(frozen=True)
class ConfidenceCalibrator:
    """A fitted map (evidence group, raw confidence) -> probability the answer is right.

    Example:
        >>> cal = ConfidenceCalibrator.fit(["supported"] * 40, [1.0] * 40, [True] * 30 + [False] * 10)
        >>> round(cal("supported", 1.0), 2)
        0.75
    """

    method: Method
    maps: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # group -> isotonic knots
    temperature: float = 1.0
    fitted_on: int = 0

    @classmethod
    def fit(
        cls,
        groups: Sequence[str],
        raw: Sequence[float | None],
        correct: Sequence[bool],
        method: Method = "isotonic",
    ) -> ConfidenceCalibrator:
        """Fit on answered questions (abstentions excluded by the caller); a missing raw number counts as 0.5."""
        if method not in ("isotonic", "temperature"):
            raise ConfigError(f"confidence calibration method={method!r}; use isotonic or temperature")
        x = np.asarray([0.5 if r is None else float(r) for r in raw], dtype=float)
        y = np.asarray(correct, dtype=float)
        if x.size < 10:
            raise ConfigError(f"{x.size} answered questions cannot calibrate confidence; give at least 10")
        if method == "temperature":
            return cls("temperature", temperature=_fit_temperature(x, y), fitted_on=int(x.size))
        labels = np.asarray(groups)
        maps = {"*": _isotonic(x, y)}
        for group in sorted(set(groups)):
            mask = labels == group
            if mask.sum() >= MIN_PER_GROUP:
                maps[group] = _isotonic(x[mask], y[mask])
        return cls("isotonic", maps=maps, fitted_on=int(x.size))

    def __call__(self, group: str, raw: float | None) -> float:
        value = 0.5 if raw is None else float(raw)
        if self.method == "temperature":
            return float(1.0 / (1.0 + math.exp(-float(_logit(np.asarray([value]))[0]) / self.temperature)))
        knots, fitted = self.maps.get(group) or self.maps["*"]
        return float(np.interp(value, knots, fitted))

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "temperature": self.temperature,
            "maps": {group: {"x": list(k), "y": list(v)} for group, (k, v) in self.maps.items()},
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfidenceCalibrator:
        maps = {group: (list(m["x"]), list(m["y"])) for group, m in (data.get("maps") or {}).items()}
        return cls(data["method"], maps, float(data.get("temperature", 1.0)), int(data.get("fitted_on", 0)))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> ConfidenceCalibrator:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: not a confidence calibration file ({exc}); refit with mmedrag calibrate"
            ) from exc
