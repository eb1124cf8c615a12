"""Benchmark the vector stores: build time, size on disk, load time, query latency, QPS, recall@k and peak memory.

Stores: ``exact`` (``ExactStore``, numpy), ``flat`` (``FaissStore`` ``Flat``, exact inner product), ``hnsw``
(``HNSW32``, efSearch 64) and ``ivf`` (``IVF{nlist},Flat``, nlist = 4*sqrt(n), nprobe 32), each at every size.

Data: L2-normalised low-rank vectors (a 32-d Gaussian mixture with 200 modes, randomly projected to ``--dim``, plus
0.05 noise per dimension), seeded; queries come from the same distribution but are not copies of the data. i.i.d.
random vectors would make every ANN index look broken (docs/offline.md section 6), so recall is measured on structure.

Per (store, size): build = constructor + one ``add`` of all vectors (training included); disk = files written by
``save``; load = ``Store.load``; single-query latency p50/p95 (one query per ``search`` call, at most ``--queries``
calls or ``--single-budget`` seconds); batch QPS (``--batch`` queries in one call); recall@k of the batch results
against an exact ``faiss.IndexFlatIP`` top-k (computed outside the timings); peak RSS increase during build + search.

Run:  .venv/bin/python benchmarks/bench_stores.py --quick              # 10k and 100k, prints the table
      .venv/bin/python benchmarks/bench_stores.py --out BENCHMARKS.md  # 10k, 100k, 1M (15-25 min on 2 cores)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchlib import write_section

STORES = ("exact", "flat", "hnsw", "ivf")
LATENT, MODES, SPREAD, NOISE, CHUNK = 32, 200, 0.5, 0.05, 100_000
T0 = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} +{time.perf_counter() - T0:6.0f}s] {message}", file=sys.stderr, flush=True)


def make_vectors(n: int, dim: int, seed: int, stream: int) -> np.ndarray:
    """``n`` normalised vectors; the mixture and projection depend on ``seed`` only, the draws on ``stream`` too."""
    model = np.random.default_rng(seed)
    centres = model.standard_normal((MODES, LATENT), dtype=np.float32)
    projection = model.standard_normal((LATENT, dim), dtype=np.float32) / np.float32(np.sqrt(LATENT))
    rng = np.random.default_rng([seed, stream])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        latent = centres[rng.integers(0, MODES, m)] + SPREAD * rng.standard_normal((m, LATENT), dtype=np.float32)
        block = latent @ projection + NOISE * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> tuple[int, bool]:
    """Current RSS in KiB, and whether the kernel's peak (VmHWM) could be reset to it (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kb("VmRSS"), True
    except OSError:
        return _status_kb("VmRSS"), False


def peak_kb(resettable: bool) -> int:
    return _status_kb("VmHWM") if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def nlist_for(n: int) -> int:
    return max(1, round(4 * np.sqrt(n)))


def make_store(name: str, dim: int, n: int) -> tuple[Any, str, dict[str, str]]:
    """(empty store, short description, extra ``load`` keyword arguments)."""
    from mmedrag.stores.exact import ExactStore
    from mmedrag.stores.faiss_store import FaissStore

    if name == "exact":
        return ExactStore(dim), "numpy matmul", {}
    factory, params = {"flat": ("Flat", ""), "hnsw": ("HNSW32", "efSearch=64")}.get(name, ("", "nprobe=32"))
    factory = factory or f"IVF{nlist_for(n)},Flat"
    spec = {"factory": factory, "search_params": params}
    return FaissStore(dim, **spec), f"{factory} {params}".strip(), spec


def memory_estimate(name: str, n: int, dim: int, batch: int) -> int:
    """Bytes a store needs beyond the data by design (exact: stack+vstack on add, a full copy per search, scores)."""
    data = n * dim * 4
    return 3 * data + batch * n * 4 if name == "exact" else int(1.5 * data)


