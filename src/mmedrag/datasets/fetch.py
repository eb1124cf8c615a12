"""Fetch catalogued datasets: download (resumable), verify every SHA-256, unpack into a temporary folder, write the
completion marker, then rename the folder into place.

Layout under the data root::

    ROOT/NAME/                      a usable dataset (renamed into place last; carries .mmedrag-dataset.json)
    ROOT/.mmedrag-partial/NAME/     downloads in progress (``*.part`` files resume) and verified downloads, stored
                                    under their SHA-256, so a download is reused only for the bytes it was checked for
    ROOT/.mmedrag-tmp-NAME-PID/     the folder being assembled; removed if anything fails

A fetch killed at any moment leaves either the previous state or a complete dataset, and the next fetch resumes the
downloads it had. A file whose checksum does not match is deleted and named in a one-line error; the other files
still download, so the next run only fetches what is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedrag.datasets.catalogue import (
    ChecksumError,
    Dataset,
    FetchError,
    LicenceError,
    data_root,
    get_dataset,
    human_size,
)
from mmedrag.datasets.download import MIRROR_ENV, download, mirrored
from mmedrag.datasets.unpack import archive_path, assemble, blob_path, install
from mmedrag.datasets.verify import is_ready

PARTIAL_DIR = ".mmedrag-partial"
DOWNLOAD_WORKERS = 4  # parallel connections: datasets are hundreds of small files, each one TLS handshake away


@dataclass
class FetchReport:
    """The outcome of fetching one dataset."""

    name: str
    path: str
    files: int
    bytes: int
    downloaded: int
    seconds: float
    reused: bool


def licence_notice(dataset: Dataset) -> str:
    """One line naming the dataset's licence, its restrictions and where to read it."""
    terms = f" ({', '.join(dataset.licence.terms)})" if dataset.licence.terms else ""
    return f"{dataset.name}: licence {dataset.licence.name}{terms}: {dataset.licence.url}"


def check_licences(datasets: Sequence[Dataset], accept: bool, confirm: Callable[[Dataset], bool] | None = None) -> None:
    """Raise :class:`LicenceError` for a restricted licence that was neither accepted nor confirmed by ``confirm``."""
    for dataset in datasets:
        if dataset.licence.restricted and not accept and not (confirm and confirm(dataset)):
            raise LicenceError(
                f"{licence_notice(dataset)}; read it, then rerun with --accept-licence to accept its terms"
            )


@contextmanager
def _byte_bar(description: str, total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


Job = tuple[str, Path, str | None, int | None, str]  # url, destination, sha256, size, label


def _jobs(dataset: Dataset, staging: Path) -> list[Job]:
    """Every download of ``dataset``: whole archives, then single files (upstream files before their transform)."""
    jobs: list[Job] = []
    for source in dataset.sources.values():
        if source.kind == "zip" and any(f.source == source.name for f in dataset.fetchable):
            label = f"{dataset.name}/{Path(source.url).name}"
            jobs.append((source.url, archive_path(staging, source), source.sha256, source.size, label))
        elif source.kind not in ("zip", "files"):
            raise FetchError(f"{dataset.name}: source {source.name} has unknown kind {source.kind!r}; upgrade mmedrag")
    for entry in dataset.fetchable:
        source = dataset.sources[entry.source]  # type: ignore[index]
        if source.kind == "files":
            expected = (entry.download_sha256 or entry.sha256, entry.download_size or entry.size)
            dest = blob_path(staging, entry)
            jobs.append((source.url + entry.upstream, dest, *expected, f"{dataset.name}/{entry.path}"))
    unique: dict[Path, Job] = {}
    for job in jobs:  # identical files share one download (their blob); two threads must never write one file
        unique.setdefault(job[1], job)
    return list(unique.values())


def _downloads(
    dataset: Dataset,
    staging: Path,
    mirror: str | None,
    on_bytes: Callable[[int], None],
    retries: int,
    workers: int = DOWNLOAD_WORKERS,
) -> list[FetchError]:
    """Download every source file into ``staging``, a few at a time; verified files are kept, failures returned.

    A checksum mismatch names its file and the others go on; a server or network error stops the queue, since the
    remaining files would fail the same way.
    """
    stop = threading.Event()

    def run(job: Job) -> FetchError | None:
        url, dest, sha, size, label = job
        if stop.is_set():
            return None
        if dest.is_file():  # verified by an earlier, interrupted run (the name is the checksum it passed)
            on_bytes(dest.stat().st_size)
            return None
        try:
            download(
                mirrored(url, mirror), dest, sha256=sha, size=size, label=label, on_bytes=on_bytes, retries=retries
            )
        except ChecksumError as exc:
            return exc
        except FetchError as exc:
            stop.set()
            return exc
        return None

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mmedrag-fetch")
    try:
        results = list(pool.map(run, _jobs(dataset, staging)))
    except BaseException:  # Ctrl-C: let running downloads end (their .part files resume later), start no more
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [error for error in results if error is not None]


@contextmanager
def _exclusive(root: Path, name: str) -> Iterator[None]:
    """One fetch of a dataset at a time: a second process fails at once instead of writing into the first's files."""
    lock = root / PARTIAL_DIR / f"{name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform: the checksums still catch a clash
        yield
        return
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise FetchError(f"{name}: another mmedrag process is fetching it into {root}; wait for it to end") from exc
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)


