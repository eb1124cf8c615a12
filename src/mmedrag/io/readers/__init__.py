"""Dataset readers: each maps one public or user format into :class:`~mmedrag.types.Record` and
:class:`~mmedrag.types.Question` items. :func:`iter_source` streams them; :func:`read_source` collects them.

To add a format, write a module with a generator ``read_x(source: Path, **options)`` and a ``SPEC``, and register
it in :data:`mmedrag.backends.READERS` (detection tries readers in registration order).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.backends import READERS
from mmedrag.errors import ConfigError, DataError
from mmedrag.io.manifest import MAX_METADATA_DEPTH, metadata_depth_exceeds
from mmedrag.io.readers.base import Dataset, Item, ReaderSpec, SkippedItem
from mmedrag.types import Question, Record


def reader(name: str) -> ReaderSpec:
    """The reader registered as ``name`` in :data:`mmedrag.backends.READERS`."""
    if name not in READERS.names():
        raise DataError(f"unknown format {name!r}; use one of: auto, {', '.join(READERS.names())}")
    spec: ReaderSpec = READERS.get(name)
    return spec


def detect_format(source: str | Path) -> str:
    """Guess the reader for ``source`` from the files it holds; raise naming the formats when nothing fits."""
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: source not found; pass a manifest file or a dataset folder")
    for name in READERS.names():  # registration order is detection order
        if reader(name).detect(path):
            return name
    raise DataError(f"{path}: cannot tell its format; pass --format with one of: {', '.join(READERS.names())}")


def iter_source(source: str | Path, fmt: str = "auto", **options: Any) -> Iterator[Item]:
    """Stream the items of ``source`` read with the reader named ``fmt`` (``auto`` detects it)."""
    path = Path(source).expanduser().resolve()
    name = detect_format(path) if fmt == "auto" else fmt
    spec = reader(name)
    _check_options(name, spec.read, options)
    return _checked(spec.read(path, **options))


def _checked(items: Iterator[Item]) -> Iterator[Item]:
    """Per-item checks every reader gets: a record whose metadata nests too deeply becomes that record's error."""
    for item in items:
        if isinstance(item, Record | Question) and metadata_depth_exceeds(item.metadata):
            kind = "record" if isinstance(item, Record) else "question"
            yield DataError(f"{kind} {item.id}: metadata nested deeper than {MAX_METADATA_DEPTH} levels; flatten it")
        else:
            yield item


def _check_options(name: str, read: Any, options: dict[str, Any]) -> None:
    """Refuse options the reader does not take, naming the ones it does (instead of a TypeError from the call)."""
    parameters = list(inspect.signature(read).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    known = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        takes = f"it takes: {', '.join(known)}" if known else "it takes no options"
        raise ConfigError(f"reader {name!r} has no option {', '.join(map(repr, unknown))}; {takes}")


def read_source(source: str | Path, fmt: str = "auto", **options: Any) -> Dataset:
    """Read all of ``source`` into a :class:`Dataset`; see :func:`iter_source`."""
    return Dataset.collect(f"{fmt}:{source}", iter_source(source, fmt, **options))


__all__ = ["Dataset", "Item", "ReaderSpec", "SkippedItem", "detect_format", "iter_source", "read_source", "reader"]
