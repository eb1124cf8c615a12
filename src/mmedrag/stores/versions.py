"""Version folders of an index: their names, confinement to the index folder, the writer lock and cleanup.

Only direct children of the index folder named ``v-NNNNNN`` (and not symbolic links) are ever read, written or
removed: ``CURRENT`` naming anything else (``../other/v-000001``, an absolute path, a link out of the folder) is a
one-line :class:`~mmedrag.errors.IndexFolderError`, never a path that is followed.

Superseded versions are not removed at once: a reader that read ``CURRENT`` just before a writer replaced it may
still be opening the old files. The version live just before the current one is always kept, and an older one is
removed only once the version that replaced it has been live for :data:`GRACE_SECONDS`, so a reader has that long to
open the files it found (once opened, POSIX keeps removed files readable). Frequent writes therefore keep about
``GRACE_SECONDS / interval + 2`` versions on disk, never an unbounded number.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from mmedrag.errors import IndexFolderError

CURRENT = "CURRENT"
LOCK = ".lock"
META = "index.json"
VERSION_PATTERN = re.compile(r"v-[0-9]{6,12}")
GRACE_SECONDS = 120.0

_log = logging.getLogger(__name__)
_held = threading.local()  # per thread: index roots whose writer lock this thread holds, with a re-entry count


def is_version_name(name: str) -> bool:
    """True for a version folder name (``v-000042``), nothing else."""
    return VERSION_PATTERN.fullmatch(name) is not None


def version_number(name: str) -> int:
    return int(name[2:])


def version_name(number: int) -> str:
    return f"v-{number:06d}"


def live_name(root: Path) -> str | None:
    """The version ``CURRENT`` names (validated), or None when there is no ``CURRENT`` file."""
    pointer = root / CURRENT
    if pointer.is_symlink():
        raise IndexFolderError(
            f"{pointer}: is a symbolic link; an index's CURRENT must be a plain file: restore it or rebuild the index"
        )
    if not pointer.exists():
        return None
    try:
        with pointer.open("rb") as handle:  # a version name is short: never read a huge file whole
            name = handle.read(256).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexFolderError(f"{pointer}: unreadable ({exc}); restore it or rebuild the index") from exc
    if not is_version_name(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise IndexFolderError(
            f"{pointer}: names {shown!r}, not a version folder of this index (v-NNNNNN); "
            "restore it or rebuild the index"
        )
    return name


def confined(root: Path, name: str) -> Path:
    """``root / name`` for a version name, refusing links and anything that resolves outside ``root``."""
    if not is_version_name(name):
        raise IndexFolderError(f"{root}: {name!r} is not a version folder name (v-NNNNNN)")
    folder = root / name
    if folder.is_symlink():
        raise IndexFolderError(f"{folder}: is a symbolic link; an index's versions must be folders inside it")
    if folder.resolve().parent != root.resolve():
        raise IndexFolderError(f"{folder}: resolves outside the index folder {root}; restore it or rebuild")
    return folder


def current_version(root: Path) -> Path:
    """The live version folder, confined to ``root``."""
    name = live_name(root)
    if name is None:
        hint = "build it with `mmedrag index`" if not root.exists() else "it is not an mmedrag index folder"
        raise IndexFolderError(f"{root}: no index found; {hint}")
    version = confined(root, name)
    if not version.is_dir():
        raise IndexFolderError(f"{root}: CURRENT points to missing {name}; rebuild the index")
    return version


def version_folders(root: Path) -> list[tuple[int, Path]]:
    """``(number, folder)`` of every version folder in ``root``: pattern-named real folders, oldest first."""
    found = []
    for child in root.iterdir() if root.is_dir() else ():
        if is_version_name(child.name) and not child.is_symlink() and child.is_dir():
            found.append((version_number(child.name), child))
    return sorted(found)


def next_number(root: Path) -> int:
    """One past every version-like name in ``root`` (links and files included, so a new folder never collides)."""
    numbers = [version_number(p.name) for p in root.iterdir() if is_version_name(p.name)] if root.is_dir() else []
    return max(numbers, default=0) + 1


def remove_unfinished(root: Path, live: str | None) -> list[str]:
    """Remove versions newer than the live one (or all without one): leftovers of a writer that was killed.

    Must be called under the writer lock: then no other process can be writing such a folder.
    """
    limit = version_number(live) if live else 0
    removed = []
    for number, folder in version_folders(root):
        if number > limit or live is None:
            remove_version(root, folder)
            removed.append(folder.name)
    return removed


def prune_superseded(root: Path, live: str, previous: str | None, grace: float = GRACE_SECONDS) -> list[str]:
    """Remove versions older than ``live`` that no reader can still be opening; ``previous`` is always kept.

    A reader can only be opening a version that ``CURRENT`` named when it read it. A version stopped being named
    when the next finished version (one with ``index.json``, written just before ``CURRENT`` was flipped to it)
    became live, so it is removed once that successor has been live for ``grace`` seconds. Folders without
    ``index.json`` below the live version were never named (a killed writer's) and go at once. Must be called under
    the writer lock.
    """
    folders = version_folders(root)
    finished = {number: folder for number, folder in folders if (folder / META).is_file()}
    now, removed = time.time(), []
    for number, folder in folders:
        if number >= version_number(live) or folder.name == previous:
            continue
        if number in finished:
            successor = min((n for n in finished if n > number), default=None)
            if successor is None or now - (finished[successor] / META).stat().st_mtime < grace:
                continue
        remove_version(root, folder)
        removed.append(folder.name)
    return removed


def remove_version(root: Path, folder: Path) -> None:
    """Remove one version folder; anything that is not a real version folder directly inside ``root`` is left."""
    # Belt and braces: never remove anything that is not a real version folder directly inside root.
    if folder.parent != root or folder.is_symlink() or not is_version_name(folder.name):
        return
    shutil.rmtree(folder, ignore_errors=True)


def make_root(root: Path) -> None:
    """Create the index folder (and parents); a file in the way or no permission is a one-line error."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IndexFolderError(f"{root}: cannot create the index folder ({exc.strerror or exc})") from exc
    if not root.is_dir():
        raise IndexFolderError(f"{root}: is not a folder; choose another --index path")


def holds_lock(root: Path) -> bool:
    """True when this thread holds the writer lock of ``root``."""
    return _held_roots().get(_key(root), 0) > 0


@contextlib.contextmanager
def writer_lock(root: Path, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index's writer lock (re-entrant in one thread; other threads and processes wait or fail).

    Args:
        wait: wait for another writer to finish (after telling ``on_wait``, else the log); False raises at once.
        on_wait: called with a one-line message when another writer holds the lock and this one waits.
    """
    key = _key(root)
    roots = _held_roots()
    if roots.get(key, 0) > 0:
        roots[key] += 1
        try:
            yield
        finally:
            roots[key] -= 1
        return
    make_root(root)
    try:
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise IndexFolderError(
            f"{root / LOCK}: cannot open the writer lock ({exc.strerror}); check the folder's permissions "
            "(a symbolic link there is refused: remove it)"
        ) from exc
    try:
        _acquire(fd, root, wait, on_wait)
        roots[key] = 1
        try:
            yield
        finally:
            roots.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, root: Path, wait: bool, on_wait: Callable[[str], None] | None) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        if not wait:
            raise IndexFolderError(
                f"{root}: another process is writing this index; retry when it has finished (or drop --no-wait)"
            ) from None
    message = f"{root}: another process is writing this index; waiting for it to finish"
    (on_wait or _log.warning)(message)
    fcntl.flock(fd, fcntl.LOCK_EX)


def _held_roots() -> dict[str, int]:
    # Keyed by process too: a child forked while its parent held a lock must take the lock itself, not inherit it.
    if getattr(_held, "pid", None) != os.getpid():
        _held.pid, _held.roots = os.getpid(), {}
    roots: dict[str, int] = _held.roots
    return roots


def _key(root: Path) -> str:
    return str(root.resolve())