def fetch_dataset(
    dataset: Dataset,
    root: Path,
    *,
    force: bool = False,
    mirror: str | None = None,
    progress: bool = False,
    retries: int = 3,
    log: Callable[[str], None] = lambda _: None,
) -> FetchReport:
    """Fetch ``dataset`` into ``root/NAME`` (see the module docstring); licences are the caller's to check."""
    target = root / dataset.name
    if not force and is_ready(target, dataset):
        return FetchReport(dataset.name, str(target), len(dataset.fetchable), dataset.size, 0, 0.0, True)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    with _exclusive(root, dataset.name):
        report = _fetch(dataset, root, mirror, progress, retries, log)
    _remove_if_empty(root / PARTIAL_DIR)
    return report


def _fetch(
    dataset: Dataset, root: Path, mirror: str | None, progress: bool, retries: int, log: Callable[[str], None]
) -> FetchReport:
    started = time.perf_counter()
    staging = root / PARTIAL_DIR / dataset.name
    staging.mkdir(parents=True, exist_ok=True)
    downloaded = 0
    lock = threading.Lock()
    with _byte_bar(f"fetch {dataset.name}", dataset.download_size, progress) as advance:

        def count(n: int) -> None:
            nonlocal downloaded
            with lock:
                downloaded += n
                advance(n)

        errors = _downloads(dataset, staging, mirror, count, retries)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise type(errors[0])(f"{errors[0]}{more}")
    tmp = root / f".mmedrag-tmp-{dataset.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        assemble(dataset, staging, tmp)
        install(dataset, tmp, root / dataset.name, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)
    seconds = round(time.perf_counter() - started, 2)
    target = root / dataset.name
    return FetchReport(dataset.name, str(target), len(dataset.fetchable), dataset.size, downloaded, seconds, False)


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):
        folder.rmdir()


def fetch_datasets(
    names: Sequence[str],
    root: str | Path | None = None,
    *,
    accept_licence: bool = False,
    confirm: Callable[[Dataset], bool] | None = None,
    catalogue: dict[str, Dataset] | None = None,
    **options: Any,
) -> list[FetchReport]:
    """Fetch several datasets after checking their licences; ``options`` go to :func:`fetch_dataset`."""
    folder = data_root(root)
    datasets = [get_dataset(name, catalogue) for name in dict.fromkeys(names)]
    pending = [d for d in datasets if options.get("force") or not is_ready(folder / d.name, d)]
    check_licences(pending, accept_licence, confirm)
    return [fetch_dataset(dataset, folder, **options) for dataset in datasets]


def ensure_datasets(
    names: Sequence[str],
    root: str | Path | None = None,
    *,
    accept_licence: bool = False,
    confirm: Callable[[Dataset], bool] | None = None,
    log: Callable[[str], None] = lambda _: None,
    catalogue: dict[str, Dataset] | None = None,
    **options: Any,
) -> Path:
    """Return the data root holding ``names``, fetching the missing ones first (saying what and how big).

    This is what the demo calls: with ``MMEDRAG_DATA`` pointing at a prepared folder nothing is downloaded.
    """
    folder = data_root(root)
    datasets = [get_dataset(name, catalogue) for name in names]
    missing = [d for d in datasets if not is_ready(folder / d.name, d)]
    if not missing:
        return folder
    total = sum(d.download_size for d in missing)
    names_text = " ".join(d.name for d in missing)
    log(f"{folder}: {names_text} not found; {human_size(total)} to download (mmedrag data fetch {names_text}):")
    for dataset in missing:
        log(
            f"  {dataset.name}: {dataset.title}; {len(dataset.fetchable)} files, {human_size(dataset.download_size)}"
            f" from {dataset.homepage}"
        )
        log(f"  {licence_notice(dataset)}")
    try:
        check_licences(missing, accept_licence, confirm)
    except LicenceError as exc:
        raise LicenceError(
            f"{folder}: {names_text} not found; pass --data DIR (or set MMEDRAG_DATA) to a folder holding them, "
            f"or fetch them: {exc}"
        ) from exc
    fetch_datasets(
        [d.name for d in missing],
        folder,
        accept_licence=True,  # accepted or confirmed just above
        catalogue=catalogue,
        log=log,
        **options,
    )
    return folder


__all__ = ["FetchReport", "check_licences", "ensure_datasets", "fetch_dataset", "fetch_datasets", "licence_notice"]
