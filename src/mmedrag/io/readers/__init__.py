"""Dataset readers: each maps one public or user format into :class:`~mmedrag.types.Record` and
:class:`~mmedrag.types.Question` lists. :func:`read_source` picks the reader by name or by looking at the path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.io.readers.base import Dataset, ReaderFn
from mmedrag.io.readers.manifest_reader import read_jsonl_manifest
from mmedrag.io.readers.medpix import read_medpix2
from mmedrag.io.readers.mmed_rag import read_mmed_rag
from mmedrag.io.readers.vqa_rad import read_vqa_rad

READERS: dict[str, ReaderFn] = {
    "manifest": read_jsonl_manifest,
    "medpix2": read_medpix2,
    "vqa_rad": read_vqa_rad,
    "mmed_rag": read_mmed_rag,
}


def detect_format(source: str | Path) -> str:
    """Guess the reader for ``source`` from the files it holds; raise naming the formats when nothing fits."""
    path = Path(source)
    if path.is_file():
        if path.name.startswith(("retriever_", "report_test", "vqa_test")) or path.suffix == ".json":
            return "mmed_rag"
        if path.suffix == ".jsonl":
            return "manifest"
    elif path.is_dir():
        if (path / "Case_topic.json").is_file() or (path / "records_subset.jsonl").is_file():
            return "medpix2"
        if (path / "testset.json").is_file() and (path / "trainset.json").is_file():
            return "vqa_rad"
        if any(path.glob("retriever_*.json")) or (path / "vqa_test.jsonl").is_file():
            return "mmed_rag"
    if not path.exists():
        raise DataError(f"{path}: source not found; pass a manifest file or a dataset folder")
    raise DataError(f"{path}: cannot tell its format; pass --format with one of: {', '.join(READERS)}")


def read_source(source: str | Path, fmt: str = "auto", **options: Any) -> Dataset:
    """Read ``source`` with the reader named ``fmt`` (``auto`` detects it)."""
    path = Path(source).expanduser().resolve()
    name = detect_format(path) if fmt == "auto" else fmt
    if name not in READERS:
        raise DataError(f"unknown format {name!r}; use one of: auto, {', '.join(READERS)}")
    return READERS[name](path, **options)


__all__ = ["READERS", "Dataset", "detect_format", "read_source"]
