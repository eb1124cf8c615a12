"""Search a knowledge index: image->report, text->report and image->image, top-k with scores.

Filters restrict candidates by domain, modality, split and source. The leakage guard never returns a record of the
query's patient or study, nor one holding the query image itself (pixel-identical) or a near copy of it (a re-encode,
resize or small crop; :mod:`mmedrag.retrieval.near_duplicates`, on by default): the reference code had no such
control (method.md §11 item 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np
from PIL import Image

from mmedrag.encoders.base import Encoder, fingerprint_of
from mmedrag.errors import ConfigError
from mmedrag.io.images import dhash, pixel_sha256, query_image
from mmedrag.retrieval.near_duplicates import DEFAULT_BITS, NearDuplicateGuard
from mmedrag.retrieval.scope import NO_IMAGE, NOT_FITTED, NOT_IMAGE_ENCODER, OFF, ScopeModel, ScopeVerdict
from mmedrag.retrieval.scope_fit import scope_of, scope_scores
from mmedrag.stores.index import KnowledgeIndex, record_of_view
from mmedrag.stores.locate import PushdownIndex
from mmedrag.types import Hit, Query

Mode = Literal["auto", "image", "text", "image2image"]
MODES: tuple[str, ...] = ("auto", "image", "text", "image2image")


@dataclass(frozen=True)
class Filters:
    """Candidate restrictions; each field takes one value or several (any of them matches)."""

    domain: str | tuple[str, ...] | None = None
    modality: str | tuple[str, ...] | None = None
    split: str | tuple[str, ...] | None = None
    source: str | tuple[str, ...] | None = None

    def active(self) -> dict[str, str | tuple[str, ...]]:
        return {name: value for name, value in vars(self).items() if value}


@dataclass
class Retriever:
    """An index plus the encoder that built it.

    Args:
        near_duplicate_guard: also exclude records holding a near copy of the query image (candidates by dHash
            and image-space neighbours, confirmed by thumbnail correlation, as ``mmedrag validate``); with False only
            pixel-identical copies are excluded.
        near_duplicate_bits: the dHash distance that makes a candidate (None: the guard's default, 10).

    Example:
        >>> retriever = Retriever(KnowledgeIndex.load("idx"), encoder)  # doctest: +SKIP
        >>> hits = retriever.search(Query(image=image), k=5)  # doctest: +SKIP
    """

    index: KnowledgeIndex | PushdownIndex
    encoder: Encoder
    leakage_guard: bool = True
    near_duplicate_bits: int | None = None
    near_duplicate_guard: bool = True
    _near: NearDuplicateGuard | None = field(default=None, init=False, repr=False)
    _checked: set[str] = field(default_factory=set, init=False, repr=False)
    _scope: tuple[ScopeModel | None] | None = field(default=None, init=False, repr=False)  # loaded on first use

    def __post_init__(self) -> None:
        # The probes are embedded when a query first uses a modality, so an image query never loads the text side
        # of an image-text encoder (the tower's MiniLM: seconds of start-up), and a text query never the image side.
        self.index.check_encoder(fingerprint_of(self.encoder, frozenset()), partial=True)

    def _check(self, modality: str) -> None:
        if modality not in self._checked:
            self.index.check_encoder(fingerprint_of(self.encoder, frozenset({modality})), partial=True)
            self._checked.add(modality)

    def search(self, query: Query, k: int = 5, mode: Mode = "auto", filters: Filters | None = None) -> list[Hit]:
        return self.search_batch([query], k=k, mode=mode, filters=filters)[0]

    def search_batch(
        self, queries: Sequence[Query], k: int = 5, mode: Mode = "auto", filters: Filters | None = None
    ) -> list[list[Hit]]:
        """Hits per query, best first. Query images are encoded in one batch."""
        return self.search_checked(queries, k, mode, filters, check_scope=False)[0]

    def search_checked(
        self,
        queries: Sequence[Query],
        k: int = 5,
        mode: Mode = "auto",
        filters: Filters | None = None,
        check_scope: bool = True,
    ) -> tuple[list[list[Hit]], list[ScopeVerdict]]:
        """:meth:`search_batch` plus each query image's in-scope verdict (:mod:`mmedrag.retrieval.scope`), from the
        embedding the search computes anyway; a query found out of scope is not searched and gets no hits."""
        if mode not in MODES:
            raise ConfigError(f"unknown retrieval mode {mode!r}; use one of {MODES}")
        if not queries or (k <= 0 and not check_scope):
            return [[] for _ in queries], [OFF for _ in queries]
        images = [query_image(query) for query in queries]
        modes = [self._mode_for(query, image, mode) for query, image in zip(queries, images, strict=True)]
        vectors = self._encode(queries, images, modes)
        verdicts = self._scope_verdicts(images, modes, vectors) if check_scope else [OFF for _ in queries]
        live = [row for row, verdict in enumerate(verdicts) if not verdict.out_of_scope]
        results: list[list[Hit]] = [[] for _ in queries]
        if k > 0 and live:
            found = self._search_encoded(
                [queries[r] for r in live],
                [images[r] for r in live],
                [modes[r] for r in live],
                vectors[live],
                k,
                filters,
            )
            for row, hits in zip(live, found, strict=True):
                results[row] = hits
        return results, verdicts

    def _search_encoded(
        self,
        queries: Sequence[Query],
        images: Sequence[Image.Image | None],
        modes: list[str],
        vectors: np.ndarray,
        k: int,
        filters: Filters | None,
    ) -> list[list[Hit]]:
        if not isinstance(self.index, KnowledgeIndex):
            return self._search_pushdown(self.index, queries, images, modes, vectors, k, filters)
        allowed = self.index.records.ids_where(**filters.active()) if filters and filters.active() else None
        results = []
        for query, image, chosen, vector in zip(queries, images, modes, vectors, strict=True):
            image_vector = vector if chosen != "text" else None
            excluded = self._excluded(query, image, image_vector) if self.leakage_guard else set()
            scored = self._top_records(vector, chosen, k, allowed, excluded)
            found = self.index.records.get([record_id for record_id, _ in scored])
            results.append(
                [Hit(found[rid], score, rank) for rank, (rid, score) in enumerate(scored, start=1) if rid in found]
            )
        return results

    def _scope_verdicts(
        self, images: Sequence[Image.Image | None], modes: list[str], vectors: np.ndarray
    ) -> list[ScopeVerdict]:
        """The in-scope check for every query with an image (text-only queries are not checked here)."""
        verdicts = [NO_IMAGE for _ in images]
        rows = [row for row, image in enumerate(images) if image is not None]
        if not rows:
            return verdicts
        if self._scope is None:
            self._scope = (scope_of(self.index),)
        model = self._scope[0]
        if model is None or "image" not in self.encoder.modalities:
            for row in rows:
                verdicts[row] = NOT_FITTED if model is None else NOT_IMAGE_ENCODER
            return verdicts
        probe = vectors[rows].copy()
        text_rows = [n for n, row in enumerate(rows) if modes[row] == "text"]  # encoded as text: embed the image too
        if text_rows:
            self._check("image")
            probe[text_rows] = self.encoder.encode_images([images[rows[n]] for n in text_rows])  # type: ignore[misc]
        scores = scope_scores(self.index, probe, [images[row] for row in rows], model)  # type: ignore[misc]
        for row, score in zip(rows, scores, strict=True):
            verdicts[row] = model.verdict(score)
        return verdicts

    @property
    def _folder(self) -> KnowledgeIndex:
        """The index as a folder index (the paths that compute allow-lists client-side run only for those)."""
        return cast(KnowledgeIndex, self.index)

    def _search_pushdown(
        self,
        index: PushdownIndex,
        queries: Sequence[Query],
        images: Sequence[Image.Image | None],
        modes: list[str],
        vectors: np.ndarray,
        k: int,
        filters: Filters | None,
    ) -> list[list[Hit]]:
        """Filters and the leakage guard go with the query to an index that evaluates them (Milvus).

        Near duplicates there are the records whose stored dHash is within 7 bits of the query image's (re-encodes
        and resizes land within 6); crops, which the folder guard confirms by thumbnails, are not caught.
        """
        from mmedrag.stores.milvus import Exclusion

        bits = DEFAULT_BITS if self.near_duplicate_bits is None else self.near_duplicate_bits
        near = min(bits, 7) if self.near_duplicate_guard else None
        guards = [
            Exclusion(
                query.patient_id,
                query.study_id,
                (pixel_sha256(image),) if image is not None else (),
                dhash(image) if image is not None and near is not None else None,
                near,
            )
            if self.leakage_guard
            else None
            for query, image in zip(queries, images, strict=True)
        ]
        active = filters.active() if filters else {}
        scored: list[list[tuple[str, float]]] = [[] for _ in queries]
        for space in ("text", "image"):
            rows = [i for i, m in enumerate(modes) if (m == "image2image") == (space == "image")]
            if rows:
                found = index.search_records(vectors[rows], space, k, active, [guards[i] for i in rows])
                for row, hits in zip(rows, found, strict=True):
                    scored[row] = hits
        records = index.get(sorted({rid for hits in scored for rid, _ in hits}))
        return [
            [Hit(records[rid], score, rank) for rank, (rid, score) in enumerate(hits, start=1) if rid in records]
            for hits in scored
        ]

    def _mode_for(self, query: Query, image: Image.Image | None, mode: Mode) -> str:
        can_image = "image" in self.encoder.modalities
        if mode == "auto":
            if image is not None and can_image:
                return "image"
            if query.text.strip():
                return "text"
            raise ConfigError("query has neither an image this encoder can read nor text; give one of them")
        if mode in {"image", "image2image"}:
            if image is None:
                raise ConfigError(f"retrieval mode {mode!r} needs a query image")
            if not can_image:
                raise ConfigError(f"encoder {self.encoder.name} is text-only; use mode 'text'")
        elif not query.text.strip():
            raise ConfigError("retrieval mode 'text' needs query text")
        return mode

    def _encode(self, queries: Sequence[Query], images: Sequence[Image.Image | None], modes: list[str]) -> np.ndarray:
        vectors = np.zeros((len(queries), self.encoder.dim), dtype=np.float32)
        image_rows = [i for i, m in enumerate(modes) if m != "text"]
        text_rows = [i for i, m in enumerate(modes) if m == "text"]
        if image_rows:
            self._check("image")
            vectors[image_rows] = self.encoder.encode_images([images[i] for i in image_rows])  # type: ignore[misc]
        if text_rows:
            self._check("text")
            vectors[text_rows] = self.encoder.encode_texts([queries[i].text for i in text_rows])
        return vectors

    def _excluded(self, query: Query, image: Image.Image | None, image_vector: np.ndarray | None) -> set[str]:
        hashes = [pixel_sha256(image)] if image is not None else []
        excluded = self._folder.records.related_ids(query.patient_id, query.study_id, hashes)
        if image is not None and self.near_duplicate_guard:
            bits = DEFAULT_BITS if self.near_duplicate_bits is None else self.near_duplicate_bits
            if self._near is None or self._near.bits != bits:
                self._near = NearDuplicateGuard(bits=bits)
            excluded |= self._near.excluded(self._folder, image, image_vector)
        return excluded

    def _top_records(
        self, vector: np.ndarray, mode: str, k: int, allowed: set[str] | None, excluded: set[str]
    ) -> list[tuple[str, float]]:
        """Best ``k`` records for one query vector, widening the search until exclusions are made up for."""
        space = self._folder.spaces["image" if mode == "image2image" else "text"]
        allow = None
        if allowed is not None:
            keep = allowed - excluded
            allow = keep if mode != "image2image" else {i for i in space.ids() if record_of_view(i) in keep}
        total = space.count() if allow is None else len(allow)
        fetch = k + len(excluded) * (4 if mode == "image2image" else 1)
        while True:
            best: dict[str, float] = {}
            for identifier, score in space.search(vector[None, :], min(fetch, total), allow=allow)[0]:
                record_id = record_of_view(identifier) if mode == "image2image" else identifier
                if record_id not in excluded and record_id not in best:  # views come best-first: keep the max
                    best[record_id] = score
            if len(best) >= k or fetch >= total:
                return list(best.items())[:k]
            fetch *= 2


__all__ = ["MODES", "Filters", "Retriever"]
