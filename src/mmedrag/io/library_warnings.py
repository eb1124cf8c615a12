"""Library warnings during ingestion go to the log and to the item they concern, not raw onto stderr.

Readers and decoders (pydicom's "Invalid value for VR IS", "Expected explicit VR, but found implicit VR", Pillow's
decompression warnings, ...) warn through :mod:`warnings`, which prints two stack-style lines per warning on stderr.
While a :class:`WarningCollector` is active, each warning is logged on the ``mmedrag.ingest`` logger (INFO, so
Python's last-resort handler stays quiet) and filed under the file being read, which the reading code names with
:func:`reading` (thread-local, so the image-decoding thread pool files its warnings correctly).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

LOG = logging.getLogger("mmedrag.ingest")
UNATTRIBUTED = "(source)"
_current = threading.local()


@contextmanager
def reading(item: str) -> Iterator[None]:
    """Name the file (or item) whose warnings follow; nests, and is harmless with no collector active."""
    previous = getattr(_current, "item", None)
    _current.item = item
    try:
        yield
    finally:
        _current.item = previous


class WarningCollector:
    """Collects warnings per item while active (a context manager; enter and leave it on one thread)."""

    def __init__(self) -> None:
        self.by_item: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._saved: Any = None

    def __enter__(self) -> WarningCollector:
        self._saved = warnings.catch_warnings()
        self._saved.__enter__()
        warnings.simplefilter("always")  # one line per item, not once per code location
        warnings.showwarning = self._show
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._saved.__exit__(kind, error, trace)

    def _show(
        self, message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: Any, **__: Any
    ) -> None:
        item = getattr(_current, "item", None) or UNATTRIBUTED
        text = f"{category.__name__}: {str(message).splitlines()[0] if str(message) else ''}"
        LOG.info("%s: %s", item, text)
        with self._lock:
            messages = self.by_item.setdefault(item, [])
            if text not in messages:
                messages.append(text)

    @property
    def count(self) -> int:
        """Distinct (item, message) pairs collected."""
        return sum(len(messages) for messages in self.by_item.values())
