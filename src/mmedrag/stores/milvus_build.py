"""Build, update, copy and rebuild Milvus-backed indexes: batches, progress, resume, alias switch.

* Incremental (default): records are upserted by id into the live collection; a record whose stored content hash
  matches is skipped without encoding, so a re-run after a crash resumes where it stopped and changes nothing twice.
* Rebuild (``rebuild=True``, or the first build): a new collection ``NAME__vYYYYmmddHHMMSS`` is filled while readers
  keep using the old one through the alias ``NAME``; then the alias is switched and the old collection dropped. A
  killed rebuild is resumed by the next run (the unfinished collection is found by its name and build state).
* Copy (``copy_index``): records, vectors and image fingerprints of an index folder are upserted without encoding.

Locally only a pointer is written: ``DIR/milvus.json`` with the URI, the collection name and index settings (never
the token).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mmedrag.encoders.base import Fingerprint
from mmedrag.errors import IndexFolderError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.stores import versions
from mmedrag.stores.milvus import MilvusIndex, content_hash
from mmedrag.stores.milvus_spec import MILVUS_POINTER as POINTER
from mmedrag.stores.milvus_spec import MilvusSpec, connect, default_name, is_milvus_store, parse_milvus_spec
from mmedrag.types import Record

_log = logging.getLogger(__name__)
_VERSION_MARK = "__v"
DROP_GRACE_S = 3.0

# load(batch) -> the records that can be indexed, their loaded views, (sha256, dhash) per view;
# encode(records, views) -> text vector per record id, image vectors per record id.
Loaded = tuple[list[Record], dict[str, list[Any]], dict[str, list[tuple[str, int]]]]
Encoded = tuple[dict[str, np.ndarray], dict[str, list[np.ndarray | None]]]


@dataclass
class BuildCounts:
    """What a Milvus build did (merged into :class:`mmedrag.indexing.IndexReport`)."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    collection: str = ""
    switched_from: str | None = None


def has_pointer(index_dir: str | Path) -> bool:
    return (Path(index_dir) / POINTER).is_file()


def read_pointer(index_dir: str | Path) -> dict[str, Any]:
    import json

    path = Path(index_dir) / POINTER
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise IndexFolderError(
            f"{path}: Milvus pointer unreadable ({exc}); re-run `mmedrag index --store milvus:...`"
        ) from exc


def resolve(index_dir: str | Path, store: str | dict[str, Any] | None) -> tuple[MilvusSpec, str | None, str]:
    """Spec, token and index name from ``store`` (a new index) or the folder's pointer (an existing one)."""
    if is_milvus_store(store):
        spec, token = parse_milvus_spec(store)  # type: ignore[arg-type]
        if not spec.remote:  # a Lite folder is relative to where the command runs: pin it
            spec = replace(spec, uri=str(Path(spec.uri).expanduser().resolve()))
    else:
        spec, token = parse_milvus_spec(read_pointer(index_dir))
    return spec, token, spec.collection or default_name(index_dir)


def write_pointer(index_dir: str | Path, spec: MilvusSpec, name: str) -> None:
    folder = Path(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / POINTER, {**spec.to_dict(), "collection": name})


def new_version_name(name: str) -> str:
    return f"{name}{_VERSION_MARK}{time.strftime('%Y%m%d%H%M%S')}{time.time_ns() % 1000:03d}"


def _versions(client: Any, name: str) -> list[str]:
    return sorted(c for c in client.list_collections() if c.startswith(name + _VERSION_MARK))


def alias_target(client: Any, name: str) -> str | None:
    """The collection the alias ``name`` points to, or None when nothing has that name yet."""
    if not client.has_collection(name):
        return None
    target = str(client.describe_collection(name)["collection_name"])
    if target == name:
        raise IndexFolderError(
            f"Milvus collection {name!r} exists but is not an mmedrag alias; pick another name with |collection=NAME"
        )
    return target


def switch_alias(client: Any, name: str, collection: str, grace_s: float = 0.0) -> str | None:
    """Point ``name`` at ``collection`` atomically; drop the collections it pointed to before. Returns the old one.

    Args:
        grace_s: wait this long between the switch and the drop, so searches that resolved the alias just before
            the switch finish on the old collection (a server's proxies also refresh their alias caches meanwhile).
    """
    old = alias_target(client, name)
    if old is None:
        client.create_alias(collection, name)
    else:
        client.alter_alias(collection, name)
        time.sleep(grace_s)
    for stale in _versions(client, name):  # only after the switch: readers never lose their collection mid-build
        if stale != collection:
            client.drop_collection(stale)
    return old


def _target(client: Any, spec: MilvusSpec, name: str, encoder: Fingerprint, rebuild: bool) -> tuple[MilvusIndex, bool]:
    """The collection to write into and whether the alias must be switched to it afterwards."""
    live = alias_target(client, name)
    if live is not None and not rebuild:
        index = MilvusIndex.open(client, spec, name)
        index.check_encoder(encoder)
        return index, False
    for pending in reversed(_versions(client, name)):  # resume the newest unfinished build of the same encoder
        if pending == live:
            continue
        try:
            index = MilvusIndex.open(client, spec, pending)
        except IndexFolderError:
            continue
        if index.meta.get("state") == "building" and not index.encoder.mismatch(encoder):
            return index, True
    return MilvusIndex.create_collection(client, spec, new_version_name(name), encoder), True


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar over records with rate and ETA on stderr; yields the function that advances it."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("indexing into Milvus"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.speed} records/s"),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task("indexing", total=total)
        yield lambda n: bar.advance(task, n)


