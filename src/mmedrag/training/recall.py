"""Recall@k of a dual encoder in both directions on held-out pairs, under three protocols, with chance levels.

The text gallery holds each distinct held-out text once. ``pair``: an image's positive is its own text (the usual
CLIP evaluation; RULE/open_clip report it as R@1/5/10 both ways, method.md §2.3). ``case``: any text of the image's
case is a positive ("query one image of a case, find its text"), averaged over queries; ``case_mean``: the same, but
each case counts once however many images or texts it has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmedrag.training.retriever_pairs import Pair

KS: tuple[int, ...] = (1, 5, 10)
PROTOCOLS: tuple[str, ...] = ("pair", "case", "case_mean")
DIRECTIONS: tuple[str, ...] = ("image_to_text", "text_to_image")

Recall = dict[str, dict[str, dict[str, float]]]
"""``{protocol: {direction: {"R@k": value}}}``."""


@dataclass(frozen=True)
class Gallery:
    """Held-out queries and targets: one image per pair, each distinct text once."""

    image_paths: list[str]
    texts: list[str]
    image_groups: np.ndarray  # group code per image
    text_groups: np.ndarray  # group code per text (its first pair's group)
    own_text: np.ndarray  # index into ``texts`` of each image's text
    same_case: np.ndarray  # bool (images, texts): the text belongs to the image's group

    @classmethod
    def from_pairs(cls, pairs: Sequence[Pair]) -> Gallery:
        texts = list(dict.fromkeys(pair.text for pair in pairs))
        text_index = {text: i for i, text in enumerate(texts)}
        codes = {group: i for i, group in enumerate(dict.fromkeys(pair.group for pair in pairs))}
        image_groups = np.array([codes[pair.group] for pair in pairs], dtype=np.int64)
        text_groups = np.empty(len(texts), dtype=np.int64)
        same_case = np.zeros((len(pairs), len(texts)), dtype=bool)
        groups_of_text: dict[int, set[int]] = {}
        for pair in reversed(pairs):  # reversed so the first pair's group wins
            text_groups[text_index[pair.text]] = codes[pair.group]
            groups_of_text.setdefault(text_index[pair.text], set()).add(codes[pair.group])
        for j, groups in groups_of_text.items():
            same_case[:, j] = np.isin(image_groups, list(groups))
        own_text = np.array([text_index[pair.text] for pair in pairs], dtype=np.int64)
        return cls([p.image_path for p in pairs], texts, image_groups, text_groups, own_text, same_case)

    def positives(self, protocol: str) -> np.ndarray:
        if protocol == "pair":
            own = np.zeros_like(self.same_case)
            own[np.arange(len(self.own_text)), self.own_text] = True
            return own
        return self.same_case


def _ranks(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Rank of each query's best positive: the number of negatives scoring strictly higher (ties favour it)."""
    best = np.where(positive, scores, -np.inf).max(axis=1)
    return ((scores > best[:, None]) & ~positive).sum(axis=1)


def _average(hits: np.ndarray, groups: np.ndarray | None) -> float:
    if groups is None:
        return float(hits.mean())
    return float(np.mean([hits[groups == g].mean() for g in np.unique(groups)]))


def _one_way(
    scores: np.ndarray, positive: np.ndarray, groups: np.ndarray | None, ks: Sequence[int]
) -> dict[str, float]:
    ranks = _ranks(scores, positive)
    return {f"R@{k}": _average((ranks < k).astype(np.float64), groups) for k in ks}


def _chance_one_way(positive: np.ndarray, groups: np.ndarray | None, ks: Sequence[int]) -> dict[str, float]:
    """Expected recall@k of a random ranking: 1 - C(N-P, k) / C(N, k) for N candidates, P of them positive."""
    total = positive.shape[1]
    counts = positive.sum(axis=1)
    result = {}
    for k in ks:
        hits = np.array(
            [1.0 - math.comb(total - int(p), k) / math.comb(total, k) if k < total else 1.0 for p in counts]
        )
        result[f"R@{k}"] = _average(hits, groups)
    return result


def _by_protocol(gallery: Gallery, ks: Sequence[int], scores: np.ndarray | None) -> Recall:
    result: Recall = {}
    for protocol in PROTOCOLS:
        positive = gallery.positives(protocol)
        image_groups = gallery.image_groups if protocol == "case_mean" else None
        text_groups = gallery.text_groups if protocol == "case_mean" else None
        if scores is None:
            result[protocol] = {
                "image_to_text": _chance_one_way(positive, image_groups, ks),
                "text_to_image": _chance_one_way(positive.T, text_groups, ks),
            }
        else:
            result[protocol] = {
                "image_to_text": _one_way(scores, positive, image_groups, ks),
                "text_to_image": _one_way(scores.T, positive.T, text_groups, ks),
            }
    return result


def held_out_recall(
    gallery: Gallery, image_vectors: np.ndarray, text_vectors: np.ndarray, ks: Sequence[int] = KS
) -> Recall:
    """Recall@k for every protocol and direction; vectors are L2-normalised rows aligned with the gallery."""
    return _by_protocol(gallery, ks, np.asarray(image_vectors) @ np.asarray(text_vectors).T)


def chance_recall(gallery: Gallery, ks: Sequence[int] = KS) -> Recall:
    """What a random ranking scores on the same gallery, for every protocol and direction."""
    return _by_protocol(gallery, ks, None)


def mean_recall(recall: Recall, protocol: str = "pair") -> float:
    """The mean of R@1/5/10 over both directions: the one number that decides whether training helped."""
    values = [value for direction in DIRECTIONS for value in recall[protocol][direction].values()]
    return float(np.mean(values))


def round_recall(recall: Recall, digits: int = 4) -> Recall:
    return {
        p: {d: {k: round(v, digits) for k, v in ks.items()} for d, ks in dirs.items()} for p, dirs in recall.items()
    }
