"""Retrieval metrics when relevance is known: recall@k, MRR and nDCG@k (binary relevance), pure functions."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1 if any relevant id is in the top k (the retrieval-paper convention for one query), else 0."""
    return float(any(item in relevant for item in ranked[:k])) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str]) -> float:
    return next((1.0 / rank for rank, item in enumerate(ranked, start=1) if item in relevant), 0.0)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    gains = sum(1.0 / math.log2(rank + 1) for rank, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return gains / ideal if ideal else 0.0


def retrieval_metrics(
    rankings: Sequence[Sequence[str]], relevants: Sequence[Collection[str]], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Mean metrics over queries that have at least one relevant item."""
    pairs = [(r, rel) for r, rel in zip(rankings, relevants, strict=True) if rel]
    if not pairs:
        return {"n": 0}
    n = len(pairs)
    metrics: dict[str, float] = {"n": n, "mrr": sum(reciprocal_rank(r, rel) for r, rel in pairs) / n}
    for k in ks:
        metrics[f"recall@{k}"] = sum(recall_at_k(r, rel, k) for r, rel in pairs) / n
        metrics[f"ndcg@{k}"] = sum(ndcg_at_k(r, rel, k) for r, rel in pairs) / n
    return metrics
