"""The near-duplicate leakage guard: never return a knowledge-base record whose image is a near copy of the query.

A JPEG re-encode, a resize or a 2-5% crop of an indexed image has another pixel hash, so the exact-copy guard lets it
through, and its own report comes back at rank 1. This guard finds such copies the way ``mmedrag validate`` does
(:mod:`mmedrag.quality.duplicates`): candidates first, then a thumbnail correlation that confirms them.

Candidates are (a) records whose stored 64-bit dHash is within ``bits`` of the query's and (b) the query image's
nearest neighbours in the index's image space. dHash alone cannot serve: on MedPix 2.0 + COVID-19 chest films, a 5%
crop moves it by up to 16 bits while 1.6% of unrelated pairs are already within 12; the embedding neighbours find
crops, the dHash finds copies a text-only search would not look at. A candidate is excluded when the correlation of
thumbnails of its image and the query reaches ``similarity`` (0.95, as validate); when its file cannot be read any
more, when its dHash is within ``sure_bits``.

At serving speed (issue 21): the guard keeps, per knowledge-base image, its thumbnail and two unit vectors: the
64 x 64 full-frame view the correlation's "resized" term compares (a dot product then decides re-encodes and resizes
at once, exactly as before) and an 8 x 8 one, a cheap prefilter: a candidate whose 8 x 8 correlation with the query
is under :data:`PREFILTER_NCC` is no copy and skips the shifted correlation (about 3 ms a pair), and so is one whose
shifted correlation at 48 pixels (about 0.6 ms) is under :data:`SMALL_NCC`. On MedPix 2.0,
re-encodes, resizes and 2-5% crops scored at least 0.85 there (100 copies), and the crops at least 0.86 at 48
pixels, where 1.5% of unrelated pairs reach 0.8 (``benchmarks/bench_leakage_guard.py``, BENCHMARKS.md).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from mmedrag.errors import MmedragError
from mmedrag.io.images import DECODE_SIDE, dhash, load_image
from mmedrag.quality.duplicates import Thumbnail, shifted_ncc, similarity, thumbnail_of
from mmedrag.stores.locate import KnowledgeIndex

DEFAULT_BITS = 10  # candidate radius: JPEG re-encodes and resizes land within 6 bits, 2% crops within 7 (measured)
SURE_BITS = 3  # excluded without a thumbnail check only when the record's file is gone
PREFILTER_SIDE = 8
PREFILTER_NCC = 0.7  # 8 x 8 correlation under which a candidate is no copy (copies measured >= 0.85: see above)
SMALL_SIDE = 48
SMALL_NCC = 0.8  # shifted correlation of 48-pixel thumbnails under which a candidate is no copy (crops >= 0.86)
_FULL_SIDE = 64  # the full-frame size of duplicates.similarity's "resized" term
NEIGHBOURS = 5  # image-space neighbours taken as candidates: a crop's original is among its query's nearest
HASHES_TTL_S = 30.0  # a live index (Milvus) gains records while served: its hashes are re-read this often


@dataclass(frozen=True)
class _Look:
    """What the guard keeps of one image: its thumbnail and unit, zero-mean full-frame vectors (None: flat)."""

    thumb: Thumbnail
    full: np.ndarray | None
    tiny: np.ndarray | None
    small: Thumbnail


def _unit(thumb: Thumbnail, side: int, resample: Image.Resampling) -> np.ndarray | None:
    values = np.asarray(thumb.pixels.resize((side, side), resample), dtype=np.float64).ravel()
    values = values - values.mean()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 0 else None


def look_of(thumb: Thumbnail) -> _Look:
    # BILINEAR at 64 as duplicates.similarity resizes, so the dot product is its "resized" correlation.
    small = thumb.pixels.copy()
    small.thumbnail((SMALL_SIDE, SMALL_SIDE), Image.Resampling.BOX)
    full, tiny = _unit(thumb, _FULL_SIDE, Image.Resampling.BILINEAR), _unit(thumb, PREFILTER_SIDE, Image.Resampling.BOX)
    return _Look(thumb, full, tiny, Thumbnail(small, thumb.size))


@dataclass
class NearDuplicateGuard:
    """Finds the records of an index that hold a near copy of a query image.

    Args:
        bits: dHash Hamming distance (of 64) that makes a record a candidate.
        similarity: thumbnail correlation that confirms a candidate (:func:`mmedrag.quality.duplicates.similarity`).
        neighbours: image-space nearest neighbours of the query added as candidates (catches crops).
        max_checks: candidates verified per query at most, nearest first (bounds the files read per query).
    """

    bits: int = DEFAULT_BITS
    similarity: float = 0.95
    neighbours: int = NEIGHBOURS
    max_checks: int = 32
    _ids: list[str] | None = field(default=None, init=False, repr=False)
    _hashes: np.ndarray | None = field(default=None, init=False, repr=False)
    _source: tuple[int, float] = field(default=(0, 0.0), init=False, repr=False)  # (id of the index, read at)
    _thumbs: dict[str, _Look | None] = field(default_factory=dict, init=False, repr=False)
    _paths: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False)

    def excluded(self, index: KnowledgeIndex, image: Image.Image, image_vector: np.ndarray | None = None) -> set[str]:
        """Ids of the records in ``index`` whose image is a near copy of ``image`` (any backend: it reads the
        index's image hashes, its image-space neighbours of ``image_vector`` and its records' files through the
        protocol)."""
        near = None
        if image_vector is not None and self.neighbours > 0:
            near = [[rid for rid, _ in index.search_records(image_vector[None, :], "image", self.neighbours)[0]]]
        return self.excluded_batch(index, [image], near)[0]

    def excluded_batch(
        self,
        index: KnowledgeIndex,
        images: Sequence[Image.Image],
        neighbours: Sequence[Sequence[str] | None] | None = None,
    ) -> list[set[str]]:
        """:meth:`excluded` for several query images, given each one's nearest records in the index's image space
        (None: dHash candidates only). The retriever runs that search once per batch and shares it with the
        in-scope check, which needs the nearest image anyway: on a database, each search is a round trip."""
        distances = [self._candidates(index, dhash(image)) for image in images]
        for distance, near in zip(distances, neighbours or [None] * len(images), strict=True):
            for record_id in list(near or ())[: self.neighbours]:
                distance.setdefault(record_id, 64)
        return [self._confirmed(index, image, distance) for image, distance in zip(images, distances, strict=True)]

    def _confirmed(self, index: KnowledgeIndex, image: Image.Image, distance: dict[str, int]) -> set[str]:
        """The candidates (record id -> least dHash distance) that hold a near copy of ``image``."""
        if not distance:
            return set()
        query = look_of(thumbnail_of(image))
        found: set[str] = set()
        ranked = sorted(distance, key=lambda rid: distance[rid])[: self.max_checks + self.neighbours]
        paths = self._image_paths(index, ranked)
        for record_id in ranked:
            looks = [self._thumbnail(path) for path in paths.get(record_id, ())]
            readable = [look for look in looks if look is not None]
            if readable:
                if any(self._is_copy(query, look) for look in readable):
                    found.add(record_id)
            elif distance[record_id] <= SURE_BITS:
                found.add(record_id)
        return found

    def _is_copy(self, query: _Look, other: _Look) -> bool:
        """``similarity(query, other) >= self.similarity``, deciding the cheap cases without the shifted correlation."""
        if query.full is not None and other.full is not None:
            if float(query.full @ other.full) >= self.similarity:  # similarity's "resized" term alone decides
                return True
            if query.tiny is not None and other.tiny is not None and float(query.tiny @ other.tiny) < PREFILTER_NCC:
                return False
        if shifted_ncc(query.small, other.small, 0.5) < SMALL_NCC:  # a crop's correlation, at a sixth of the cost
            return False
        return similarity(query.thumb, other.thumb) >= self.similarity

    def _image_paths(self, index: KnowledgeIndex, ids: list[str]) -> dict[str, tuple[str, ...]]:
        """Image files of the records ``ids`` (kept until the index's hashes are re-read: a query each on Milvus)."""
        missing = [i for i in ids if i not in self._paths]
        if missing:
            found = index.get(missing)
            self._paths.update({i: tuple(found[i].image_paths) if i in found else () for i in missing})
        return {i: self._paths[i] for i in ids}

    def _candidates(self, index: KnowledgeIndex, probe: int) -> dict[str, int]:
        """Record id -> least dHash distance of its images, for those within ``bits``."""
        now = time.monotonic()
        if (
            self._hashes is None
            or self._ids is None
            or self._source[0] != id(index)
            or now - self._source[1] > HASHES_TTL_S
        ):
            self._source = (id(index), now)
            self._paths.clear()  # records may have been replaced since
            pairs = index.image_hashes()
            self._ids = [rid for rid, _ in pairs]
            self._hashes = np.array([value for _, value in pairs], dtype=np.uint64)
        if not self._ids:
            return {}
        xor = self._hashes ^ np.uint64(probe)
        counts = np.unpackbits(xor.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        near: dict[str, int] = {}
        for position in np.flatnonzero(counts <= self.bits):
            rid, value = self._ids[position], int(counts[position])
            near[rid] = min(value, near.get(rid, 64))
        return near

    def _thumbnail(self, path: str) -> _Look | None:
        if path not in self._thumbs:
            try:
                self._thumbs[path] = look_of(thumbnail_of(load_image(path, max_side=DECODE_SIDE)))
            except MmedragError:
                self._thumbs[path] = None
            if len(self._thumbs) > 1024:  # a bounded cache: the oldest entry goes first
                self._thumbs.pop(next(iter(self._thumbs)))
        return self._thumbs[path]


__all__ = ["DEFAULT_BITS", "NEIGHBOURS", "NearDuplicateGuard"]
