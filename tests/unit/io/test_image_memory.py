"""Decoding is bounded by what the encoder needs: bit depth and channels count in the budget, 16-bit scans convert
without float64 copies, and images are downscaled as they decode (index batches never hold full-size scans)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmedrag.errors import ImageError
from mmedrag.io.images import DECODE_SIDE, load_image, to_rgb

SIDE = 3000


@pytest.fixture(scope="module")
def scan16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16-bit grey PNG of 3000x3000 (a small stand-in for a 12000x12000 scan), with structure in it."""
    axis = np.linspace(0, 1, SIDE, dtype=np.float32)
    pixels = (np.outer(axis, axis[::-1]) * 60000 + 1000).astype(np.uint16)
    pixels[1000:1500, 200:900] = 65000
    path = tmp_path_factory.mktemp("scan") / "scan16.png"
    Image.fromarray(pixels).save(path, compress_level=1)
    return path


def peak_numpy_bytes(action) -> int:  # noqa: ANN001
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_sixteen_bit_conversion_has_no_float64_copy(scan16: Path) -> None:
    with Image.open(scan16) as image:
        image.load()
        peak = peak_numpy_bytes(lambda: to_rgb(image))
        expected = np.asarray(image, dtype=np.float64)
    # The float64 scaling allocated 8+8 bytes per pixel; the row-block conversion needs the 2-byte source copy and
    # the 1-byte result (the RGB image PIL makes is outside this accounting).
    assert peak < 4 * SIDE * SIDE, f"{peak / 1e6:.0f} MB for {SIDE * SIDE / 1e6:.0f} MP"
    low, high = expected.min(), expected.max()
    reference = ((expected - low) / (high - low) * 255.0).astype(np.uint8)
    converted = np.asarray(to_rgb(Image.open(scan16)))[..., 0]
    assert np.abs(converted.astype(int) - reference).max() <= 1


def test_images_downscale_to_the_decode_side_as_they_decode(scan16: Path, tmp_path: Path) -> None:
    peak = peak_numpy_bytes(lambda: load_image(scan16, max_side=DECODE_SIDE))
    image = load_image(scan16, max_side=DECODE_SIDE)
    assert image.mode == "RGB" and max(image.size) == DECODE_SIDE
    assert peak < 16 * DECODE_SIDE * DECODE_SIDE  # never a full-size numpy copy of the 9 MP scan
    jpeg = tmp_path / "big.jpg"
    Image.open(scan16).convert("RGB").resize((4000, 2000)).save(jpeg, quality=90)
    assert load_image(jpeg, max_side=500).size == (500, 250)
    small = tmp_path / "small.png"
    Image.new("RGB", (300, 200), (10, 20, 30)).save(small)
    assert load_image(small, max_side=DECODE_SIDE).size == (300, 200)  # small images are left as they are


def test_the_budget_counts_bit_depth_and_channels(tmp_path: Path) -> None:
    wide = tmp_path / "wide.tif"
    Image.fromarray(np.full((40, 40), 70000, dtype=np.int32), mode="I").save(wide)  # 4 bytes per pixel
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (40, 40)).save(rgb)  # 3 bytes per pixel
    assert load_image(rgb, max_pixels=1600).size == (40, 40)
    with pytest.raises(ImageError, match=r"wide\.tif: 40x40 I pixels take .* over the budget"):
        load_image(wide, max_pixels=1600)


def test_index_batches_hold_downscaled_views(tmp_path: Path, scan16: Path) -> None:
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.indexing import IndexReport, _load_views
    from mmedrag.types import Record

    encoder = HashEncoder(dim=8)
    views = _load_views(Record(id="a", image_paths=(str(scan16),)), "require", IndexReport(index="x"), encoder)
    assert views is not None and max(views[0].size) <= DECODE_SIDE
    assert encoder.encode_images(views).shape == (1, 8)
