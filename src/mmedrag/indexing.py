"""Build and update an index folder from records: load images, embed, store, save atomically.

One bad record (missing or corrupt image, nothing to embed) is skipped with a one-line error and counted; the rest
are indexed, and the previous version of the index stays live until the new one is completely written.

Duplicate ids follow ``DUPLICATE_ID_POLICY`` (io/manifest.py): within one run the first record with an id is indexed
and every later one is an error naming the id; across runs, indexing an id the index holds replaces that record.

Writers serialise: the index's writer lock is held from loading the live version to saving the new one, so two
concurrent runs never lose each other's records; the second waits (or fails at once with ``wait=False``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from mmedrag.encoders.base import Encoder, fingerprint_of
from mmedrag.errors import DataError, ImageError
from mmedrag.io.images import decode_side, dhash, load_image, pixel_sha256
from mmedrag.io.manifest import duplicate_id_message
from mmedrag.progress import batches, track
from mmedrag.retrieval.scope import DEFAULT_ALPHA, SCOPE_KEY
from mmedrag.retrieval.scope_fit import fit_folder_scope, fit_summary, stats_test
from mmedrag.stores.base import default_store_spec
from mmedrag.stores.index import FolderIndex, view_id
from mmedrag.types import Record

ImagePolicy = Literal["require", "optional", "ignore"]


@dataclass
class IndexReport:
    """What :func:`build_index` did."""

    index: str
    added: int = 0
    replaced: int = 0
    skipped: int = 0
    total: int = 0
    text_vectors: int = 0
    image_vectors: int = 0
    seconds: float = 0.0
    encoder: str = ""
    store: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _load_views(record: Record, policy: ImagePolicy, report: IndexReport, encoder: Encoder) -> list[Image.Image] | None:
    """The record's images, downscaled as they decode (never a batch of full-size scans), or None when the record
    must be skipped (its error is already reported): the one skip rule of both builders (folder and Milvus)."""
    images: list[Image.Image] = []
    for path in record.image_paths if policy != "ignore" else ():
        try:
            images.append(load_image(path, max_side=decode_side(encoder)))
        except ImageError as exc:
            if policy == "require":
                report.errors.append(f"record {record.id}: {exc}")
                return None
            report.warnings.append(f"record {record.id}: {exc}; indexed without this image")
    if not record.text.strip() and not (images and "image" in encoder.modalities):
        report.errors.append(f"record {record.id}: no text and no readable image to embed; skipped")
        return None
    return images


def _first_of_each_id(records: Sequence[Record], report: IndexReport) -> list[Record]:
    """DUPLICATE_ID_POLICY (io/manifest.py): the first record with an id is indexed, each later one is an error."""
    first: dict[str, int] = {}
    kept: list[Record] = []
    for number, record in enumerate(records, start=1):
        if record.id in first:
            message = duplicate_id_message(record.id, f"as record {first[record.id]} of the batch")
            report.errors.append(f"record {number} of the batch: {message}")
            continue
        first[record.id] = number
        kept.append(record)
    return kept


def build_index(
    records: Sequence[Record],
    index_dir: str | Path,
    encoder: Encoder,
    store: str | dict[str, Any] | None = None,
    batch_size: int = 32,
    images: ImagePolicy = "require",
    rebuild: bool = False,
    progress: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    scope_alpha: float = DEFAULT_ALPHA,
    shard: tuple[int, int] | None = None,
) -> IndexReport:
    """Embed ``records`` into the index at ``index_dir`` (created, or updated in place).

    Every build (re)fits the in-scope check on the whole index (:mod:`mmedrag.retrieval.scope`): at most about
    ``scope_alpha`` of images like the knowledge base's are later flagged as out of scope.

    Args:
        store: vector store spec for a new index (default: FAISS exact inner product if installed).
        images: ``require`` skips a record whose image cannot be read; ``optional`` indexes it without that image;
            ``ignore`` reads no images (text-only knowledge bases).
        rebuild: start from an empty index even if one exists (the old one stays live until the save).
        wait: when another process is writing the index, wait for it (telling ``on_wait``); False fails at once.
        shard: ``records`` are shard I of N of a source (:mod:`mmedrag.indexing_merge`), recorded in the index so a
            merge puts the records back in the source's order.

    Raises:
        DataError: no record could be indexed (empty corpus, or every record bad).
        EncoderMismatchError: updating an index that another encoder built.
        IndexFolderError: the live version is damaged, or another writer holds the lock and ``wait`` is False.
    """
    from mmedrag.stores.locate import index_kind

    if index_kind(index_dir, store) == "milvus":
        from mmedrag.indexing_milvus import build_milvus_index

        milvus = IndexReport(index=str(index_dir), encoder=encoder.name)
        unique = _first_of_each_id(records, milvus)
        load = lambda record: _load_views(record, images, milvus, encoder)  # noqa: E731
        return build_milvus_index(
            unique, index_dir, encoder, milvus, load, store, batch_size, rebuild, progress, scope_alpha, wait, on_wait
        )
    started = time.perf_counter()
    path = Path(index_dir)
    if not records:
        raise DataError(f"no records to index into {path}; check the source and its format")
    fingerprint = fingerprint_of(encoder)
    spec = store or default_store_spec()
    with FolderIndex.open_for_write(path, fingerprint, spec, rebuild=rebuild, wait=wait, on_wait=on_wait) as index:
        if index.base is not None:
            index.check_encoder(fingerprint)
        report = IndexReport(index=str(path), encoder=encoder.name, store=index.store_spec)
        _fill(index, encoder, _first_of_each_id(records, report), batch_size, images, progress, report)
        report.skipped = len(report.errors)
        if report.added + report.replaced == 0:
            raise DataError(f"none of the {len(records)} records could be indexed; first error: {report.errors[0]}")
        report.scope = fit_scope_of(index, scope_alpha)
        if shard is not None:
            index.info["shard"] = list(shard)
        index.save()
        report.total = index.records.count()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _fill(
    index: FolderIndex,
    encoder: Encoder,
    records: Sequence[Record],
    batch_size: int,
    images: ImagePolicy,
    progress: bool,
    report: IndexReport,
) -> None:
    embed_images = "image" in encoder.modalities
    steps = track(batches(records, batch_size), "indexing", total=-(-len(records) // batch_size), enabled=progress)
    for batch in steps:
        kept: list[Record] = []
        loaded: list[list[Image.Image]] = []
        for record in batch:
            views = _load_views(record, images, report, encoder)
            if views is None:
                continue
            kept.append(record)
            loaded.append(views)
        if kept:
            _add_batch(index, encoder, kept, loaded, embed_images, report)


def _add_batch(
    index: FolderIndex,
    encoder: Encoder,
    records: list[Record],
    views: list[list[Image.Image]],
    embed_images: bool,
    report: IndexReport,
) -> None:
    existing = set(index.records.get([r.id for r in records]))
    index.delete(sorted(existing))  # a replaced record may have fewer views than before
    with_text = [r for r in records if r.text.strip()]
    if with_text:
        index.spaces["text"].add([r.id for r in with_text], encoder.encode_texts([r.text for r in with_text]))
        report.text_vectors += len(with_text)
    flat = [
        (view_id(r.id, n), image) for r, images in zip(records, views, strict=True) for n, image in enumerate(images)
    ]
    if flat and embed_images:
        index.spaces["image"].add([i for i, _ in flat], encoder.encode_images([image for _, image in flat]))
        report.image_vectors += len(flat)
    fingerprints = {
        r.id: [(pixel_sha256(im), dhash(im)) for im in images] for r, images in zip(records, views, strict=True)
    }
    index.records.upsert(records, fingerprints)
    report.replaced += len(existing)
    report.added += len(records) - len(existing)


def fit_scope_of(index: FolderIndex, alpha: float) -> dict[str, Any]:
    """Fit the in-scope check on the index in memory and keep it in its metadata (saved with the next version)."""
    model = fit_folder_scope(index, alpha, extra=stats_test(index.records.get))
    if model is None:
        index.info.pop(SCOPE_KEY, None)
    else:
        index.info[SCOPE_KEY] = model.to_dict()
    return fit_summary(model)


def refit_scope(
    index_dir: str | Path,
    alpha: float = DEFAULT_ALPHA,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit the in-scope check of an existing index again (an index built before the check existed has none), from
    its stored vectors: nothing is encoded. Saves a new version (folder) or the meta row (Milvus)."""
    from mmedrag.stores.locate import index_kind

    if index_kind(index_dir) == "milvus":
        from mmedrag.indexing_milvus import refit_milvus_scope

        return refit_milvus_scope(index_dir, alpha)
    with FolderIndex.open_for_write(index_dir, wait=wait, on_wait=on_wait) as index:
        summary = fit_scope_of(index, alpha)
        index.save()
    return summary


def copy_index(
    source: str | Path,
    index_dir: str | Path,
    store: str | dict[str, Any] | None = None,
    rebuild: bool = False,
    progress: bool = False,
) -> IndexReport:
    """Copy the index folder ``source`` into the Milvus index ``store`` (or ``index_dir``'s pointer) names, without
    encoding anything: records, vectors and image fingerprints as they are."""
    from mmedrag.indexing_milvus import copy_index_to_milvus

    return copy_index_to_milvus(
        source, index_dir, IndexReport(index=str(index_dir)), store, rebuild=rebuild, progress=progress
    )


def delete_records(
    index_dir: str | Path, ids: Sequence[str], wait: bool = True, on_wait: Callable[[str], None] | None = None
) -> int:
    """Remove records by id from a saved index and save it, under the writer lock; returns how many existed."""
    from mmedrag.stores.locate import index_kind

    if index_kind(index_dir) == "milvus":
        from mmedrag.indexing_milvus import delete_from_milvus

        return delete_from_milvus(index_dir, ids, wait, on_wait)
    with FolderIndex.open_for_write(index_dir, wait=wait, on_wait=on_wait) as index:
        removed = index.delete(list(ids))
        if removed:
            index.save()
    return removed
