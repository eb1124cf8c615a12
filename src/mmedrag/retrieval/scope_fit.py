"""Fit the in-scope check of :mod:`mmedrag.retrieval.scope` on a built index (folder or Milvus), and read it back.

The embedding test scores each sampled knowledge-base image view by its nearest-neighbour similarity in the index's
``image`` space among the other records, leaving out the view's own record, the records of its study and patient,
pixel-identical copies and dHash near copies (the leakage guard's exclusions, method.md §11 item 14): a query image
is never its own neighbour either, so calibration and query see the same distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from mmedrag.errors import MmedragError
from mmedrag.io.images import load_image
from mmedrag.retrieval.image_stats import IMAGE_STATS, MAX_REFERENCE, fit_stats_test, image_statistics, stats_scores
from mmedrag.retrieval.near_duplicates import DEFAULT_BITS
from mmedrag.retrieval.scope import (
    DEFAULT_ALPHA,
    MAX_CALIBRATION,
    SCOPE_KEY,
    ScopeModel,
    ScopeTest,
    check_alpha,
    fitted_info,
    leave_one_out_scores,
    sample_rows,
)
from mmedrag.stores.index import FolderIndex, record_of_view
from mmedrag.stores.locate import KnowledgeIndex
from mmedrag.types import Exclusion, Record

if TYPE_CHECKING:
    from mmedrag.stores.milvus import MilvusIndex

EMBEDDING = "embedding"

# (view ids sampled for calibration) -> extra fitted tests (the image-statistics test), keyed by name
ExtraTests = Callable[[Sequence[str]], dict[str, ScopeTest]]


def scope_of(index: KnowledgeIndex) -> ScopeModel | None:
    """The fit saved with ``index``; None when it has none (built before the check existed, or text-only)."""
    return ScopeModel.from_dict(index.info.get(SCOPE_KEY))


def scope_scores(nearest: Sequence[float], images: Sequence[Image.Image], model: ScopeModel) -> list[dict[str, float]]:
    """Each query image's score for every test of ``model``: ``nearest``, its nearest stored image's similarity
    (searched with no exclusions: a query that is a knowledge-base image is in scope; -1 for an empty index), and
    the image-statistics score when that test is fitted."""
    scores = [{EMBEDDING: float(value)} for value in nearest]
    if IMAGE_STATS in model.tests:
        for row, value in zip(scores, stats_scores(model.tests[IMAGE_STATS], images), strict=True):
            row[IMAGE_STATS] = value
    return scores


def fit_folder_scope(
    index: FolderIndex,
    alpha: float = DEFAULT_ALPHA,
    limit: int = MAX_CALIBRATION,
    seed: int = 0,
    near_bits: int = DEFAULT_BITS,
    extra: ExtraTests | None = None,
) -> ScopeModel | None:
    """Fit the check on an index folder's image space (in memory: call before :meth:`FolderIndex.save`).

    Returns None when the index holds no image vectors (a text-only knowledge base has nothing to compare with).
    """
    check_alpha(alpha)
    space = index.spaces["image"]
    every = sorted(space.ids())  # the same sample whatever order the vectors were added in (merged shards)
    if not every:
        return None
    chosen = [every[row] for row in sample_rows(len(every), limit, seed)]
    found = space.vectors_of(chosen)
    chosen = [view for view in chosen if view in found]
    vectors = np.stack([found[view] for view in chosen]).astype(np.float32)
    prints = index.records.image_fingerprints()
    records = index.records.get(sorted({record_of_view(view) for view in chosen}))
    pairs = index.records.dhashes()
    owners = [rid for rid, _ in pairs]
    hashes = np.array([value for _, value in pairs], dtype=np.uint64)

    def excluded(row: int) -> set[str]:
        record_id, _, number = chosen[row].rpartition("#")
        record = records.get(record_id)
        views = prints.get(record_id, [])
        sha, probe = views[int(number)] if int(number) < len(views) else ("", None)
        skip = {record_id}
        if record is not None:
            skip |= index.records.related_ids(record.patient_id, record.study_id, [sha] if sha else [])
        if probe is not None and len(hashes):
            xor = hashes ^ np.uint64(probe)
            bits = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            skip |= {owners[i] for i in np.flatnonzero(bits <= near_bits)}
        return skip

    def search(rows: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        return [[(record_of_view(view), score) for view, score in hits] for hits in space.search(rows, k)]

    scores = leave_one_out_scores(vectors, search, excluded, space.count())
    return _model(alpha, chosen, scores, len(every), index.encoder.name, extra)


def fit_pushdown_scope(
    index: MilvusIndex,
    alpha: float = DEFAULT_ALPHA,
    limit: int = MAX_CALIBRATION,
    seed: int = 0,
    near_bits: int = DEFAULT_BITS,
    extra: ExtraTests | None = None,
) -> ScopeModel | None:
    """Fit the check on a Milvus index: the same leave-one-out scores, with the exclusions evaluated by Milvus."""
    check_alpha(alpha)
    every = list(index.iter_rows('kind == "image" and has_vector == true', ["pk", "sha256", "dhash"]))
    if not every:
        return None
    shas = [str(row["sha256"]) for row in every]
    views_of: dict[str, set[str]] = {}  # record id -> the pixel hashes of all its views (it is never its neighbour)
    for row, sha in zip(every, shas, strict=True):
        views_of.setdefault(record_of_view(str(row["pk"])[2:]), set()).add(sha)
    hashes = np.array([int(row["dhash"]) % (1 << 64) for row in every], dtype=np.uint64)
    chosen = [str(every[row]["pk"]) for row in sample_rows(len(every), limit, seed)]
    fields = ["pk", "vector", "patient_id", "study_id", "sha256", "dhash"]
    by_pk = {str(row["pk"]): row for row in index.rows(chosen, fields)}
    rows = [by_pk[pk] for pk in chosen if pk in by_pk]
    vectors = np.asarray([row["vector"] for row in rows], dtype=np.float32)
    # Near copies are found here, among every stored hash, and excluded by their pixel hashes: Milvus' own band
    # search stops at 7 bits, the folder fit (and the retriever's guard) look as far as DEFAULT_BITS.
    guards = []
    for row in rows:
        xor = hashes ^ np.uint64(int(row["dhash"]) % (1 << 64))
        near = np.flatnonzero(np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1) <= near_bits)
        own = views_of.get(record_of_view(str(row["pk"])[2:]), set())
        copies = tuple(sorted(({row["sha256"], *own} | {shas[i] for i in near}) - {""}))
        guards.append(Exclusion(row["patient_id"] or None, row["study_id"] or None, copies))
    found = index.search_records(vectors, "image", 1, exclusions=guards)
    scores = np.array([hits[0][1] if hits else np.nan for hits in found], dtype=np.float64)
    views = [str(row["pk"])[2:] for row in rows]  # i/<record>#<n> -> <record>#<n>
    return _model(alpha, views, scores, index.count(), index.encoder.name, extra)


def stats_test(get_records: Callable[[list[str]], dict[str, Record]], reference: int = MAX_REFERENCE) -> ExtraTests:
    """The image-statistics test (:mod:`mmedrag.retrieval.image_stats`) fitted on the calibration views' images, read
    again from the records' image paths (unreadable ones are left out)."""

    def extra(views: Sequence[str]) -> dict[str, ScopeTest]:
        records = get_records(sorted({record_of_view(view) for view in views}))
        features, groups = [], []
        for view in views:
            record_id, _, number = view.rpartition("#")
            record = records.get(record_id)
            if record is None or int(number) >= len(record.image_paths):
                continue
            try:
                image = load_image(record.image_paths[int(number)], max_side=512)
            except MmedragError:
                continue
            features.append(image_statistics(image))
            groups.append(record.patient_id or record.study_id or record_id)  # never its own patient's neighbour
        test = fit_stats_test(np.stack(features), groups, limit=reference) if features else None
        return {IMAGE_STATS: test} if test is not None else {}

    return extra


def _model(
    alpha: float, views: list[str], scores: np.ndarray, images: int, encoder: str, extra: ExtraTests | None
) -> ScopeModel | None:
    kept = np.isfinite(scores)
    if not kept.any():
        return None
    tests = {EMBEDDING: ScopeTest(EMBEDDING, np.sort(scores[kept]), {"score": "nearest-neighbour cosine similarity"})}
    if extra is not None:
        tests |= extra([view for view, ok in zip(views, kept, strict=True) if ok])
    info = fitted_info(images, int(kept.sum()), int((~kept).sum()), encoder)
    return ScopeModel(alpha, tests, info)


def fit_summary(model: ScopeModel | None) -> dict[str, Any]:
    """What `mmedrag index` reports about the fit: alpha, images scored and each test's threshold."""
    if model is None:
        return {"fitted": False}
    share = model.alpha / len(model.tests)
    thresholds = {name: test.result(float("inf"), share)["threshold"] for name, test in model.tests.items()}
    return {"fitted": True, "alpha": model.alpha, "scored": model.info.get("scored"), "thresholds": thresholds}


__all__ = ["EMBEDDING", "fit_folder_scope", "fit_pushdown_scope", "fit_summary", "scope_of"]
