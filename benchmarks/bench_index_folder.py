"""Index folder integrity cost: save, load and verify times of a 10,000-record index, with the checks and without.

"Without" stubs out the checksums and vector checks (files are still fsynced, as before they existed), so the
difference is what integrity costs. Vectors are random unit 512-d rows in both spaces (text and image), records carry
a 300-character report; exact (numpy) and faiss:Flat stores.

Run:  .venv/bin/python benchmarks/bench_index_folder.py --out BENCHMARKS.md        (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import machine, write_section
from mmedrag._optional import available
from mmedrag.stores import integrity
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Fingerprint, Record

RECORDS, DIM, REPEATS = 10_000, 512, 5


def build(path: Path, store: str) -> FolderIndex:
    rng = np.random.default_rng(0)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    index = FolderIndex.create(path, Fingerprint(kind="bench", name="bench", dim=DIM), store)
    records = [Record(id=f"r{i}", text="No acute cardiopulmonary abnormality. " * 8) for i in range(RECORDS)]
    index.records.upsert(records, {r.id: [(f"{i:064x}", i)] for i, r in enumerate(records)})
    index.spaces["text"].add([r.id for r in records], unit(RECORDS))
    index.spaces["image"].add([f"{r.id}#0" for r in records], unit(RECORDS))
    return index


def fsync_only(version: Path) -> dict[str, Any]:
    for file in version.rglob("*"):
        if file.is_file():
            with file.open("rb+") as handle:
                os.fsync(handle.fileno())
    return {}


@contextlib.contextmanager
def checks_off() -> Iterator[None]:
    saved = integrity.seal_files, integrity.file_problems, integrity.vector_problem, integrity.unit_norm
    integrity.seal_files = fsync_only  # type: ignore[assignment]
    integrity.file_problems = lambda *a, **k: []  # type: ignore[assignment]
    integrity.vector_problem = lambda *a, **k: None  # type: ignore[assignment]
    integrity.unit_norm = lambda *a, **k: False  # type: ignore[assignment]
    try:
        yield
    finally:
        integrity.seal_files, integrity.file_problems, integrity.vector_problem, integrity.unit_norm = saved


def measure(store: str, checks: bool) -> dict[str, float]:
    times: dict[str, list[float]] = {"save": [], "load": [], "load_quick": [], "verify": []}
    with tempfile.TemporaryDirectory() as tmp, contextlib.nullcontext() if checks else checks_off():
        for repeat in range(REPEATS):
            path = Path(tmp) / f"idx{repeat}"
            index = build(path, store)
            started = time.perf_counter()
            index.save()
            times["save"].append(time.perf_counter() - started)
            started = time.perf_counter()
            FolderIndex.load(path)
            times["load"].append(time.perf_counter() - started)
            limit, integrity.LOAD_CHECKSUM_BYTES = integrity.LOAD_CHECKSUM_BYTES, 0
            started = time.perf_counter()
            FolderIndex.load(path)
            times["load_quick"].append(time.perf_counter() - started)
            integrity.LOAD_CHECKSUM_BYTES = limit
            started = time.perf_counter()
            FolderIndex.verify(path)
            times["verify"].append(time.perf_counter() - started)
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return {name: 1000 * statistics.median(values) for name, values in times.items()} | {"mb": size / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the section into this markdown file")
    args = parser.parse_args()
    stores = ["exact"] + (["faiss:Flat"] if available("faiss") else [])
    rows = []
    for store in stores:
        for checks in (False, True):
            result = measure(store, checks)
            rows.append(
                f"| {store} | {'on' if checks else 'off'} | {result['mb']:.0f} | {result['save']:.0f} | "
                f"{result['load']:.0f} | {result['load_quick']:.0f} | {result['verify']:.0f} |"
                if checks
                else f"| {store} | off | {result['mb']:.0f} | {result['save']:.0f} | {result['load']:.0f} | - | - |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    body = "\n".join(
        [
            "## Index folder integrity (`benchmarks/bench_index_folder.py`)",
            "",
            f"Machine: {machine()}.",
            "",
            f"{RECORDS:,} records, {DIM}-d unit vectors in both spaces; median of {REPEATS} runs, milliseconds. "
            "Checks off = checksums and vector checks stubbed out (the cost before they existed). `load` checksums "
            f"every file (the version is under {integrity.LOAD_CHECKSUM_BYTES >> 20} MiB); `load, quick` is what a "
            "larger index gets (sizes, counts, id-file checksums, vector norms); `verify` is `mmedrag index --verify`.",
            "",
            "| store | checks | MiB | save | load | load, quick | verify |",
            "|---|---|--:|--:|--:|--:|--:|",
            *rows,
        ]
    )
    print(body)
    if args.out:
        write_section(args.out, "bench_index_folder", body)


if __name__ == "__main__":
    main()
