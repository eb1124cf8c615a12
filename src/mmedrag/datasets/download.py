"""One HTTP download that resumes and verifies: ``<file>.part`` grows with range requests; the file appears only once
its size and SHA-256 match the catalogue.

Only the standard library is used (``urllib``), so fetching data needs no extra. Redirects are followed and the
``Range`` header travels with them.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.metadata
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mmedrag.datasets.catalogue import ChecksumError, FetchError

CHUNK = 1 << 16
MIRROR_ENV = "MMEDRAG_DATA_MIRROR"


def mirrored(url: str, mirror: str | None) -> str:
    """``https://host/path`` -> ``{mirror}/host/path`` when a mirror is set (a caching proxy laid out by host)."""
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + url.split("://", 1)[-1]


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Incomplete(Exception):
    """The connection ended before the announced length; retried, resuming where it stopped."""


def _agent() -> str:
    try:
        version = importlib.metadata.version("mmedrag")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was not installed
        version = "0"
    return f"mmedrag/{version} (+dataset fetch)"


def _download_once(url: str, part: Path, size: int | None, seen: Callable[[int], None], timeout: float) -> None:
    """Append to ``part`` from where it stops (HTTP range request); raise when the transfer ends early."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:  # not a prefix of the file we want: start over
        part.unlink()
        have = 0
    if size is not None and have == size:
        return
    headers = {"User-Agent": _agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our partial file is not a prefix of what the server has: start over
            part.unlink()
            raise _Incomplete("the server refused to resume; starting over") from exc
        raise
    with response:
        if have and response.status != 206:  # the server ignored the range: it sends the whole file again
            have = 0
        announced = response.headers.get("Content-Length")
        received = 0
        seen(have)
        with open(part, "ab" if have else "wb") as handle:
            while chunk := response.read(CHUNK):
                handle.write(chunk)
                received += len(chunk)
                seen(have + received)
            handle.flush()
            os.fsync(handle.fileno())
    # http.client does not raise when a connection closes before Content-Length bytes: check it here.
    if announced is not None and received < int(announced):
        raise _Incomplete(f"connection closed after {have + received} bytes")


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None,
    label: str,
    on_bytes: Callable[[int], None] = lambda _: None,
    retries: int = 3,
    backoff: float = 1.0,
    timeout: float = 60.0,
) -> None:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming it; ``dest`` appears only when it verifies.

    Args:
        url: where to fetch from.
        dest: the verified file's final path.
        sha256: expected hex SHA-256 (``None``: the caller verifies what it unpacks from the file).
        size: expected size in bytes, if known.
        label: how errors name the file (``dataset/path``).
        on_bytes: called with each number of new bytes, for a progress bar.
        retries: further attempts after a connection error or a 5xx answer, each resuming the partial file.
        backoff: seconds before the first retry, doubled each time.
        timeout: socket timeout in seconds.

    Raises:
        FetchError: the server answered an error, or the transfer failed ``retries + 1`` times.
        ChecksumError: the complete file has the wrong size or SHA-256 (the partial file is deleted).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    counted = 0

    def seen(total: int) -> None:
        nonlocal counted
        if total > counted:
            on_bytes(total - counted)
            counted = total

    for attempt in range(retries + 1):
        try:
            _download_once(url, part, size, seen, timeout)
            break
        except urllib.error.HTTPError as exc:
            if (exc.code < 500 and exc.code != 429) or attempt == retries:  # 429: rate limited, worth a retry
                raise FetchError(f"{label}: HTTP {exc.code} {exc.reason} from {url}") from exc
        except (_Incomplete, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if attempt == retries:
                reason = getattr(exc, "reason", None) or exc
                raise FetchError(
                    f"{label}: download from {url} failed ({reason}); run the same command again to resume"
                ) from exc
        time.sleep(backoff * 2**attempt)
    got_size = part.stat().st_size
    got = sha256_file(part) if sha256 else None
    if (size is not None and got_size != size) or (sha256 and got != sha256):
        part.unlink()
        raise ChecksumError(
            f"{label}: checksum mismatch ({got_size} bytes, SHA-256 {(got or '?')[:12]}..., expected {size} bytes, "
            f"{(sha256 or '?')[:12]}...) from {url}; deleted, nothing marked usable"
        )
    os.replace(part, dest)


__all__ = ["MIRROR_ENV", "download", "mirrored", "sha256_file"]
