"""Closed (yes/no) answers: a documented parser and the metrics the reference papers report.

Parser (tested on the answer styles of the MMed-RAG IU-Xray test file, e.g. "Yes.", "No (since ...)", "- No"):
1. strip leading whitespace, dashes, bullets and quotes, lower-case;
2. a leading "yes" or "no" word decides ("no," "no." "no (" all count);
3. otherwise the first sentence is read: exactly one of the words "yes"/"no" decides;
4. anything else (including "unknown") is an abstention (None).
This is stricter than the reference mining rule (method.md §5.1.3: any "no"/"not" in the first sentence means no),
which turns hedged or unrelated answers into confident "no"s.

Metrics treat "yes" as the positive class (method.md §8.1); abstentions count as wrong for accuracy and are
reported separately.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

YesNo = Literal["yes", "no"]

_LEAD = re.compile(r"^[\s\-\u2013\u2014*\u2022\"'`>:]+")
_FIRST_WORD = re.compile(r"^(yes|no)\b")
_SENTENCE_END = re.compile(r"[.!?\n]")


def parse_yes_no(text: str | None) -> YesNo | None:
    """``"yes"``, ``"no"`` or None (abstention) for a free-text answer; see the module docstring for the rule."""
    if not text:
        return None
    cleaned = _LEAD.sub("", text).lower()
    match = _FIRST_WORD.match(cleaned)
    if match:
        return "yes" if match.group(1) == "yes" else "no"
    first = _SENTENCE_END.split(cleaned, maxsplit=1)[0]
    found = set(re.findall(r"\b(yes|no)\b", first))
    if len(found) == 1:
        return "yes" if found.pop() == "yes" else "no"
    return None


def auroc(yes_probabilities: Sequence[float], golds: Sequence[YesNo]) -> float | None:
    """Area under the ROC curve of P(yes) against the gold labels (Mann-Whitney U with tie correction).

    None when only one class is present. Computed from probabilities, never from hard labels: with 0/1 predictions
    AUROC collapses to balanced accuracy, one of the reference evaluation's flaws (method.md §8.1).
    """
    positives = [p for p, g in zip(yes_probabilities, golds, strict=True) if g == "yes"]
    negatives = [p for p, g in zip(yes_probabilities, golds, strict=True) if g == "no"]
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        wins += sum(1.0 if p > q else 0.5 if p == q else 0.0 for q in negatives)
    return wins / (len(positives) * len(negatives))


def closed_metrics(predictions: Sequence[YesNo | None], golds: Sequence[YesNo | None]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 ("yes" positive) and abstention rate over questions with a gold label."""
    pairs = [(p, g) for p, g in zip(predictions, golds, strict=True) if g is not None]
    n = len(pairs)
    if n == 0:
        return {"n": 0}
    correct = sum(p == g for p, g in pairs)
    answered = [(p, g) for p, g in pairs if p is not None]
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    fn = sum(p != "yes" and g == "yes" for p, g in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "n": n,
        "accuracy": correct / n,
        "answered_accuracy": (sum(p == g for p, g in answered) / len(answered)) if answered else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "abstention_rate": 1 - len(answered) / n,
    }
