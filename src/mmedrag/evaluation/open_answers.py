"""Open-ended VQA metrics: exact match and token recall, on normalised answers.

Normalisation (documented because papers differ): lower-case, drop punctuation and the articles a/an/the, collapse
whitespace. Token recall is the fraction of gold tokens found in the prediction (the usual open-VQA metric of
medical VQA papers, e.g. LLaVA-Med's "recall" on VQA-RAD/SLAKE open questions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_PUNCT = re.compile(r"[^\w\s]")
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str) -> list[str]:
    return [t for t in _PUNCT.sub(" ", text.lower()).split() if t not in _ARTICLES]


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_recall(prediction: str, gold: str) -> float:
    gold_tokens = normalize_answer(gold)
    if not gold_tokens:
        return float(not normalize_answer(prediction))
    predicted = set(normalize_answer(prediction))
    return sum(token in predicted for token in gold_tokens) / len(gold_tokens)


def open_metrics(predictions: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    if not predictions:
        return {"n": 0}
    n = len(predictions)
    return {
        "n": n,
        "exact_match": sum(map(exact_match, predictions, golds)) / n,
        "token_recall": sum(map(token_recall, predictions, golds)) / n,
    }
