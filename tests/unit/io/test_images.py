from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import make_image
from mmedrag.errors import ImageError
from mmedrag.io.images import dhash, hamming, load_image, pixel_sha256, source_size


def test_load_image_returns_decoded_rgb(tmp_path: Path) -> None:
    make_image(1, mode="L").save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.mode == "RGB" and image.size == (48, 40)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.png", b"", "empty (0 bytes)"),
        ("notes.png", b"this is a text file, not a picture", "not a readable image"),
    ],
)
def test_unreadable_files_fail_with_the_path_and_a_hint(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageError) as caught:
        load_image(tmp_path / name)
    assert str(tmp_path / name) in str(caught.value) and words in str(caught.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"missing\.png: image file not found"):
        load_image(tmp_path / "missing.png")


def test_truncated_image_is_reported_as_corrupt(tmp_path: Path) -> None:
    make_image(2, size=(200, 200)).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "cut.jpg")


def test_oversized_image_is_refused_before_decoding(tmp_path: Path) -> None:
    make_image(3, size=(300, 300)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="exceeds the limit"):
        load_image(tmp_path / "big.png", max_pixels=300 * 299)


def test_sixteen_bit_and_alpha_images_become_8_bit_rgb(tmp_path: Path) -> None:
    ramp = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    gray = np.asarray(load_image(tmp_path / "ramp16.png"))[..., 0]
    assert gray.min() == 0 and gray.max() == 255
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))
    rgba.save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).max() == 0  # transparent over black


def test_pixel_hash_ignores_encoding_but_not_content(tmp_path: Path) -> None:
    image = make_image(4)
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "a.bmp")
    assert pixel_sha256(load_image(tmp_path / "a.png")) == pixel_sha256(load_image(tmp_path / "a.bmp"))
    assert pixel_sha256(image) != pixel_sha256(make_image(5))


def test_dhash_is_close_for_resized_copies_and_far_for_other_images() -> None:
    image = make_image(6, size=(256, 256))
    resized = image.resize((128, 128))
    assert hamming(dhash(image), dhash(resized)) <= 4
    assert hamming(dhash(image), dhash(make_image(7, size=(256, 256)))) > 10


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_downscaled_images_remember_the_size_of_their_file(tmp_path: Path, suffix: str) -> None:
    Image.new("RGB", (2000, 1500), (90, 30, 200)).save(tmp_path / f"big{suffix}")
    Image.new("RGB", (200, 150), (90, 30, 200)).save(tmp_path / f"small{suffix}")
    big = load_image(tmp_path / f"big{suffix}", max_side=1024)
    small = load_image(tmp_path / f"small{suffix}", max_side=1024)
    assert big.size == (1024, 768) and source_size(big) == (2000, 1500)
    assert small.size == source_size(small) == (200, 150)


def test_a_crop_of_a_downscaled_image_does_not_claim_its_source_size(tmp_path: Path) -> None:
    Image.new("RGB", (2000, 1500), (90, 30, 200)).save(tmp_path / "big.png")
    crop = load_image(tmp_path / "big.png", max_side=1024).crop((0, 0, 500, 700))
    assert source_size(crop) == (500, 700)
