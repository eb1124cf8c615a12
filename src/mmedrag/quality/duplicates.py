"""Image fingerprints for duplicate detection: pixel SHA-256 for exact copies, dHash distance for near copies.

Near copies are found in two steps: an all-pairs comparison of 64-bit dHashes proposes candidates
(:func:`near_duplicate_pairs`), and a normalised cross-correlation of thumbnails confirms them (:func:`similarity`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mmedrag.errors import MmedragError
from mmedrag.io.images import DECODE_SIDE, dhash, load_image, pixel_sha256, source_size

SHA_BYTES = 32
_BLOCK_ELEMENTS = 1 << 22  # compare blocks of about 4M hash pairs (32 MB of uint64) at a time
THUMBNAIL_SIDE = 128  # verification works on thumbnails: enough to align a crop, small enough to keep many
_RESIZED_SIDE = 64
_MIN_VARIANCE = 4.0  # per-pixel variance (gray levels^2) below which an overlap is treated as flat background
_POPCOUNT_LUT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def fingerprint(path: str) -> tuple[str, bytes | str]:
    """Decode one image: ``("ok", 32-byte pixel SHA-256 + 8-byte dHash)`` or ``("missing"|"unreadable", message)``.

    Runs in worker threads: PIL releases the GIL while it decodes, and hashlib while it hashes large buffers.
    """
    if not os.path.isfile(path):
        return "missing", f"{path}: image file not found; check the path or the folder it is resolved against"
    try:
        image = load_image(path, max_side=DECODE_SIDE)  # the same pixels the index fingerprints
    except MmedragError as exc:  # ImageError, or MissingExtraError for a DICOM without pydicom
        return "unreadable", str(exc)
    return "ok", bytes.fromhex(pixel_sha256(image)) + dhash(image).to_bytes(8, "big")


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits per uint64 element; numpy >= 2.0 has it built in, older ones use a byte lookup table."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    return _POPCOUNT_LUT[values.view(np.uint8)].reshape(*values.shape, 8).sum(axis=-1, dtype=np.uint8)


def _distance_blocks(hashes: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Row blocks of the pairwise Hamming distances: ``(start, distances, upper)``, ``upper`` masking j > i."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    count = len(hashes)
    rows = max(1, _BLOCK_ELEMENTS // max(count, 1))
    for start in range(0, count, rows):
        distances = _popcount(hashes[start : start + rows, None] ^ hashes[None, start:])
        upper = np.arange(count - start)[None, :] > np.arange(len(distances))[:, None]
        yield start, distances, upper


def distance_counts(hashes: np.ndarray, max_bits: int) -> np.ndarray:
    """How many pairs lie at each Hamming distance 0..``max_bits`` (to size the work before collecting pairs)."""
    counts = np.zeros(max_bits + 1, dtype=np.int64)
    for _, distances, upper in _distance_blocks(hashes):
        counts += np.bincount(distances[upper & (distances <= max_bits)], minlength=max_bits + 1)[: max_bits + 1]
    return counts


def near_duplicate_pairs(hashes: np.ndarray, max_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs i < j whose 64-bit hashes differ in at most ``max_bits`` bits, as arrays ``(i, j, distance)``.

    All pairs are compared, vectorised over row blocks: O(n^2 / 2) XOR + popcount and O(n) memory beyond one
    ~32 MB block. At n = 100k distinct images that is 5e9 comparisons, about 8 s on 2 CPU cores (numpy 2.4; validate
    makes two passes, counting first), small next to decoding the 100k images. A BK-tree or multi-index hashing
    prunes better on spread-out hashes but degrades on the clustered dHashes of similar-looking scans (chest
    radiographs look alike at 9x8 pixels); this cost does not depend on the data.
    """
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start, distances, upper in _distance_blocks(hashes):
        rows, cols = np.nonzero(upper & (distances <= max_bits))
        found.append((rows + start, cols + start, distances[rows, cols]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8)
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A grayscale copy no larger than :data:`THUMBNAIL_SIDE` and the size of the original, for verification."""

    pixels: Image.Image
    size: tuple[int, int]


def thumbnail(path: str) -> Thumbnail | None:
    """The thumbnail of one image, or None when it cannot be read (it was reported when it was fingerprinted)."""
    try:
        image = load_image(path, max_side=DECODE_SIDE)
    except MmedragError:
        return None
    return thumbnail_of(image)


def thumbnail_of(image: Image.Image) -> Thumbnail:
    """The verification thumbnail of a decoded image, sized against its source (before decode-time downscaling)."""
    gray = image.convert("L")
    size = source_size(image)
    gray.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BOX)
    return Thumbnail(gray, size)


def _fast_length(n: int) -> int:
    """The least 5-smooth integer >= ``n`` (FFT lengths with only 2, 3 and 5 as factors are the fast ones)."""
    while True:
        rest = n
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return n
        n += 1


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else float(np.array_equal(a, b))


def shifted_ncc(a: Thumbnail, b: Thumbnail, min_overlap: float) -> float:
    """Best NCC over all translations of ``b`` against ``a`` at a common pixel scale (one is a crop of the other).

    The overlap-normalised correlation (Lewis 1995, "Fast normalized cross-correlation") needs, per shift, the
    cross-correlation of the two images, taken with FFTs, and sums of each image and its square over the overlap,
    taken from summed-area tables; shifts whose overlap is under ``min_overlap`` of the smaller image, or nearly
    flat, are ignored.
    """
    scale = min(a.pixels.width / a.size[0], b.pixels.width / b.size[0])
    arrays = []
    for thumb in (a, b):
        width, height = max(1, round(thumb.size[0] * scale)), max(1, round(thumb.size[1] * scale))
        arrays.append(np.asarray(thumb.pixels.resize((width, height), Image.Resampling.BOX), dtype=np.float64))
    x, y = arrays
    # Shifts s of y over x along each axis, in the order the padded FFT leaves them: 0..len(x)-1, then the
    # negative ones, which wrap around to the end. Lengths are 5-smooth (a 255-point FFT costs twice a 256-point one).
    shifts = [np.r_[0 : x.shape[axis], 1 - y.shape[axis] : 0] for axis in (0, 1)]
    shape = tuple(_fast_length(x.shape[axis] + y.shape[axis] - 1) for axis in (0, 1))
    cross = np.fft.irfft2(np.fft.rfft2(x, shape) * np.conj(np.fft.rfft2(y, shape)), shape)
    cross = cross[np.ix_(*(np.where(s < 0, s + size, s) for s, size in zip(shifts, shape, strict=True)))]
    # Overlap of y shifted by s with x (at least one pixel), as index ranges into each image per axis.
    x_ranges = [(np.maximum(s, 0), np.minimum(n, m + s)) for s, n, m in zip(shifts, x.shape, y.shape, strict=True)]
    y_ranges = [(np.maximum(-s, 0), np.minimum(m, n - s)) for s, n, m in zip(shifts, x.shape, y.shape, strict=True)]
    count = np.outer(*(high - low for low, high in x_ranges)).astype(np.float64)
    (sum_x, sum_xx), (sum_y, sum_yy) = _window_sums(x, x_ranges), _window_sums(y, y_ranges)
    var_x = np.maximum(sum_xx - sum_x**2 / count, 0.0)
    var_y = np.maximum(sum_yy - sum_y**2 / count, 0.0)
    valid = (count >= min_overlap * min(x.size, y.size)) & (var_x > _MIN_VARIANCE * count)
    valid &= var_y > _MIN_VARIANCE * count
    if not valid.any():
        return 0.0
    score = (cross - sum_x * sum_y / count) / np.sqrt(var_x * var_y + 1e-12)
    return float(np.clip(score[valid], -1.0, 1.0).max())


def _window_sums(image: np.ndarray, ranges: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``image`` and of its square over rows ``[r0, r1)`` x columns ``[c0, c1)``, for every pair of ranges.

    From summed-area tables, one axis at a time (rows of the table first, then columns of that difference).
    """
    table = np.zeros((2, image.shape[0] + 1, image.shape[1] + 1))
    table[0, 1:, 1:], table[1, 1:, 1:] = image, image * image
    table = table.cumsum(axis=1).cumsum(axis=2)
    (r0, r1), (c0, c1) = ranges
    rows = table[:, r1] - table[:, r0]
    sums = rows[:, :, c1] - rows[:, :, c0]
    return sums[0], sums[1]


def similarity(a: Thumbnail, b: Thumbnail, min_overlap: float = 0.5) -> float:
    """How well two pictures match as resized copies or as crops of one another: the better NCC, in [-1, 1].

    A 64-bit dHash cannot tell a re-crop from another patient's radiograph of the same view: in MedPix 2.0 +
    VQA-RAD the re-cropped MedPix image is at distance 6, and so are dozens of unrelated chest films. The re-crop
    scores 0.97 here, images of different MedPix cases at most 0.92, adjacent slices of one series 0.93-1.0.
    """
    size = (_RESIZED_SIDE, _RESIZED_SIDE)
    resized = _ncc(
        np.asarray(a.pixels.resize(size, Image.Resampling.BILINEAR), dtype=np.float64),
        np.asarray(b.pixels.resize(size, Image.Resampling.BILINEAR), dtype=np.float64),
    )
    return max(resized, shifted_ncc(a, b, min_overlap))


def connected_groups(count: int, edges: Iterable[tuple[int, int, int, float]]) -> list[tuple[list[int], int, float]]:
    """Groups of items joined by ``(i, j, distance, similarity)`` edges: members, largest distance, least similarity.

    Groups chain (a~b and b~c put a, b, c together even when a and c are further apart), as near-copies of one
    picture do; singletons are left out.
    """
    parent = list(range(count))
    largest = [0] * count
    least = [1.0] * count

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, distance, score in edges:
        a, b = find(i), find(j)
        if a != b:
            parent[b] = a
        largest[a] = max(largest[a], largest[b], distance)
        least[a] = min(least[a], least[b], score)
    members: dict[int, list[int]] = {}
    for i in range(count):
        members.setdefault(find(i), []).append(i)
    return [(group, largest[root], least[root]) for root, group in members.items() if len(group) > 1]
