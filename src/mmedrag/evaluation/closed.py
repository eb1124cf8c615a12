"""Closed (yes/no) answers: a documented parser and the metrics the reference papers report.

Parser (tested on the answer styles of the MMed-RAG IU-Xray test file, e.g. "Yes.", "No (since ...)", "- No", and on
the adversarial table in tests/unit/evaluation/test_closed.py):
1. strip leading whitespace, dashes, bullets and quotes, lower-case;
2. a contradiction at the start ("yes and no", "yes/no", "yes or no") or "no answer ..." is unparsable;
3. a leading answer decides: "yes", "yeah", "yep", "present", "positive"; "no", "nope", "none", "negative",
   "absent", "not seen/present/visible/identified/...", optionally after "definitely", "probably", "certainly",
   "likely" ("Definitely not." is no; "no," "no." "no (" all count);
4. otherwise a later segment that is only an answer decides, e.g. after an echoed question ("Cardiomegaly? No.",
   "2. Is there an effusion? - Yes") or after a remark ("The lungs are clear. No."); two such answers that disagree
   are unparsable;
5. otherwise the first sentence that is not a question is read: exactly one of the words "yes"/"no" decides;
6. anything else (including "unknown", "not sure", "not mentioned") is an abstention (None).
This is stricter than the reference mining rule (method.md §5.1.3: a case-sensitive "No"/"no"/"not" among the
space-separated words of the first sentence means no), which turns hedged or unrelated answers into confident
"no"s; :mod:`mmedrag.evaluation.cares` reproduces that reference scorer exactly for comparisons with papers.

Metrics treat "yes" as the positive class (method.md §8.1); abstentions count as wrong for accuracy, balanced
accuracy and recall, and are reported separately. Every table puts the *majority-answer baseline* beside them: the
constant answer that is most frequent in the evaluated questions (on IU-Xray "always no" is 73% accurate), with
balanced accuracy 0.5 and, when that answer is "no", F1 0. Balanced accuracy is the mean of the recalls of "yes"
and of "no" (Brodersen et al., ICPR 2010), so a constant answer scores 0.5 whatever the class balance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

YesNo = Literal["yes", "no"]

_LEAD = re.compile(r"^[\s\-\u2013\u2014*\u2022\"'`>:]+")
_HEDGE = r"(?:(?:definitely|probably|certainly|most likely|likely|absolutely)\s+)"
_NOT_SEEN = r"not\s+(?:seen|present|visible|identified|evident|detected|observed|appreciated|demonstrated)"
# A bare leading "not" starts "not sure" or "not mentioned": it answers only after a hedge ("Probably not.").
_ANSWER = re.compile(
    rf"^{_HEDGE}?(?P<yes>yes|yeah|yep|present|positive)\b"
    rf"|^{_HEDGE}?(?P<no>no|nope|none|negative|absent|{_NOT_SEEN})\b"
    rf"|^{_HEDGE}(?P<hedged_no>not)\b"
)
# Contradictions ("yes and no", "yes/no") and refusals that start like an answer ("No answer can be given").
_NOT_AN_ANSWER = re.compile(
    r"^(?:both\s+)?(?:yes\s*(?:and|or|/|,|-)\s*no|no\s*(?:and|or|/|,|-)\s*yes)\b|^no\s+answer\b"
)
_SEGMENT = re.compile(r"[^.!?\n]*[.!?\n]?")
_ONLY_PUNCTUATION = re.compile(r"^[\s.!?,;:)\]\"']*$")


def _leading(cleaned: str) -> tuple[YesNo, int] | None:
    """The answer an answer-shaped start gives (rule 3) and where that answer ends, or None."""
    match = _ANSWER.match(cleaned)
    if match is None:
        return None
    return ("yes" if match.group("yes") else "no"), match.end()


def _bare(segment: str) -> YesNo | None:
    """The answer of a segment that holds only an answer, e.g. " - No." or "Yes (mild)." (rule 4)."""
    cleaned = _LEAD.sub("", segment).lower()
    found = _leading(cleaned)
    if found is None:
        return None
    rest = cleaned[found[1] :]
    return found[0] if _ONLY_PUNCTUATION.match(rest) or rest.lstrip().startswith("(") else None


def parse_yes_no(text: str | None) -> YesNo | None:
    """``"yes"``, ``"no"`` or None (abstention) for a free-text answer; see the module docstring for the rule."""
    if not text:
        return None
    cleaned = _LEAD.sub("", text).lower()
    if _NOT_AN_ANSWER.match(cleaned):
        return None
    leading = _leading(cleaned)
    if leading is not None:
        return leading[0]
    segments = [s for s in _SEGMENT.findall(cleaned) if s.strip()]
    later = {label for s in segments[1:] if (label := _bare(s)) is not None}
    if later:
        return later.pop() if len(later) == 1 else None
    statements = [s for s in segments if not s.rstrip().endswith("?")]
    words = set(re.findall(r"\b(yes|no)\b", statements[0] if statements else ""))
    if len(words) == 1:
        return "yes" if words.pop() == "yes" else "no"
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


def majority_answer(golds: Sequence[YesNo | None]) -> YesNo:
    """The most frequent gold label ("no" on a tie): the constant answer of the majority baseline."""
    return "yes" if sum(g == "yes" for g in golds) > sum(g == "no" for g in golds) else "no"


def closed_metrics(predictions: Sequence[YesNo | None], golds: Sequence[YesNo | None]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, precision, recall, F1 ("yes" positive), abstention rate and the majority
    baseline over questions with a gold label."""
    pairs = [(p, g) for p, g in zip(predictions, golds, strict=True) if g is not None]
    n = len(pairs)
    if n == 0:
        return {"n": 0}
    counts = confusion([p for p, _ in pairs], [g for _, g in pairs])
    answered = [(p, g) for p, g in pairs if p is not None]
    majority = majority_answer([g for _, g in pairs])
    baseline = confusion([majority] * n, [g for _, g in pairs])
    return {
        "n": n,
        "accuracy": counts.accuracy,
        "balanced_accuracy": counts.balanced_accuracy,
        "answered_accuracy": (sum(p == g for p, g in answered) / len(answered)) if answered else 0.0,
        "precision": counts.precision,
        "recall": counts.recall,
        "f1": counts.f1,
        "abstention_rate": 1 - len(answered) / n,
        "majority_answer": majority,
        "majority_accuracy": baseline.accuracy,
        "majority_balanced_accuracy": baseline.balanced_accuracy,
        "majority_f1": baseline.f1,
    }


