"""Uploaded images: sniffed by content (never by name or declared type), size-checked before decoding, decoded.

PNG and JPEG get a header-only pixel check; then every upload goes through the ingester's own decoder
(:func:`mmedrag.io.images.load_image`; for DICOM the modality LUT, the file's VOI window, MONOCHROME1), so a query
is rendered exactly as the knowledge base was. An upload lives in a private temporary file only while it is
decoded; nothing is kept unless the service was started with ``--keep-uploads``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from mmedrag.errors import ImageError, MissingExtraError
from mmedrag.io.images import DECODE_SIDE, load_image
from mmedrag.serve.errors import ApiError

KINDS = ("png", "jpeg", "dicom")
_DICOM_OFFSET = 128  # PS3.10 §7.1: a 128-byte preamble, then "DICM"


def sniff(data: bytes) -> str | None:
    """``png``, ``jpeg`` or ``dicom`` from the first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= _DICOM_OFFSET + 4 and data[_DICOM_OFFSET : _DICOM_OFFSET + 4] == b"DICM":
        return "dicom"
    return None


def decode_base64(text: str, max_bytes: int) -> bytes:
    """A base64 string or a ``data:image/...;base64,`` URL -> bytes.

    Raises:
        ApiError: 400 for text that is not base64, 413 when the decoded image is larger than ``max_bytes``.
    """
    payload = text.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or not header.endswith(";base64"):
            raise ApiError(400, "image data URLs must be 'data:image/...;base64,<data>'")
    if len(payload) * 3 // 4 > max_bytes:
        raise ApiError(413, f"the image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "the image is not valid base64") from None


def decode_image(data: bytes, max_pixels: int, keep_dir: Path | None = None) -> Image.Image:
    """Bytes of a PNG, JPEG or DICOM file -> an RGB image, decoded exactly as ``mmedrag ask --image`` decodes a file.

    Raises:
        ApiError: 400 empty or corrupt, 413 more than ``max_pixels`` pixels (a decompression bomb included),
            415 not PNG, JPEG or DICOM (whatever the file name or declared type said).
    """
    if not data:
        raise ApiError(400, "the image is empty (0 bytes)")
    kind = sniff(data)
    if kind is None:
        raise ApiError(415, "the image is not PNG, JPEG or DICOM (checked by content, not by name)")
    if kind != "dicom":
        _check_header(data, kind, max_pixels)
    if keep_dir is not None:
        _keep(data, kind, keep_dir)
    # The ingester's own decoder on a private temporary file: the same VOI windowing for DICOM and the same
    # downscaling to DECODE_SIDE as the index, so the leakage guard's pixel hashes compare like with like.
    # A private file (mode 0600, random name) that is unlinked when closed: one create and one unlink per request.
    with tempfile.NamedTemporaryFile(prefix="mmedrag-upload-", suffix=f".{'dcm' if kind == 'dicom' else kind}") as file:
        file.write(data)
        file.flush()
        path = Path(file.name)
        try:
            return load_image(path, max_pixels=max_pixels, max_side=DECODE_SIDE)
        except MissingExtraError as exc:
            raise ApiError(415, f"DICOM uploads need the dicom extra on the server ({exc})") from None
        except ImageError as exc:
            message = str(exc).replace(str(path), f"{kind.upper()} upload")  # never echo a server path
            too_large = any(word in message for word in ("exceed", "budget", "DecompressionBomb"))
            raise ApiError(413 if too_large else 400, message) from None


def _check_header(data: bytes, kind: str, max_pixels: int) -> None:
    """Refuse too many pixels from the header alone, before anything is decoded (413)."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"] if kind == "png" else ["JPEG"]) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        raise ApiError(413, f"the image decompresses past the limit of {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ApiError(400, f"the {kind.upper()} image is corrupt or truncated ({type(exc).__name__})") from None
    if width * height > max_pixels:
        raise ApiError(413, f"the image has {width}x{height} pixels, more than the limit of {max_pixels}")


def _keep(data: bytes, kind: str, folder: Path) -> None:
    """Store an upload under its content hash (``--keep-uploads``); the name never comes from the request."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    target = folder / f"{digest}.{'dcm' if kind == 'dicom' else kind}"
    if target.exists():
        return
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, target)
