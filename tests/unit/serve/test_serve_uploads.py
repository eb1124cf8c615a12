"""Uploads are sniffed by content, size-checked before decoding, and DICOM goes through the ingester's decoder."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from PIL import Image

from conftest import make_image
from mmedrag.serve.errors import ApiError
from mmedrag.serve.uploads import decode_base64, decode_image, sniff
from serve_helpers import dicom_bytes, png_bytes, small_png


def _status(data: bytes, max_pixels: int = 1_000_000) -> int:
    with pytest.raises(ApiError) as caught:
        decode_image(data, max_pixels)
    return caught.value.status


def test_sniffing_reads_content_not_names() -> None:
    jpeg = io.BytesIO()
    make_image(1).save(jpeg, format="JPEG")
    assert sniff(png_bytes()) == "png"
    assert sniff(jpeg.getvalue()) == "jpeg"
    assert sniff(dicom_bytes()) == "dicom"
    assert sniff(b"GIF89a....") is None
    assert sniff(b"%PDF-1.7") is None


def test_png_and_jpeg_decode_to_rgb() -> None:
    image = decode_image(png_bytes(size=(40, 30)), 10_000)
    assert image.mode == "RGB" and image.size == (40, 30)


def test_bad_uploads_get_the_right_status() -> None:
    assert _status(b"") == 400
    assert _status(b"hello, not an image") == 415
    assert _status(png_bytes()[:60]) == 400  # truncated PNG
    gif = io.BytesIO()
    make_image(2).save(gif, format="GIF")
    assert _status(gif.getvalue()) == 415  # a real image, but not a type the service takes


def test_too_many_pixels_is_413_before_decoding() -> None:
    bomb = small_png((8000, 8000))  # 64 MP of zeros compress to a few tens of KB: a decompression bomb
    assert len(bomb) < 200_000
    assert _status(bomb, max_pixels=1_000_000) == 413


def test_dicom_upload_is_rendered_with_the_ingester_windowing() -> None:
    image = decode_image(dicom_bytes(), 1_000_000)
    assert image.size == (128, 128) and image.mode == "RGB"
    from pydicom.data import get_testdata_file

    from mmedrag.io.images import load_image

    same = load_image(get_testdata_file("CT_small.dcm"))  # what `mmedrag ingest` makes of the same file
    assert np.array_equal(np.asarray(image), np.asarray(same))


def test_dicom_pixel_limit_and_corruption_never_echo_server_paths() -> None:
    with pytest.raises(ApiError) as caught:
        decode_image(dicom_bytes(), 100)
    assert caught.value.status == 413 and "/tmp" not in caught.value.message
    broken = dicom_bytes()[:600]
    with pytest.raises(ApiError) as caught:
        decode_image(broken, 1_000_000)
    assert caught.value.status == 400 and "mmedrag-upload" not in caught.value.message


def test_base64_and_data_urls() -> None:
    data = png_bytes()
    encoded = base64.b64encode(data).decode()
    assert decode_base64(encoded, 10**6) == data
    assert decode_base64("data:image/png;base64," + encoded, 10**6) == data
    for bad, status in (("not base64!!", 400), ("data:image/png," + encoded, 400), (encoded, 413)):
        with pytest.raises(ApiError) as caught:
            decode_base64(bad, 10 if status == 413 else 10**6)
        assert caught.value.status == status


def test_keep_uploads_stores_by_content_hash_only(tmp_path) -> None:
    decode_image(png_bytes(), 10**6, keep_dir=tmp_path / "kept")
    decode_image(png_bytes(), 10**6, keep_dir=tmp_path / "kept")
    kept = list((tmp_path / "kept").iterdir())
    assert len(kept) == 1 and kept[0].suffix == ".png" and len(kept[0].stem) == 64
    assert Image.open(kept[0]).size == (64, 64)
