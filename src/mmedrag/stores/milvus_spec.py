"""Where a Milvus-backed index lives: the ``milvus:`` spec, the connection and the collection's name.

The same code talks to Milvus Lite (``milvus:./folder``, embedded, one process), a standalone server and a cluster
(``milvus:http://host:19530``) through ``pymilvus.MilvusClient``; the token comes from ``MILVUS_TOKEN`` or the
config file, never from the command line. Only features Milvus 2.3 has are used (schema, HNSW/IVF, upsert, delete,
filtered search, query, aliases), so the code runs on old servers and current clusters alike.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError, IndexFolderError

# Index types Milvus Lite 3.2.2 really builds (others are accepted, then searched by brute force: offline.md §6).
LITE_INDEXES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "HNSW_SQ", "AUTOINDEX")
SERVER_INDEXES = ("FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN", "AUTOINDEX")
BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "HNSW": {"M": 16, "efConstruction": 200},
    "HNSW_SQ": {"M": 16, "efConstruction": 200, "sq_type": "SQ8"},
    "IVF_FLAT": {"nlist": 1024},
    "IVF_SQ8": {"nlist": 1024},
    "IVF_PQ": {"nlist": 1024, "m": 64, "nbits": 8},
}
BUILD_KEYS = {"M", "efConstruction", "nlist", "m", "nbits", "sq_type"}
SEARCH_KEYS = {"ef", "nprobe"}
CONSISTENCY = ("Strong", "Bounded", "Session", "Eventually")
MAX_ID = 2_048  # bytes of a record (or vector) id: the VARCHAR primary key's length in both collection layouts
MILVUS_POINTER = "milvus.json"  # in an index folder: where its Milvus index lives (never the token)
_REMOTE = ("http://", "https://", "tcp://", "grpc://", "unix:")
_CLIENTS: dict[tuple[str, str], Any] = {}
_log = logging.getLogger(__name__)
LITE_LOCK = "LOCK"  # milvus_lite.db.LOCK_FILENAME: the file its process holds with flock


@dataclass(frozen=True)
class MilvusSpec:
    """Where an index lives and how its vectors are indexed (no secrets: the token is read when connecting).

    Args:
        uri: a Milvus Lite folder (or ``.db`` path) or a server URI such as ``http://host:19530``.
        collection: the index's name (the alias readers use); default: the index folder's name.
        index_type: HNSW (default), IVF_FLAT, IVF_SQ8, ... with ``index_params`` and ``search_params``.
        consistency: what searches wait for. ``Strong`` (default) sees every acknowledged write but waits for the
            server's time tick (up to 200 ms per search on a default server); ``Bounded`` answers at once from data
            at most a few seconds old (Milvus' own default; right for serving replicas).
        partitions: hash partitions of the ``domain`` partition key (a domain filter searches only its own).
    """

    uri: str
    collection: str | None = None
    index_type: str = "HNSW"
    index_params: dict[str, Any] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    consistency: str = "Strong"
    partitions: int = 16

    @property
    def remote(self) -> bool:
        return self.uri.startswith(_REMOTE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "milvus",
            "uri": self.uri,
            "collection": self.collection,
            "index_type": self.index_type,
            "index_params": dict(self.index_params),
            "search_params": dict(self.search_params),
            "consistency": self.consistency,
            "partitions": self.partitions,
        }


def _number(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _options(spec: str) -> dict[str, Any]:
    kind, _, rest = spec.partition(":")
    uri, _, options = rest.partition("|")
    raw: dict[str, Any] = {"kind": kind, "uri": uri}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, eq, value = item.partition("=")
        if key.strip().lower() in {"token", "password", "user"}:
            raise ConfigError("never put a Milvus token in a spec string; set MILVUS_TOKEN or `token` in the config")
        if not eq:
            raise ConfigError(f"Milvus option {item!r} is not key=value")
        raw[key.strip()] = _number(value.strip())
    return raw


def parse_milvus_spec(spec: str | Mapping[str, Any]) -> tuple[MilvusSpec, str | None]:
    """``milvus:URI|collection=NAME,index=IVF_FLAT,nlist=1024,nprobe=32,consistency=Bounded`` or a dict.

    Returns:
        The spec and the token from the dict (config files only), or None.

    Raises:
        ConfigError: a token on the command line, an unknown option or index type.
    """
    raw = _options(spec) if isinstance(spec, str) else dict(spec)
    if raw.pop("kind", "milvus") != "milvus" or not str(raw.get("uri", "")).strip():
        raise ConfigError(
            f"store spec {spec!r} is not milvus:URI (e.g. milvus:./milvus-data or milvus:http://host:19530)"
        )
    token = raw.pop("token", None)
    index_type = str(raw.pop("index", raw.pop("index_type", "HNSW"))).upper()
    build = {**BUILD_DEFAULTS.get(index_type, {}), **dict(raw.pop("index_params", {}) or {})}
    search = dict(raw.pop("search_params", {}) or {})
    uri, collection = str(raw.pop("uri")).strip(), raw.pop("collection", None)
    consistency = str(raw.pop("consistency", "Strong")).capitalize()
    partitions = int(raw.pop("partitions", 16))
    if not 1 <= partitions <= 1024:
        raise ConfigError(f"Milvus partitions must be between 1 and 1024, got {partitions}")
    if consistency not in CONSISTENCY:
        raise ConfigError(f"Milvus consistency {consistency!r} is not one of {', '.join(CONSISTENCY)}")
    for key, value in raw.items():
        if key in BUILD_KEYS:
            build[key] = value
        elif key in SEARCH_KEYS:
            search[key] = value
        else:
            raise ConfigError(
                f"unknown Milvus option {key!r}; use collection, index, {sorted(BUILD_KEYS | SEARCH_KEYS)}"
            )
    parsed = MilvusSpec(
        uri, str(collection) if collection else None, index_type, build, search, consistency, partitions
    )
    allowed = SERVER_INDEXES if parsed.remote else LITE_INDEXES
    if index_type not in allowed:
        where = "a Milvus server" if parsed.remote else "Milvus Lite (it accepts others, then searches by brute force)"
        raise ConfigError(f"index type {index_type!r} is not built by {where}; use one of {', '.join(allowed)}")
    if collection is not None:
        check_name(str(collection))
    return parsed, token


def is_milvus_store(store: str | Mapping[str, Any] | None) -> bool:
    """True for a ``milvus:...`` store spec or a ``{"kind": "milvus", ...}`` dict."""
    if isinstance(store, Mapping):
        return store.get("kind") == "milvus"
    return isinstance(store, str) and store.startswith("milvus:")


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", name):
        raise ConfigError(f"Milvus collection name {name!r} must be letters, digits and _ (not starting with a digit)")
    return name


def default_name(folder: str | Path) -> str:
    """A collection name from an index folder's name (``idx/cxr-2024`` -> ``cxr_2024``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", Path(folder).resolve().name) or "mmedrag"
    return name if not name[0].isdigit() else f"i_{name}"


class LiteFolderBusyError(IndexFolderError):
    """Another process holds a Milvus Lite folder (Lite is embedded: one process per folder)."""


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    # milvus_lite logs a full traceback before pymilvus raises its own error; the one-line error below says it all.
    logger = logging.getLogger(logger_name)
    disabled, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = disabled


def lite_folder_free(path: Path) -> bool:
    """True when no other process holds the Milvus Lite folder ``path`` (its ``LOCK`` file, taken with flock)."""
    lock = path / LITE_LOCK
    if not lock.is_file() or os.name != "posix":  # Lite's own lock (msvcrt on Windows) then reports it
        return True
    import fcntl

    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def lite_path(spec: MilvusSpec) -> Path:
    """The Milvus Lite data folder of a local spec (``DIR/milvus.db`` for a folder, the ``.db`` path as given)."""
    path = Path(spec.uri).expanduser().resolve()
    return path if path.suffix == ".db" else path / "milvus.db"


def connect(
    spec: MilvusSpec, token: str | None = None, wait: bool = False, on_wait: Callable[[str], None] | None = None
) -> Any:
    """A cached ``MilvusClient`` for the spec's URI (Milvus Lite allows one client per folder per process).

    Args:
        wait: when another process uses the Milvus Lite folder, wait until it lets go (telling ``on_wait`` once):
            what writers do, as they do for an index folder's writer lock. Readers fail at once: the other
            process may be a server that runs for days.

    Raises:
        LiteFolderBusyError: another process uses the Milvus Lite folder and ``wait`` is False.
        IndexFolderError: the server is unreachable or refuses the token.
    """
    pymilvus = require("pymilvus", "milvus")
    token = token or os.environ.get("MILVUS_TOKEN", "")
    uri = spec.uri
    if not spec.remote:
        path = lite_path(spec)
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = str(path)
        # Milvus Lite has no MVCC timestamps: pymilvus warns on every query iterator that it falls back to its own.
        logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
    key = (uri, token)
    told = False
    while key not in _CLIENTS:
        if not spec.remote and not lite_folder_free(Path(uri)):
            if not wait:
                raise LiteFolderBusyError(_busy(spec))
            if not told:
                (on_wait or _log.warning)(f"{spec.uri}: another process is using this Milvus Lite folder; waiting")
                told = True
            time.sleep(0.5)
            continue
        try:
            with _quiet("milvus_lite.server_manager"), _quiet("pymilvus.decorators"):
                _CLIENTS[key] = pymilvus.MilvusClient(uri=uri, token=token) if token else pymilvus.MilvusClient(uri=uri)
        except Exception as exc:  # pymilvus raises its own hierarchy; name the URI and the likely fix
            if not spec.remote and not lite_folder_free(Path(uri)):  # another process took the lock meanwhile
                continue
            hint = "is the server up and the token (MILVUS_TOKEN) right?" if spec.remote else "is the folder writable?"
            raise IndexFolderError(f"cannot open Milvus at {spec.uri}: {str(exc).splitlines()[0]}; {hint}") from exc
    return _CLIENTS[key]


def _busy(spec: MilvusSpec) -> str:
    return (
        f"{spec.uri}: another process is using this Milvus Lite folder; stop it (Lite serves one process) "
        "or use a Milvus server"
    )