def bench_one(name: str, data: np.ndarray, ids: list[str], queries: np.ndarray, truth: np.ndarray, args: Any) -> dict:
    from mmedrag.stores.exact import ExactStore
    from mmedrag.stores.faiss_store import FaissStore

    n, dim, k = data.shape[0], data.shape[1], args.k
    row: dict[str, Any] = {"store": name, "n": n, "notes": []}
    gc.collect()
    rss0, resettable = reset_peak()
    t = time.perf_counter()
    store, row["index"], spec = make_store(name, dim, n)
    store.add(ids, data)
    row["build_s"] = time.perf_counter() - t
    log(f"{name} n={n}: built in {row['build_s']:.1f} s")
    with tempfile.TemporaryDirectory(prefix="bench_stores_", dir=args.tmp) as tmp:
        folder = Path(tmp) / name
        store.save(folder)
        row["disk_mb"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
        single = queries[: args.queries]
        latencies: list[float] = []
        deadline = time.perf_counter() + args.single_budget
        for query in single:
            t = time.perf_counter()
            store.search(query[None, :], k)
            latencies.append(time.perf_counter() - t)
            if time.perf_counter() > deadline and len(latencies) >= 20:
                row["notes"].append(f"single: {len(latencies)}/{len(single)} queries ({args.single_budget:.0f} s cap)")
                break
        row["p50_ms"], row["p95_ms"] = (float(np.percentile(latencies, p)) * 1e3 for p in (50, 95))
        row["single_qps"] = len(latencies) / sum(latencies)
        log(f"{name} n={n}: single p50 {row['p50_ms']:.2f} ms over {len(latencies)} queries")
        t = time.perf_counter()
        results = store.search(queries, k)
        times = [time.perf_counter() - t]
        while len(times) < 3 and sum(times) < 1.0:  # repeat quick batch calls and keep the best
            t = time.perf_counter()
            store.search(queries, k)
            times.append(time.perf_counter() - t)
        row["batch_qps"] = len(queries) / min(times)
        row["peak_rss_mb"] = max(0, peak_kb(resettable) - rss0) * 1024 / 1e6
        if not resettable:
            row["notes"].append("peak RSS from getrusage (process-wide, monotonic)")
        hits = [
            len({int(i[1:]) for i, _ in got[:k]} & set(want.tolist())) for got, want in zip(results, truth, strict=True)
        ]
        row["recall"] = sum(hits) / (k * len(truth))
        first = results[0]
        del store, results
        gc.collect()
        t = time.perf_counter()
        loaded = ExactStore.load(folder, dim) if name == "exact" else FaissStore.load(folder, dim, **spec)
        row["load_s"] = time.perf_counter() - t
        if [i for i, _ in loaded.search(queries[:1], k)[0]] != [i for i, _ in first]:
            row["notes"].append("loaded store answers differently")
        del loaded
    log(f"{name} n={n}: batch {row['batch_qps']:.0f} QPS, recall@{k} {row['recall']:.3f}")
    return row


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, CPU seconds of this process) since boot / start."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def machine(load_start: str, load_end: str, total_s: float, others: float) -> str:
    import faiss

    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    ram = _meminfo_kb("MemTotal") / 2**20
    busy = others > 0.25  # measured during the run; the load average also counts work that ended before it
    return (
        f"{cpu}, {os.cpu_count()} cores, {ram:.0f} GiB RAM; Python {platform.python_version()}, numpy "
        f"{np.__version__}, faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads); "
        f"{dt.date.today().isoformat()}; total {total_s / 60:.1f} min; load average at start {load_start}, at end "
        f"{load_end}; other processes used {others:.2f} cores on average during the run"
        + (" (**high: other processes shared the CPUs, timings are pessimistic**)" if busy else "")
    )


