"""Build a Milvus-backed index from records (encoding them) or from an index folder (copying its vectors).

The Milvus counterpart of :func:`mmedrag.indexing.build_index`: the same record checks and image policy, batches
written as they are encoded (a killed run resumes; unchanged records are never re-encoded), and the alias switch of
:mod:`mmedrag.stores.milvus_build` for first builds and rebuilds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from PIL import Image

from mmedrag.encoders.base import Encoder, fingerprint_of
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.images import dhash, pixel_sha256
from mmedrag.retrieval.scope import DEFAULT_ALPHA, SCOPE_KEY
from mmedrag.retrieval.scope_fit import fit_pushdown_scope, fit_summary, stats_test
from mmedrag.stores.index import FolderIndex, view_id
from mmedrag.stores.locate import index_kind
from mmedrag.stores.milvus import check_record
from mmedrag.stores.milvus_build import BuildCounts, Encoded, Loaded, open_any, resolve, write_batches
from mmedrag.stores.versions import writer_lock
from mmedrag.types import Record

# (record) -> its loaded images, or None when it must be skipped (mmedrag.indexing applies the image policy).
LoadViews = Callable[[Record], "list[Image.Image] | None"]


class Report(Protocol):
    """The fields of :class:`mmedrag.indexing.IndexReport` a Milvus build fills (indexing imports this module)."""

    added: int
    replaced: int
    skipped: int
    total: int
    text_vectors: int
    image_vectors: int
    seconds: float
    store: dict[str, Any]
    scope: dict[str, Any]
    errors: list[str]
    warnings: list[str]


R = TypeVar("R", bound=Report)
# The fit lives in the meta row, which holds at most 64 KiB (stores/milvus.py MAX_TEXT): fewer scores and references.
MILVUS_CALIBRATION, MILVUS_REFERENCE = 1000, 150


def _finish(report: R, counts: BuildCounts, index_dir: str | Path, started: float) -> R:
    report.added, report.replaced = counts.added, counts.replaced
    if counts.unchanged:
        report.warnings.append(f"{counts.unchanged} record(s) already stored unchanged; not re-encoded")
    index = open_any(index_dir)
    report.total, report.store = index.count(), index.store_spec
    report.skipped = len(report.errors)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def build_milvus_index(
    records: Sequence[Record],
    index_dir: str | Path,
    encoder: Encoder,
    report: R,
    load_views: LoadViews,
    store: str | dict[str, Any] | None = None,
    batch_size: int = 32,
    rebuild: bool = False,
    progress: bool = False,
    scope_alpha: float = DEFAULT_ALPHA,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> R:
    """Embed ``records`` into the Milvus index that ``store`` names (or ``index_dir``'s pointer names).

    Called by :func:`mmedrag.indexing.build_index`, which passes its report and its image loading (the policy).

    Raises:
        DataError: no record could be indexed.
        EncoderMismatchError: updating an index that another encoder built.
    """
    started = time.perf_counter()
    if not records:
        raise DataError(f"no records to index into {index_dir}; check the source and its format")
    embed_images = "image" in encoder.modalities

    def load(batch: list[Record]) -> Loaded:
        kept: list[Record] = []
        views: dict[str, list[Any]] = {}
        prints: dict[str, list[tuple[str, int]]] = {}
        for record in batch:
            try:
                check_record(record)
            except DataError as exc:
                report.errors.append(str(exc))
                continue
            loaded = load_views(record)
            if loaded is None:  # the image policy or the skip rule of mmedrag.indexing said no (and why)
                continue
            kept.append(record)
            views[record.id] = loaded
            prints[record.id] = [(pixel_sha256(im), dhash(im)) for im in loaded]
        return kept, views, prints

    def encode(fresh: list[Record], views: dict[str, list[Any]]) -> Encoded:
        with_text = [r for r in fresh if r.text.strip()]
        text = dict(zip([r.id for r in with_text], encoder.encode_texts([r.text for r in with_text]), strict=True))
        flat: list[tuple[str, Image.Image]] = [(r.id, im) for r in fresh for im in views[r.id]] if embed_images else []
        vectors = encoder.encode_images([im for _, im in flat]) if flat else np.zeros((0, encoder.dim))
        by_record: dict[str, list[np.ndarray | None]] = {}
        for (rid, _), vector in zip(flat, vectors, strict=True):
            by_record.setdefault(rid, []).append(vector)
        report.text_vectors += len(text)
        report.image_vectors += len(flat)
        return text, by_record

    counts = write_batches(
        index_dir, store, fingerprint_of(encoder), records, load, encode, batch_size, rebuild, progress, wait, on_wait
    )
    if counts.added + counts.replaced + counts.unchanged == 0:
        raise DataError(f"none of the {len(records)} records could be indexed; first error: {report.errors[0]}")
    report.scope = refit_milvus_scope(index_dir, scope_alpha)
    return _finish(report, counts, index_dir, started)


def refit_milvus_scope(index_dir: str | Path, alpha: float = DEFAULT_ALPHA) -> dict[str, Any]:
    """Fit the in-scope check on a Milvus index's stored image vectors and keep it in the index's meta row."""
    index = open_any(index_dir)
    model = fit_pushdown_scope(index, alpha, limit=MILVUS_CALIBRATION, extra=stats_test(index.get, MILVUS_REFERENCE))
    index.write_meta(**{SCOPE_KEY: None if model is None else model.to_dict()})
    return fit_summary(model)


def copy_index_to_milvus(
    source: str | Path,
    index_dir: str | Path,
    report: R,
    store: str | dict[str, Any] | None = None,
    batch_size: int = 512,
    rebuild: bool = False,
    progress: bool = False,
) -> R:
    """Copy an index folder's records, vectors and image fingerprints into Milvus, without encoding anything."""
    started = time.perf_counter()
    if index_kind(index_dir, store) != "milvus":
        raise ConfigError("copying an index folder needs a Milvus destination: give --store milvus:URI")
    resolve(index_dir, store)  # fail on a bad spec before reading anything
    folder = FolderIndex.load(source)
    records = list(folder.records.iter_records())
    if not records:
        raise DataError(f"index {source} holds no records to copy")
    fingerprints = folder.records.image_fingerprints()
    text_of, image_of = folder.spaces["text"].vectors_of, folder.spaces["image"].vectors_of

    def load(batch: list[Record]) -> Loaded:
        return batch, {}, {r.id: fingerprints.get(r.id, []) for r in batch}

    def encode(fresh: list[Record], _views: dict[str, list[Any]]) -> Encoded:
        text = text_of([r.id for r in fresh])
        view_ids = [view_id(r.id, n) for r in fresh for n in range(len(fingerprints.get(r.id, [])))]
        found = image_of(view_ids)
        images = {r.id: [found.get(view_id(r.id, n)) for n in range(len(fingerprints.get(r.id, [])))] for r in fresh}
        report.text_vectors += len(text)
        report.image_vectors += len(found)
        return text, images

    counts = write_batches(index_dir, store, folder.encoder, records, load, encode, batch_size, rebuild, progress)
    report.scope = refit_milvus_scope(index_dir)  # fitted again: the meta row keeps fewer scores than a folder
    return _finish(report, counts, index_dir, started)


def delete_from_milvus(
    index_dir: str | Path, ids: Sequence[str], wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> int:
    """Remove records (and their image rows) by id, under the pointer folder's writer lock; returns how many existed."""
    if str(index_dir).startswith("milvus:"):
        return open_any(index_dir, wait, on_wait).delete(list(ids))
    with writer_lock(Path(index_dir), wait=wait, on_wait=on_wait):
        return open_any(index_dir, wait, on_wait).delete(list(ids))
