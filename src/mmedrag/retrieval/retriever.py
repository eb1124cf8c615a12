"""Search a knowledge index: image->report, text->report and image->image, top-k with scores.

Filters restrict candidates by domain, modality, split and source. The leakage guard never returns a record of the
query's patient or study, nor one holding the query image itself (pixel-identical) or a near copy of it (a re-encode,
resize or small crop; :mod:`mmedrag.retrieval.near_duplicates`, on by default): the reference code had no such
control (method.md §11 item 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from mmedrag.encoders.base import Encoder, fingerprint_of
from mmedrag.errors import ConfigError
from mmedrag.io.images import pixel_sha256, query_image
from mmedrag.retrieval.near_duplicates import DEFAULT_BITS, NEIGHBOURS, NearDuplicateGuard
from mmedrag.retrieval.scope import NO_IMAGE, NOT_FITTED, NOT_IMAGE_ENCODER, OFF, ScopeModel, ScopeVerdict
from mmedrag.retrieval.scope_fit import scope_of, scope_scores
from mmedrag.stores.locate import KnowledgeIndex
from mmedrag.types import Exclusion, Hit, Query

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
        >>> retriever = Retriever(load_index("idx"), encoder)  # doctest: +SKIP
        >>> hits = retriever.search(Query(image=image), k=5)  # doctest: +SKIP
    """

    index: KnowledgeIndex
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
        neighbours = self._image_neighbours(images, modes, vectors, check_scope)
        verdicts = self._scope_verdicts(images, neighbours) if check_scope else [OFF for _ in queries]
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
                [neighbours.get(r) for r in live],
            )
            for row, hits in zip(live, found, strict=True):
                results[row] = hits
        return results, verdicts

    def _scope_model(self) -> ScopeModel | None:
        if self._scope is None:
            self._scope = (scope_of(self.index),)
        return self._scope[0]

    def _image_neighbours(
        self, images: Sequence[Image.Image | None], modes: list[str], vectors: np.ndarray, check_scope: bool
    ) -> dict[int, list[tuple[str, float]]]:
        """Each query image's nearest stored images, searched once per batch with no exclusions: the in-scope
        check reads the nearest one's similarity and the near-copy guard takes them as candidates, one round trip
        to a database for both. A text-mode query's image is embedded only for the in-scope check."""
        scope = check_scope and "image" in self.encoder.modalities and self._scope_model() is not None
        guard = self.leakage_guard and self.near_duplicate_guard
        rows = [r for r, image in enumerate(images) if image is not None and (scope or (guard and modes[r] != "text"))]
        if not rows:
            return {}
        probe = vectors[rows].copy()
        text_rows = [n for n, row in enumerate(rows) if modes[row] == "text"]
        if text_rows:
            self._check("image")
            probe[text_rows] = self.encoder.encode_images([images[rows[n]] for n in text_rows])  # type: ignore[misc]
        found = self.index.search_records(probe, "image", NEIGHBOURS if guard else 1)
        return dict(zip(rows, found, strict=True))

    def _scope_verdicts(
        self, images: Sequence[Image.Image | None], neighbours: dict[int, list[tuple[str, float]]]
    ) -> list[ScopeVerdict]:
        """The in-scope check for every query with an image (text-only queries are not checked here)."""
        verdicts = [NO_IMAGE for _ in images]
        rows = [row for row, image in enumerate(images) if image is not None]
        model = self._scope_model()
        if model is None or "image" not in self.encoder.modalities:
            for row in rows:
                verdicts[row] = NOT_FITTED if model is None else NOT_IMAGE_ENCODER
            return verdicts
        nearest = [neighbours[row][0][1] if neighbours.get(row) else -1.0 for row in rows]
        scores = scope_scores(nearest, [images[row] for row in rows], model)  # type: ignore[misc]
        for row, score in zip(rows, scores, strict=True):
            verdicts[row] = model.verdict(score)
        return verdicts

    def _search_encoded(
        self,
        queries: Sequence[Query],
        images: Sequence[Image.Image | None],
        modes: list[str],
        vectors: np.ndarray,
        k: int,
        filters: Filters | None,
        neighbours: Sequence[list[tuple[str, float]] | None] | None = None,
    ) -> list[list[Hit]]:
        """Filters and the leakage guard go with the query to the index, which applies them where its vectors are
        (one path for every backend: :class:`~mmedrag.stores.locate.KnowledgeIndex`)."""
        guards = self._exclusions(queries, images, neighbours) if self.leakage_guard else [None] * len(queries)
        active = filters.active() if filters else {}
        scored: list[list[tuple[str, float]]] = [[] for _ in queries]
        for space in ("text", "image"):
            rows = [i for i, m in enumerate(modes) if (m == "image2image") == (space == "image")]
            if rows:
                found = self.index.search_records(vectors[rows], space, k, active, [guards[i] for i in rows])
                for row, hits in zip(rows, found, strict=True):
                    scored[row] = hits
        records = self.index.get(sorted({rid for hits in scored for rid, _ in hits}))
        return [
            [Hit(records[rid], score, rank) for rank, (rid, score) in enumerate(hits, start=1) if rid in records]
            for hits in scored
        ]

    def _exclusions(
        self,
        queries: Sequence[Query],
        images: Sequence[Image.Image | None],
        neighbours: Sequence[list[tuple[str, float]] | None] | None,
    ) -> list[Exclusion | None]:
        """Per query: its patient and study, its image's pixel hash and the records holding a near copy of it
        (candidates: its dHash's and its image-space ``neighbours``, see :meth:`_image_neighbours`)."""
        near: dict[int, set[str]] = {}
        if self.near_duplicate_guard:
            bits = DEFAULT_BITS if self.near_duplicate_bits is None else self.near_duplicate_bits
            if self._near is None or self._near.bits != bits:
                self._near = NearDuplicateGuard(bits=bits)
            rows = [i for i, image in enumerate(images) if image is not None]
            if rows:
                pictures = [image for i in rows if (image := images[i]) is not None]
                nearby = [[rid for rid, _ in (neighbours[i] or ())] if neighbours else None for i in rows]
                near.update(zip(rows, self._near.excluded_batch(self.index, pictures, nearby), strict=True))
        out: list[Exclusion | None] = []
        for number, (query, image) in enumerate(zip(queries, images, strict=True)):
            hashes = (pixel_sha256(image),) if image is not None else ()
            out.append(Exclusion(query.patient_id, query.study_id, hashes, frozenset(near.get(number, ()))))
        return out

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


__all__ = ["MODES", "Filters", "Retriever"]