def _meminfo_kb(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def markdown(rows: list[dict], skipped: list[str], header: str, args: Any) -> str:
    k = args.k
    lines = [
        "## Vector stores (`benchmarks/bench_stores.py`)",
        "",
        f"Machine: {header}.",
        "",
        f"Data: dim {args.dim}, L2-normalised low-rank vectors ({LATENT}-d Gaussian mixture, {MODES} modes, projected, "
        f"+{NOISE} noise), seed {args.seed}; {args.batch} fresh queries, k={k}. Single = one query per `search` call "
        f"(up to {args.queries} calls or {args.single_budget:.0f} s); batch = all {args.batch} in one call (best of up "
        f"to 3); recall@{k} against exact top-k; disk = `save` folder; peak RSS = increase over build + searches.",
        "",
        f"| store | n | index | build s | disk MB | load s | p50 ms | p95 ms | single QPS | batch QPS | recall@{k} "
        "| peak RSS +MB | notes |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['store']} | {r['n']:,} | {r['index']} | {r['build_s']:.2f} | {r['disk_mb']:.0f} | {r['load_s']:.2f} "
            f"| {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['single_qps']:,.0f} | {r['batch_qps']:,.0f} "
            f"| {r['recall']:.3f} | {r['peak_rss_mb']:,.0f} | {'; '.join(r['notes'])} |"
        )
    lines += ["", *(f"Skipped: {s}" for s in skipped)]
    return "\n".join(lines).rstrip() + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated store sizes")
    p.add_argument("--quick", action="store_true", help="only 10k and 100k (overrides --sizes)")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--stores", default=",".join(STORES), help=f"comma-separated subset of {','.join(STORES)}")
    p.add_argument("--queries", type=int, default=200, help="single-query calls per store (one query each)")
    p.add_argument("--single-budget", type=float, default=60.0, help="seconds of single queries per store at most")
    p.add_argument("--batch", type=int, default=1000, help="queries in the one batched call (and for recall)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="markdown file whose bench_stores section is replaced (default: print)")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of the markdown table")
    p.add_argument("--tmp", default=None, help="folder for the temporary saved indexes (default: system temp)")
    args = p.parse_args(argv)
    args.size_list = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    args.store_list = [s.strip() for s in args.stores.split(",") if s.strip()]
    if unknown := set(args.store_list) - set(STORES):
        p.error(f"unknown stores {sorted(unknown)}; choose from {','.join(STORES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    import faiss

    args = parse_args(argv)
    load_start, cpu_start = Path("/proc/loadavg").read_text().split(" ", 3)[:3], cpu_seconds()
    log(f"sizes {args.size_list}, stores {args.store_list}, load average {' '.join(load_start)}")
    data = make_vectors(max(args.size_list), args.dim, args.seed, stream=0)
    queries = make_vectors(args.batch, args.dim, args.seed, stream=1)
    ids = [f"v{i}" for i in range(data.shape[0])]
    log(f"generated {data.shape[0]:,} x {args.dim} vectors and {args.batch} queries")
    rows: list[dict] = []
    skipped: list[str] = []
    for n in args.size_list:
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(data[:n])
        scores, truth = exact.search(queries, args.k)
        del exact
        log(f"n={n}: exact top-{args.k} ready; mean top-1 cosine {scores[:, 0].mean():.3f}")
        for name in args.store_list:
            need, free = memory_estimate(name, n, args.dim, args.batch), _meminfo_kb("MemAvailable") * 1024
            if need > 0.8 * free:
                skipped.append(f"{name} at n={n:,}: needs ~{need / 1e9:.1f} GB, {free / 1e9:.1f} GB available")
                log("skip " + skipped[-1])
                continue
            rows.append(bench_one(name, data[:n], ids[:n], queries, truth, args))
    load_end = Path("/proc/loadavg").read_text().split(" ", 3)[:3]
    total, cpu_end = time.perf_counter() - T0, cpu_seconds()
    others = max(0.0, (cpu_end[0] - cpu_start[0]) - (cpu_end[1] - cpu_start[1])) / total
    header = machine(" ".join(load_start), " ".join(load_end), total, others)
    section = markdown(rows, skipped, header, args)
    if args.out is not None:
        write_section(args.out, "bench_stores", section)
        log(f"wrote the bench_stores section of {args.out}")
    print(json.dumps({"machine": header, "rows": rows, "skipped": skipped}, indent=1) if args.json else section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
