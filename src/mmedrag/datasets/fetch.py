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

import json
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedrag.datasets.catalogue import (
    MARKER_NAME,
    ChecksumError,
    Dataset,
    FetchError,
    FileEntry,
    LicenceError,
    Source,
    data_root,
    get_dataset,
    human_size,
)
from mmedrag.datasets.download import MIRROR_ENV, download, mirrored, sha256_file
from mmedrag.datasets.verify import catalogue_digest, is_ready
from mmedrag.io.atomic import fsync_dir

PARTIAL_DIR = ".mmedrag-partial"


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


def _blob_path(staging: Path, entry: FileEntry) -> Path:
    return staging / "blobs" / (entry.download_sha256 or entry.sha256)


def _archive_path(staging: Path, source: Source) -> Path:
    return staging / "blobs" / (source.sha256 or f"unpinned-{source.name}")


def _downloads(
    dataset: Dataset, staging: Path, mirror: str | None, on_bytes: Callable[[int], None], retries: int
) -> list[FetchError]:
    """Download every source file into ``staging``; verified files are kept, failures are returned, not raised."""
    errors: list[FetchError] = []
    jobs: list[tuple[str, Path, str | None, int | None, str]] = []  # url, destination, sha256, size, label
    for source in dataset.sources.values():
        if source.kind == "zip" and any(f.source == source.name for f in dataset.fetchable):
            label = f"{dataset.name}/{Path(source.url).name}"
            jobs.append((source.url, _archive_path(staging, source), source.sha256, source.size, label))
        elif source.kind not in ("zip", "files"):
            raise FetchError(f"{dataset.name}: source {source.name} has unknown kind {source.kind!r}; upgrade mmedrag")
    for entry in dataset.fetchable:
        source = dataset.sources[entry.source]  # type: ignore[index]
        if source.kind == "files":
            expected = (entry.download_sha256 or entry.sha256, entry.download_size or entry.size)
            dest = _blob_path(staging, entry)
            jobs.append((source.url + entry.upstream, dest, *expected, f"{dataset.name}/{entry.path}"))
    for url, dest, sha, size, label in jobs:
        if dest.is_file():  # verified by an earlier, interrupted run (the name is the checksum it passed)
            on_bytes(dest.stat().st_size)
            continue
        try:
            download(
                mirrored(url, mirror), dest, sha256=sha, size=size, label=label, on_bytes=on_bytes, retries=retries
            )
        except ChecksumError as exc:
            errors.append(exc)
        except FetchError as exc:  # the server or the network: the remaining files would fail the same way
            errors.append(exc)
            break
    return errors


def _json_filter(source: Path, target: Path, spec: dict[str, Any]) -> None:
    """Keep the records of a JSON list whose ``field`` starts with ``prefix`` (the catalogue's ``json_filter``)."""
    records = json.loads(source.read_text(encoding="utf-8"))
    kept = [r for r in records if str(r.get(spec["field"], "")).startswith(spec["prefix"])]
    target.write_text(json.dumps(kept, indent=spec.get("indent")), encoding="utf-8")


def _place(entry: FileEntry, staged: Path, target: Path) -> bool:
    """Put a downloaded file at ``target``; returns True when its bytes must be verified again."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if entry.transform:
        if entry.transform.get("kind") != "json_filter":
            raise FetchError(f"{entry.path}: unknown transform {entry.transform.get('kind')!r}; upgrade mmedrag")
        _json_filter(staged, target, entry.transform)
        return True
    try:
        os.link(staged, target)  # same bytes, no copy: already verified
    except OSError:
        shutil.copyfile(staged, target)
        return True
    return False


def _unzip(dataset: Dataset, archive: Path, entries: list[FileEntry], tmp: Path) -> None:
    label = f"{dataset.name}/{Path(dataset.sources[entries[0].source].url).name}"  # type: ignore[index]
    try:
        with zipfile.ZipFile(archive) as handle:
            for entry in entries:
                target = tmp / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(entry.upstream) as member, open(target, "wb") as out:
                    shutil.copyfileobj(member, out, 1 << 20)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(f"{label}: archive is truncated or corrupt ({exc}); deleted, fetch again") from exc


def _assemble(dataset: Dataset, staging: Path, tmp: Path) -> None:
    """Build the dataset folder in ``tmp`` from verified downloads, then check every file that was not linked."""
    recheck: list[FileEntry] = []
    by_archive: dict[str, list[FileEntry]] = {}
    for entry in dataset.fetchable:
        if dataset.sources[entry.source].kind == "zip":  # type: ignore[index]
            by_archive.setdefault(entry.source, []).append(entry)  # type: ignore[arg-type]
            recheck.append(entry)
        elif _place(entry, _blob_path(staging, entry), tmp / entry.path):
            recheck.append(entry)
    for source, entries in by_archive.items():
        _unzip(dataset, _archive_path(staging, dataset.sources[source]), entries, tmp)
    for entry in recheck:
        if sha256_file(tmp / entry.path) != entry.sha256:
            raise ChecksumError(
                f"{dataset.name}/{entry.path}: SHA-256 of the unpacked file does not match the catalogue; "
                "nothing marked usable"
            )


def _install(dataset: Dataset, tmp: Path, target: Path, log: Callable[[str], None]) -> None:
    marker = {
        "name": dataset.name,
        "catalogue_digest": catalogue_digest(dataset),
        "files": len(dataset.fetchable),
        "bytes": dataset.size,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(tmp / MARKER_NAME, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_dir(tmp)
    if target.exists():  # an incomplete or outdated copy: kept beside, never deleted
        aside = target.with_name(f"{target.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        target.rename(aside)
        log(f"{target}: moved the previous copy to {aside}; delete it when you no longer need it")
    tmp.rename(target)
    fsync_dir(target.parent)


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
    with _byte_bar(f"fetch {dataset.name}", dataset.download_size, progress) as advance:

        def count(n: int) -> None:
            nonlocal downloaded
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
        _assemble(dataset, staging, tmp)
        _install(dataset, tmp, root / dataset.name, log)
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
