"""The loaded pipeline as a versioned snapshot: case look-ups and reload (a request's k and "without retrieval" are
fields of its :class:`~mmedrag.types.Query`, so every request of a snapshot runs on the one pipeline).

A reload re-opens every index at its newest saved version (``CURRENT``), keeping the already loaded encoders,
router and generator, and swaps the snapshot in one assignment. Requests hold the snapshot they started with, so a
request in flight finishes on its version; the old index stays open until its last request lets go of it.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from PIL import Image

from mmedrag.errors import MmedragError
from mmedrag.io.images import DECODE_SIDE, load_image
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.retriever import Retriever
from mmedrag.types import Query, Record

_THUMBNAILS = 512


def warm_up(pipeline: RAGPipeline) -> None:
    """Answer a question about a blank image and a question alone, so that every model the default query path uses
    (image and text encoders, router, generator) is loaded before ``/readyz`` says ready: several load lazily, and
    a first real question would otherwise wait for them (10-12 s for the text encoder)."""
    image = Image.new("RGB", (DECODE_SIDE, DECODE_SIDE), (96, 96, 96))
    question = "Is there an abnormality?"
    pipeline.answer_batch([Query(text=question, image=image), Query(text=question)])


def map_bundles(pipeline: RAGPipeline, change: Callable[[Bundle], Bundle]) -> RAGPipeline:
    """A copy of ``pipeline`` with ``change`` applied to its default bundle and to every domain's bundle."""
    bundles = {name: change(bundle) for name, bundle in pipeline.bundles.items()}
    return replace(pipeline, default=change(pipeline.default), bundles=bundles)


def retrievers(pipeline: RAGPipeline) -> list[Retriever]:
    """Every distinct retriever of the pipeline (the default bundle's first)."""
    found: dict[int, Retriever] = {}
    for bundle in [pipeline.default, *pipeline.bundles.values()]:
        if bundle.retriever is not None:
            found.setdefault(id(bundle.retriever), bundle.retriever)
    return list(found.values())


def index_versions(pipeline: RAGPipeline) -> list[str]:
    """``name@version`` of each index (a folder's ``v-NNNNNN``, the collection behind a Milvus alias)."""
    return [f"{retriever.index.name}@{retriever.index.version()}" for retriever in retrievers(pipeline)]


def reload_indexes(pipeline: RAGPipeline) -> RAGPipeline:
    """A new pipeline whose retrievers read each index's newest saved version; everything else is shared."""
    fresh: dict[int, Retriever] = {}

    def reopen(bundle: Bundle) -> Bundle:
        old = bundle.retriever
        if old is None:
            return bundle
        if id(old) not in fresh:  # same encoder and guard settings, the index at its newest version
            index = old.index.reopen()
            fresh[id(old)] = old if index is old.index else replace(old, index=index)
        links = bundle.concept_links.reopen() if bundle.concept_links is not None else None
        return replace(bundle, retriever=fresh[id(old)], concept_links=links)

    return map_bundles(pipeline, reopen)


@dataclass
class Snapshot:
    """One loaded version of the pipeline."""

    pipeline: RAGPipeline
    generation: int = 1
    loaded_at: float = field(default_factory=time.time)
    versions: list[str] = field(default_factory=list)

    def record(self, record_id: str) -> Record | None:
        """The case with this id from the records store of any index; None when no index holds it."""
        for retriever in retrievers(self.pipeline):
            found = retriever.index.get([record_id])
            if record_id in found:
                return found[record_id]
        return None

    def records(self, ids: list[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for retriever in retrievers(self.pipeline):
            missing = [i for i in ids if i not in out]
            if missing:
                out.update(retriever.index.get(missing))
        return out


class Thumbnails:
    """Small PNGs of knowledge-base images, rendered as the ingester renders them (DICOM windowing included)."""

    def __init__(self, size: int = 192) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def png(self, snapshot: Snapshot, record: Record) -> bytes | None:
        """The record's first view as a PNG at most ``size`` pixels wide or high; None when it has no readable image."""
        key = (snapshot.generation, record.id)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        if not record.image_paths:
            return None
        try:
            image = load_image(record.image_paths[0], max_side=DECODE_SIDE)
        except MmedragError:
            return None
        image.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > _THUMBNAILS:
                self._cache.popitem(last=False)
        return data