@dataclass(frozen=True)
class Confusion:
    """Counts of a yes/no run ("yes" positive; an abstention is a wrong answer of neither class)."""

    tp: int
    fp: int
    tn: int
    positives: int
    negatives: int

    @property
    def accuracy(self) -> float:
        total = self.positives + self.negatives
        return (self.tp + self.tn) / total if total else 0.0

    @property
    def balanced_accuracy(self) -> float:
        recalls = [hits / count for hits, count in ((self.tp, self.positives), (self.tn, self.negatives)) if count]
        return sum(recalls) / len(recalls) if recalls else 0.0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.positives if self.positives else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + (self.positives - self.tp)
        return 2 * self.tp / denominator if denominator else 0.0


def confusion(predictions: Sequence[YesNo | None], golds: Sequence[YesNo]) -> Confusion:
    """The confusion counts of predictions against gold labels (all golds given)."""
    pairs = list(zip(predictions, golds, strict=True))
    return Confusion(
        tp=sum(p == "yes" and g == "yes" for p, g in pairs),
        fp=sum(p == "yes" and g == "no" for p, g in pairs),
        tn=sum(p == "no" and g == "no" for p, g in pairs),
        positives=sum(g == "yes" for _, g in pairs),
        negatives=sum(g == "no" for _, g in pairs),
    )
