"""A memory budget for decoding uploads: concurrent decodes share ``decode_budget_mb`` per worker process.

Decoding a 36 MP 16-bit scan briefly needs two to three times its decoded size (the codec's buffers: 137-212 MB
for PNG, RLE, JPEG-LS and JPEG 2000 in ``benchmarks/bench_memory.py``), so 16 at once would need gigabytes.
Each upload's cost is estimated from its header before anything is decoded; decodes run together while their
costs fit in the budget, a larger one runs alone, the others queue (at most ``max_waiting``; past that 503 with
``Retry-After``). The C heap is trimmed after each decode and once more a second after the last one, when the
responses that held the images are gone, so the process returns to its baseline. (Allocator settings that return
memory by themselves, a fixed 1 MB mmap threshold or two malloc arenas, made torch inference 5-20x slower.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from PIL import Image

from mmedrag._optional import require
from mmedrag.serve.errors import ApiError
from mmedrag.serve.uploads import decode_image, sniff

PEAK_FACTOR = 3  # the codec's peak over the decoded frame: 1.9x (PNG, RLE, JPEG-LS) to 2.9x (JPEG 2000), measured
_SMALL = 1 << 20  # the cost of an upload whose header cannot be read: it fails fast in the decoder anyway


class DecodeBudget:
    """Admits decodes while their estimated costs fit in ``budget_bytes`` (see the module docstring)."""

    def __init__(self, budget_bytes: int, max_waiting: int = 64, retry_after_s: int = 1) -> None:
        self.budget, self.max_waiting, self.retry_after_s = budget_bytes, max_waiting, retry_after_s
        self.used = 0
        self.waiting = 0
        self._changed = asyncio.Condition()
        self._trim: asyncio.TimerHandle | None = None

    @contextlib.asynccontextmanager
    async def hold(self, cost: int) -> AsyncIterator[None]:
        """Wait until ``cost`` bytes fit (a cost over the whole budget waits until nothing else runs).

        Raises:
            ApiError: 503 with ``Retry-After`` when ``max_waiting`` decodes are already waiting.
        """
        cost = max(1, min(cost, self.budget))
        if self.used + cost > self.budget:
            if self.waiting >= self.max_waiting:
                raise ApiError(
                    503,
                    f"too many images are being decoded ({self.waiting} waiting); retry shortly",
                    {"Retry-After": str(self.retry_after_s)},
                )
            self.waiting += 1
            try:
                async with self._changed:
                    await self._changed.wait_for(lambda: self.used + cost <= self.budget)
            finally:
                self.waiting -= 1
        self.used += cost
        try:
            yield
        finally:
            self.used -= cost
            async with self._changed:
                self._changed.notify_all()
            if self.used == 0:
                self._trim_later()

    def _trim_later(self, delay_s: float = 1.0) -> None:
        """Trim the C heap once decoding has been idle for ``delay_s`` (on a worker thread)."""
        loop = asyncio.get_running_loop()
        if self._trim is not None:
            self._trim.cancel()
        self._trim = loop.call_later(delay_s, lambda: loop.run_in_executor(None, release_memory))


def decode_cost(data: bytes) -> int:
    """Bytes decoding ``data`` may take at its peak, from the header alone: decoded size x :data:`PEAK_FACTOR`."""
    kind = sniff(data)
    try:
        if kind == "dicom":
            return _dicom_bytes(data) * PEAK_FACTOR
        if kind in ("png", "jpeg"):
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                depth = 2 if image.mode.startswith("I") else 1
                return width * height * max(len(image.getbands()), 1) * depth * PEAK_FACTOR
    except Exception:  # an unreadable header: the decoder reports it in one line, quickly
        return _SMALL
    return _SMALL


def _dicom_bytes(data: bytes) -> int:
    pydicom = require("pydicom", "dicom")

    dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    rows, columns = int(dataset.get("Rows") or 0), int(dataset.get("Columns") or 0)
    samples = int(dataset.get("SamplesPerPixel") or 1)
    bits = int(dataset.get("BitsAllocated") or 16)
    return rows * columns * samples * max(bits // 8, 1)  # one frame: the decoder renders the middle one


def decode_and_release(data: bytes, max_pixels: int, keep_dir: Path | None) -> Image.Image:
    """:func:`~mmedrag.serve.uploads.decode_image`, then :func:`release_memory` (run on a worker thread)."""
    try:
        return decode_image(data, max_pixels, keep_dir)
    finally:
        release_memory()


def release_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``); a no-op elsewhere."""
    trim = _libc("malloc_trim")
    if trim is not None:
        trim(0)


_LIBC: dict[str, Any] = {}


def _libc(function: str) -> Any:
    if function not in _LIBC:
        name = ctypes.util.find_library("c")
        try:
            _LIBC[function] = getattr(ctypes.CDLL(name), function) if name else None
        except (OSError, AttributeError):
            _LIBC[function] = None
    return _LIBC[function]