def write_batches(
    index_dir: str | Path,
    store: str | dict[str, Any] | None,
    encoder: Fingerprint,
    records: Sequence[Record],
    load: Callable[[list[Record]], Loaded],
    encode: Callable[[list[Record], dict[str, list[Any]]], Encoded],
    batch_size: int = 256,
    rebuild: bool = False,
    progress: bool = False,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> BuildCounts:
    """Upsert ``records`` batch by batch, encoding only records whose stored content differs; then publish.

    Each batch is written before the next is read, so a killed run loses at most one batch and the next run skips
    every record already stored with the same content. Writers through the same pointer folder take its writer lock
    (:func:`~mmedrag.stores.versions.writer_lock`): a second one waits (``wait``; False: fails in one line), so a
    rebuild never drops a collection another writer is still filling; a Milvus Lite folder is waited for likewise.
    """
    spec, token, name = resolve(index_dir, store)
    with versions.writer_lock(Path(index_dir), wait=wait, on_wait=on_wait):
        client = connect(spec, token, wait=wait, on_wait=on_wait)
        return _write(index_dir, spec, client, name, encoder, records, load, encode, batch_size, rebuild, progress)


def _write(
    index_dir: str | Path,
    spec: MilvusSpec,
    client: Any,
    name: str,
    encoder: Fingerprint,
    records: Sequence[Record],
    load: Callable[[list[Record]], Loaded],
    encode: Callable[[list[Record], dict[str, list[Any]]], Encoded],
    batch_size: int,
    rebuild: bool,
    progress: bool,
) -> BuildCounts:
    index, switch = _target(client, spec, name, encoder, rebuild)
    write_pointer(index_dir, spec, name)
    counts = BuildCounts(collection=index.name)
    with _progress(len(records), progress) as advance:
        for start in range(0, len(records), batch_size):
            batch = list(records[start : start + batch_size])
            stored = index.contents([r.id for r in batch])
            kept, views, prints = load(batch)
            fresh = [r for r in kept if stored.get(r.id) != content_hash(r, prints.get(r.id, []))]
            counts.unchanged += len(kept) - len(fresh)
            if fresh:
                text, images = encode(fresh, views)
                existed = index.upsert(fresh, text, images, prints)
                counts.replaced += existed
                counts.added += len(fresh) - existed
            advance(len(batch))
    if not index.flush():  # published anyway: the data is all there, only searched through the interim index
        _log.warning(
            "Milvus index %s: the server had not indexed every row after the wait; filtered searches may "
            "miss hits until it has",
            index.name,
        )
    if switch:
        index.write_meta(state="ready")
        counts.switched_from = switch_alias(client, name, index.name, DROP_GRACE_S if spec.remote else 0.0)
    return counts


def open_any(location: str | Path, wait: bool = False, on_wait: Callable[[str], None] | None = None) -> MilvusIndex:
    """The Milvus index named by a pointer folder or a ``milvus:`` spec (``wait``: see :func:`connect`)."""
    text = str(location)
    if text.startswith("milvus:"):
        spec, token = parse_milvus_spec(text)
        if not spec.collection:
            raise IndexFolderError(f"name the Milvus index: add |collection=NAME to {spec.uri!r}")
        name = spec.collection
    else:
        spec, token, name = resolve(location, None)
    return MilvusIndex.open(connect(spec, token, wait=wait, on_wait=on_wait), spec, name)


class MilvusKind:
    """The ``milvus`` entry of ``INDEXES``: a ``milvus:`` spec or a folder holding a Milvus pointer (an IndexKind)."""

    @staticmethod
    def claims(location: str | Path) -> bool:
        return str(location).startswith("milvus:") or has_pointer(location)

    @staticmethod
    def exists(location: str | Path) -> bool:
        return MilvusKind.claims(location)

    @classmethod
    def load(cls, location: str | Path) -> MilvusIndex:
        return open_any(location)

    @classmethod
    def verify(cls, location: str | Path) -> dict[str, Any]:
        from mmedrag.stores.milvus_verify import verify_milvus

        try:
            index = open_any(location)
        except IndexFolderError as exc:
            return {"index": str(location), "version": "?", "ok": False, "problems": [str(exc)], "warnings": []}
        return verify_milvus(index)


def create_milvus_index(spec: str | Mapping[str, Any], encoder: Fingerprint, name: str) -> MilvusIndex:
    """A new empty index ``name`` (a collection behind an alias of that name), ready for upserts.

    The plain factory a registry calls; :func:`mmedrag.indexing.build_index` with ``store="milvus:..."`` fills one
    from records, :func:`write_batches` and :func:`switch_alias` do the batching and publishing.
    """
    parsed, token = parse_milvus_spec(spec)
    client = connect(parsed, token)
    index = MilvusIndex.create_collection(client, parsed, new_version_name(name), encoder, state="ready")
    switch_alias(client, name, index.name)
    return MilvusIndex.open(client, parsed, name)
