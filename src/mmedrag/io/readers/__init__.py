"""Dataset readers: each maps one public or user format into :class:`~mmedrag.types.Record` and
:class:`~mmedrag.types.Question` items. :func:`iter_source` streams them; :func:`read_source` collects them.

To add a format, write a module with a generator ``read_x(source: Path, **options)`` and a ``SPEC``, and list it
in ``_SPECS`` below (detection tries them in that order).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError, DataError
from mmedrag.io.manifest import MAX_METADATA_DEPTH, metadata_depth_exceeds
from mmedrag.io.readers import (
    covid,
    dicom_reader,
    folder,
    ham10000,
    hf_datasets,
    manifest_reader,
    medmnist,
    medpix,
    mmed_rag,
    openi,
    tabular,
    vqa_rad,
)
from mmedrag.io.readers.base import Dataset, Item, ReaderSpec, SkippedItem
from mmedrag.types import Question, Record

# Most specific first: detection takes the first match, and the CSV and folder rules are the broadest.
_SPECS: tuple[ReaderSpec, ...] = (
    openi.SPEC,
    covid.SPEC,
    ham10000.SPEC,
    medmnist.SPEC,
    hf_datasets.SPEC,
    medpix.SPEC,
    vqa_rad.SPEC,
    mmed_rag.SPEC,
    manifest_reader.SPEC,
    dicom_reader.SPEC,
    tabular.SPEC,
    folder.SPEC,
)
READERS: dict[str, ReaderSpec] = {spec.name: spec for spec in _SPECS}


def detect_format(source: str | Path) -> str:
    """Guess the reader for ``source`` from the files it holds; raise naming the formats when nothing fits."""
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: source not found; pass a manifest file or a dataset folder")
    for spec in _SPECS:
        if spec.detect(path):
            return spec.name
    raise DataError(f"{path}: cannot tell its format; pass --format with one of: {', '.join(READERS)}")


def iter_source(source: str | Path, fmt: str = "auto", **options: Any) -> Iterator[Item]:
    """Stream the items of ``source`` read with the reader named ``fmt`` (``auto`` detects it)."""
    path = Path(source).expanduser().resolve()
    name = detect_format(path) if fmt == "auto" else fmt
    if name not in READERS:
        raise DataError(f"unknown format {name!r}; use one of: auto, {', '.join(READERS)}")
    _check_options(name, READERS[name].read, options)
    return _checked(READERS[name].read(path, **options))


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


__all__ = ["READERS", "Dataset", "Item", "ReaderSpec", "SkippedItem", "detect_format", "iter_source", "read_source"]
