"""Indexing past one process: ``mmedrag index SOURCE --shard I/N`` embeds every N-th record into its own index
folder (one per GPU or machine), and ``mmedrag index --from-index S1 S2 ... --index OUT`` merges the shard folders
into one index without encoding anything: a new folder version appearing whole (records, vectors, image
fingerprints; the in-scope check fitted on the merged whole), or the shards' rows written into Milvus one shard
after another.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.errors import DataError
from mmedrag.indexing import IndexReport, copy_index, fit_scope_of
from mmedrag.progress import track
from mmedrag.retrieval.scope import DEFAULT_ALPHA
from mmedrag.stores.index import FolderIndex, view_id
from mmedrag.stores.locate import index_kind
from mmedrag.types import Record


def shard_records(records: Sequence[Record], shard: tuple[int, int]) -> list[Record]:
    """Every N-th record from the I-th (numbered from 1): shards of about equal size, each record in one."""
    number, count = shard
    return [record for position, record in enumerate(records) if position % count == number - 1]


def merge_indexes(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    store: str | dict[str, Any] | None = None,
    scope_alpha: float = DEFAULT_ALPHA,
    progress: bool = False,
) -> IndexReport:
    """Merge the index folders ``sources`` (one encoder, no record in two of them) into ``index_dir``: replaced by
    a new version holding them all, or, for a Milvus destination, rebuilt from them.

    Raises:
        DataError: a record id in two shards, or no source.
        EncoderMismatchError: shards built by different encoders.
    """
    if not sources:
        raise DataError("give the shard folders to merge")
    shards = [FolderIndex.load(source) for source in sources]
    seen: dict[str, str] = {}
    for source, shard in zip(sources, shards, strict=True):
        shard.check_encoder(shards[0].encoder)
        for record_id in shard.ids():
            if record_id in seen:
                raise DataError(f"record {record_id!r} is in {seen[record_id]} and {source}: shards must not overlap")
            seen[record_id] = str(source)
    if index_kind(index_dir, store) == "milvus":
        reports = [copy_index(s, index_dir, store, rebuild=n == 0, progress=progress) for n, s in enumerate(sources)]
        merged = reports[-1]
        merged.added, merged.text_vectors = sum(r.added for r in reports), sum(r.text_vectors for r in reports)
        merged.image_vectors = sum(r.image_vectors for r in reports)
        return merged
    return _merge_folders(shards, Path(index_dir), store, scope_alpha, progress)


def _merge_folders(
    shards: list[FolderIndex], path: Path, store: str | dict[str, Any] | None, alpha: float, progress: bool
) -> IndexReport:
    started = time.perf_counter()
    spec = store or shards[0].store_spec
    report = IndexReport(index=str(path), encoder=shards[0].encoder.name)
    order = _merged_order(shards)
    prints = [shard.records.image_fingerprints() for shard in shards]
    with FolderIndex.open_for_write(path, shards[0].encoder, spec, rebuild=True) as index:
        report.store = index.store_spec
        steps = range(0, len(order), MERGE_BATCH)
        for start in track(steps, "merging shards", total=len(steps), enabled=progress):
            _copy_batch(index, shards, prints, order[start : start + MERGE_BATCH], report)
        report.scope = fit_scope_of(index, alpha)
        index.save()
        report.total = index.records.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


MERGE_BATCH = 2048


def _merged_order(shards: list[FolderIndex]) -> list[tuple[int, Record]]:
    """(shard position, record) in the order one build would have added the records: shards made by ``--shard``
    are interleaved back (the I-th record of shard J was record (I-1)*N + J-1 of the source), so ties in a search
    break as they would; other folders follow one another."""
    listed = [list(shard.records.iter_records()) for shard in shards]
    numbers = [shard.info.get("shard") or [0, 0] for shard in shards]
    if sorted(number[0] for number in numbers) == list(range(1, len(shards) + 1)):
        keyed = [
            ((position, numbers[n][0]), n, record)
            for n, records in enumerate(listed)
            for position, record in enumerate(records)
        ]
        return [(n, record) for _, n, record in sorted(keyed, key=lambda item: item[0])]
    return [(n, record) for n, records in enumerate(listed) for record in records]


def _copy_batch(
    index: FolderIndex,
    shards: list[FolderIndex],
    prints: list[dict[str, list[tuple[str, int]]]],
    batch: list[tuple[int, Record]],
    report: IndexReport,
) -> None:
    """Records, vectors and image fingerprints of ``batch`` into ``index``, in the batch's order."""
    text: dict[str, np.ndarray] = {}
    images: dict[str, np.ndarray] = {}
    views_of: dict[str, list[tuple[str, int]]] = {}
    for n in sorted({n for n, _ in batch}):
        ids = [record.id for m, record in batch if m == n]
        views_of.update({rid: prints[n].get(rid, []) for rid in ids})
        text.update(shards[n].spaces["text"].vectors_of(ids))
        images.update(
            shards[n].spaces["image"].vectors_of([view_id(r, v) for r in ids for v in range(len(views_of[r]))])
        )
    records = [record for _, record in batch]
    text_ids = [r.id for r in records if r.id in text]
    if text_ids:
        index.spaces["text"].add(text_ids, np.stack([text[i] for i in text_ids]).astype(np.float32))
    view_ids = [view_id(r.id, v) for r in records for v in range(len(views_of[r.id])) if view_id(r.id, v) in images]
    if view_ids:
        index.spaces["image"].add(view_ids, np.stack([images[i] for i in view_ids]).astype(np.float32))
    index.records.upsert(records, {r.id: views_of[r.id] for r in records})
    report.added += len(records)
    report.text_vectors += len(text_ids)
    report.image_vectors += len(view_ids)
