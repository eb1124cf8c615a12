"""The reference yes/no scorer, reproduced for comparisons with published numbers (method.md §8.1).

MMed-RAG and RULE ship no test scorer; both credit CARES, whose ``src/eval/eval_yesno.py`` (richard-peng-xia/CARES,
commit aea2beae) is the only yes/no scorer of the three code bases. Its reading of a text, answer or gold label alike:
keep what precedes the first ".", delete ",", split on single spaces; the words "No", "no" or "not" (case-sensitive,
exact) make it "no", anything else is "yes". So "unknown" and "None." are yes, "NO" is yes, "Not sure" is no, and
every question is scored (there is no abstention and no unparsable gold label). Accuracy, precision, recall and F1
are computed with "yes" positive from the four counts, as there. Where the reference would divide by zero (no
"yes" predicted, or none in the gold labels) the value here is None, where the reference script stops with an error.
Fixtures computed once by running the reference script guard this module (tests/unit/evaluation/test_oracles.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmedrag.evaluation.closed import YesNo


def parse_cares(text: str) -> YesNo:
    """The reference scorer's reading of one text (see the module docstring): never None."""
    first_sentence = text.split(".", 1)[0]
    words = first_sentence.replace(",", "").split(" ")
    return "no" if {"No", "no", "not"}.intersection(words) else "yes"


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def cares_metrics(answers: Sequence[str], golds: Sequence[str]) -> dict[str, Any]:
    """The reference scorer's counts and metrics over raw answer and gold-label texts, every question counted."""
    predicted = [parse_cares(a) for a in answers]
    labels = [parse_cares(g) for g in golds]
    pairs = list(zip(predicted, labels, strict=True))
    tp = sum(p == "yes" and g == "yes" for p, g in pairs)
    fp = sum(p == "yes" and g == "no" for p, g in pairs)
    tn = sum(p == "no" and g == "no" for p, g in pairs)
    fn = sum(p == "no" and g == "yes" for p, g in pairs)
    precision, recall, specificity = _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "n": len(pairs),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "accuracy": _ratio(tp + tn, len(pairs)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        # Not printed by the reference script; from the same counts, for the table's balanced-accuracy column.
        "balanced_accuracy": sum(r for r in (recall, specificity) if r is not None)
        / max(1, (recall is not None) + (specificity is not None)),
    }
