"""The catalogue of public datasets mmedrag can fetch: where each file comes from, its SHA-256, size and licence.

The catalogue ships in the package (``catalogue.json``). Each dataset names one or more *sources*: a base URL whose
files are fetched one by one (``kind: files``, e.g. a GitHub repository pinned to a commit) or an archive fetched
whole and verified before its members are taken out (``kind: zip``). Every catalogued file carries the SHA-256 of
the bytes that end up on disk; a file built from an upstream file (``transform``) also carries the SHA-256 of what
is downloaded. Files marked ``optional`` are convenience copies that are not published upstream: ``verify`` checks
them when present, ``fetch`` does not produce them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError, DataError

CATALOGUE_FORMAT = 1
MARKER_NAME = ".mmedrag-dataset.json"


class FetchError(DataError):
    """A download failed (HTTP error, connection lost, truncated or corrupt archive)."""


class ChecksumError(FetchError):
    """A downloaded or unpacked file does not have the catalogued SHA-256."""


class LicenceError(FetchError):
    """A dataset's licence restricts use and the user has not accepted it."""


@dataclass(frozen=True)
class Licence:
    """A dataset's licence; ``terms`` lists the restrictions a user must accept (non-commercial, share-alike...)."""

    id: str
    name: str
    url: str
    terms: tuple[str, ...] = ()
    note: str = ""

    @property
    def restricted(self) -> bool:
        """True when use is restricted (non-commercial, share-alike, no derivatives, unclear terms)."""
        return bool(self.terms)


@dataclass(frozen=True)
class Source:
    """Where files come from: a base URL (``files``) or one archive (``zip``) with its own checksum."""

    name: str
    kind: str
    url: str
    sha256: str | None = None
    size: int | None = None
    repository: str = ""
    commit: str = ""


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset: its path in the dataset folder, checksum, size and where it comes from."""

    path: str
    sha256: str
    size: int
    source: str | None = None
    member: str | None = None
    optional: bool = False
    download_sha256: str | None = None
    download_size: int | None = None
    transform: dict[str, Any] | None = None
    note: str = ""

    @property
    def upstream(self) -> str:
        """The file's name inside its source (the archive member or the path under the base URL)."""
        return self.member or self.path


@dataclass(frozen=True)
class Dataset:
    """One catalogue entry."""

    name: str
    title: str
    description: str
    homepage: str
    licence: Licence
    citation: str
    counts: dict[str, int]
    layout: str
    sources: dict[str, Source]
    files: tuple[FileEntry, ...] = field(repr=False)

    @property
    def fetchable(self) -> tuple[FileEntry, ...]:
        """The files a fetch produces (every file that has a source)."""
        return tuple(f for f in self.files if f.source is not None)

    @property
    def size(self) -> int:
        """Bytes of the files a fetch produces."""
        return sum(f.size for f in self.fetchable)

    @property
    def download_size(self) -> int:
        """Bytes a fetch downloads (whole archives, upstream files before their transform)."""
        total = 0
        for source in self.sources.values():
            if source.kind == "zip":
                total += source.size or sum(f.size for f in self.fetchable if f.source == source.name)
        for entry in self.fetchable:
            if self.sources[entry.source].kind == "files":  # type: ignore[index]
                total += entry.download_size or entry.size
        return total


def data_root(explicit: str | Path | None = None) -> Path:
    """Where datasets live: ``explicit``, else ``$MMEDRAG_DATA``, else ``~/.cache/mmedrag/data``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("MMEDRAG_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "mmedrag" / "data"


def _dataset(name: str, raw: dict[str, Any]) -> Dataset:
    sources = {key: Source(name=key, **value) for key, value in raw["sources"].items()}
    files = []
    for raw_item in raw["files"]:
        item = dict(raw_item)
        download = item.pop("download", None) or {}
        entry = FileEntry(**item, download_sha256=download.get("sha256"), download_size=download.get("size"))
        parts = Path(entry.path).parts
        if not parts or Path(entry.path).is_absolute() or ".." in parts:
            raise ConfigError(f"catalogue: {name} file path {entry.path!r} must be relative, inside the dataset folder")
        if entry.source is not None and entry.source not in sources:
            raise ConfigError(f"catalogue: {name}/{entry.path} names unknown source {entry.source!r}")
        files.append(entry)
    licence = raw["licence"]
    return Dataset(
        name=name,
        title=raw["title"],
        description=raw["description"],
        homepage=raw["homepage"],
        licence=Licence(**{**licence, "terms": tuple(licence.get("terms", ()))}),
        citation=raw["citation"],
        counts=dict(raw.get("counts", {})),
        layout=raw.get("layout", ""),
        sources=sources,
        files=tuple(files),
    )


def parse_catalogue(data: dict[str, Any]) -> dict[str, Dataset]:
    """Build the datasets of a catalogue document (the parsed ``catalogue.json``)."""
    if data.get("format") != CATALOGUE_FORMAT:
        raise ConfigError(f"catalogue: format {data.get('format')!r} is not {CATALOGUE_FORMAT}; upgrade mmedrag")
    return {name: _dataset(name, raw) for name, raw in data["datasets"].items()}


@lru_cache(maxsize=1)
def load_catalogue() -> dict[str, Dataset]:
    """The catalogue shipped with the package, by dataset name."""
    text = resources.files("mmedrag.datasets").joinpath("catalogue.json").read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text))


def get_dataset(name: str, catalogue: dict[str, Dataset] | None = None) -> Dataset:
    """The catalogue entry ``name``; a one-line error lists the known names otherwise."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    if name not in catalogue:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(catalogue))} (mmedrag data list)")
    return catalogue[name]


def human_size(size: float) -> str:
    """``1234567`` -> ``'1.2 MB'`` (decimal units, as download tools print them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns


__all__ = [
    "MARKER_NAME",
    "ChecksumError",
    "Dataset",
    "FetchError",
    "FileEntry",
    "Licence",
    "LicenceError",
    "Source",
    "data_root",
    "get_dataset",
    "human_size",
    "load_catalogue",
    "parse_catalogue",
]
