"""Benchmark the scale-out stores beside `bench_stores.py`: compressed FAISS factories and a real Milvus server.

Stores (each at every size, on two data sets):

* ``hnsw_sq8``: FAISS ``HNSW32,SQ8`` (8-bit scalar codes, 512 B + graph per vector); ``hnsw48_sq8`` the same with
  48 links per node (a larger graph for harder data, still under 1.2 KB a vector);
* ``ivfpq_sq8``: FAISS ``IVF{nlist},PQ64x4fs,Refine(SQ8)`` (32 B fast-scan codes, re-ranked from 512 B SQ8 codes),
  k_factor_rf 32 (8 gave recall 0.88);
* ``ivfpq_rflat``: FAISS ``IVF{nlist},PQ64x4fs,RFlat`` (re-ranked from full vectors: no memory saved, best recall);
* ``milvus``: :class:`mmedrag.stores.milvus.MilvusIndex` on a real Milvus 2.3 standalone server (PyPI ``milvus``,
  started on loopback here), HNSW M 16, efConstruction 200, ef 64 (``milvus_flat``: the FLAT index, exact);
  Bounded consistency (what serving replicas use; Strong adds a wait for the server's time tick).

Search settings (HNSW ``efSearch``, IVF ``nprobe``) are the cheapest reaching ``--target-recall`` (0.95) recall@10
on a separate validation query stream, chosen per store, data set and size; the test queries are measured once.

Data: ``lowrank`` is bench_stores' structured data (32-d mixture projected to 512-d); ``fullrank`` is a 1,000-mode
mixture drawn in all 512 dimensions with isotropic noise (intrinsic dimension 512, like real embeddings; every ANN
index has lower recall on it). Filtered search: 1% of the vectors carry the filter value (a Milvus scalar filter; an
allow-list for FAISS); recall@k against the exact filtered top-k. Bytes/vector = FAISS file size / n (compressed
codes + graph/lists), or the Milvus server's RSS growth / n (both include index overhead).

Run:  .venv/bin/python benchmarks/bench_scale.py --sizes 100000 --out BENCHMARKS.md   (about 15 min on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_stores import log, make_vectors, nlist_for
from benchlib import machine, write_section

STORES = ("hnsw_sq8", "hnsw48_sq8", "ivfpq_sq8", "ivfpq_rflat", "milvus", "milvus_flat")
SELECTIVITY = 100  # one vector in 100 passes the filter


def fullrank(n: int, dim: int, seed: int, stream: int) -> np.ndarray:
    """A 1,000-mode mixture in all ``dim`` dimensions plus isotropic noise: full rank, clustered, normalised."""
    centres = np.random.default_rng(seed).standard_normal((1000, dim), dtype=np.float32)
    rng = np.random.default_rng([seed, stream, 7])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        block = centres[rng.integers(0, 1000, m)] + 0.8 * rng.standard_normal((m, dim), dtype=np.float32)
        out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def exact_top(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(data.shape[1])
    index.add(data)
    return index.search(queries, k)[1]


def recall(results: list[list[str]], truth: np.ndarray, k: int) -> float:
    hits = [len({int(i[1:]) for i in got[:k]} & set(want.tolist())) for got, want in zip(results, truth, strict=True)]
    return sum(hits) / (k * len(truth))


def timed_singles(search: Any, queries: np.ndarray, budget: float) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + budget
    for query in queries:
        t = time.perf_counter()
        search(query[None, :])
        latencies.append(time.perf_counter() - t)
        if time.perf_counter() > deadline and len(latencies) >= 20:
            break
    return float(np.percentile(latencies, 50)) * 1e3, float(np.percentile(latencies, 95)) * 1e3


def faiss_store(name: str, n: int) -> tuple[str, list[str]]:
    """The factory string and the search settings to try, cheapest first."""
    nlist = nlist_for(n)
    ivf = [f"nprobe={p},k_factor_rf=32" for p in (16, 32, 64, 128, 256)]
    return {
        "hnsw_sq8": ("HNSW32,SQ8", [f"efSearch={e}" for e in (64, 128, 256, 512, 1024)]),
        "hnsw48_sq8": ("HNSW48,SQ8", [f"efSearch={e}" for e in (64, 128, 256, 512, 1024)]),
        "ivfpq_sq8": (f"IVF{nlist},PQ64x4fs,Refine(SQ8)", ivf),
        "ivfpq_rflat": (f"IVF{nlist},PQ64x4fs,RFlat", ivf),
    }[name]


def tune(store: Any, candidates: list[str], queries: np.ndarray, truth: np.ndarray, k: int, target: float) -> str:
    """The cheapest search setting reaching ``target`` recall@k on validation queries (else the most thorough)."""
    for params in candidates:
        store.set_search_params(params)
        if recall([[i for i, _ in r] for r in store.search(queries, k)], truth, k) >= target:
            return params
    return candidates[-1]


def bench_faiss(
    name: str,
    data: np.ndarray,
    queries: np.ndarray,
    truths: dict[str, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    args: Any,
) -> dict:
    """One FAISS store: build, tune its search setting on ``validation`` (queries, exact top-k), measure ``queries``."""
    from mmedrag.stores.faiss_store import FaissStore

    n, k = data.shape[0], args.k
    factory, candidates = faiss_store(name, n)
    ids = [f"v{i}" for i in range(n)]
    t = time.perf_counter()
    store = FaissStore(data.shape[1], factory=factory)
    store.add(ids, data)
    build_s = time.perf_counter() - t
    params = tune(store, candidates, *validation, k, args.target_recall)
    row: dict[str, Any] = {"store": name, "index": f"{factory} {params}", "build_s": build_s}
    with tempfile.TemporaryDirectory() as tmp:
        store.save(Path(tmp))
        row["bytes_per_vector"] = (Path(tmp) / "index.faiss").stat().st_size / n
    row["p50_ms"], row["p95_ms"] = timed_singles(lambda q: store.search(q, k), queries[: args.queries], args.budget)
    t = time.perf_counter()
    results = store.search(queries, k)
    row["batch_qps"] = len(queries) / (time.perf_counter() - t)
    row["recall"] = recall([[i for i, _ in r] for r in results], truths["all"], k)
    allow = {ids[i] for i in range(0, n, SELECTIVITY)}
    fq = queries[: args.queries]
    t = time.perf_counter()
    filtered = [store.search(q[None, :], k, allow=allow)[0] for q in fq]
    row["filtered_ms"] = (time.perf_counter() - t) / len(fq) * 1e3
    row["filtered_recall"] = recall([[i for i, _ in r] for r in filtered], truths["filtered"][: len(fq)], k)
    row["nonkey_recall"] = row["filtered_recall"]  # FAISS allow-lists do not depend on the field
    return row


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_milvus(name: str, uri: str, pid: int, data: np.ndarray, queries: np.ndarray, truths: dict, args: Any) -> dict:
    from mmedrag.encoders.base import Fingerprint
    from mmedrag.stores.milvus import MilvusIndex
    from mmedrag.stores.milvus_spec import connect, parse_milvus_spec
    from mmedrag.types import Record

    n, k = data.shape[0], args.k
    options = "index=FLAT" if name == "milvus_flat" else "ef=64"
    spec, _ = parse_milvus_spec(f"milvus:{uri}|{options},consistency={args.consistency}")
    client = connect(spec)
    rss0 = _rss_kb(pid)
    fingerprint = Fingerprint("bench", "bench", data.shape[1])
    t = time.perf_counter()
    index = MilvusIndex.create_collection(client, spec, f"bench_{n}_{int(time.time())}", fingerprint)
    for start in range(0, n, 2000):
        stop = min(n, start + 2000)
        records = [
            Record(id=f"v{i}", domain=f"d{i % SELECTIVITY}", modality=f"m{i % SELECTIVITY}") for i in range(start, stop)
        ]
        index.upsert(records, {f"v{i}": data[i] for i in range(start, stop)}, {}, {})
    if not index.flush():  # waits until the server searches every row through the index, as a build does
        log("index not serving every row after 10 min; measuring anyway")
    kind = "FLAT (exact)" if name == "milvus_flat" else "HNSW M16 efC200 ef64 (filtered: ef widened)"
    row: dict[str, Any] = {"store": name, "index": f"Milvus 2.3 server {kind}, {args.consistency}"}
    row["build_s"] = time.perf_counter() - t
    row["bytes_per_vector"] = max(0, _rss_kb(pid) - rss0) * 1024 / n
    search = lambda q: index.search_records(q, "text", k)  # noqa: E731
    row["p50_ms"], row["p95_ms"] = timed_singles(search, queries[: args.queries], args.budget)
    t = time.perf_counter()
    results = [index.search_records(queries[s : s + 100], "text", k) for s in range(0, len(queries), 100)]
    row["batch_qps"] = len(queries) / (time.perf_counter() - t)
    row["recall"] = recall([[i for i, _ in r] for block in results for r in block], truths["all"], k)
    fq = queries[: args.queries]
    t = time.perf_counter()
    filtered = [index.search_records(q[None, :], "text", k, {"domain": "d0"})[0] for q in fq]
    row["filtered_ms"] = (time.perf_counter() - t) / len(fq) * 1e3
    row["filtered_recall"] = recall([[i for i, _ in r] for r in filtered], truths["filtered"][: len(fq)], k)
    other = [index.search_records(q[None, :], "text", k, {"modality": "m0"})[0] for q in fq]  # not the partition key
    row["nonkey_recall"] = recall([[i for i, _ in r] for r in other], truths["filtered"][: len(fq)], k)
    client.drop_collection(index.name)
    return row


def markdown(rows: list[dict], header: str, args: Any, skipped: list[str]) -> str:
    lines = [
        "## Scale-out stores: compressed FAISS and a Milvus server (`benchmarks/bench_scale.py`)",
        "",
        f"Machine: {header}.",
        "",
        f"dim {args.dim}, {args.batch} queries, k={args.k}; p50/p95 = one query per call (up to {args.queries} or "
        f"{args.budget:.0f} s); filtered = one query per call with a filter passing 1% of the vectors (FAISS: "
        "allow-list; Milvus: scalar expression), recall against the exact filtered top-k. Bytes/vector: FAISS index "
        "file / n; Milvus: server RSS growth / n (vectors, payload columns and HNSW graph).",
        "",
        "| data | store | n | index | build s | bytes/vector | p50 ms | p95 ms | batch QPS | recall@10 "
        "| filtered 1%: ms | filtered recall@10 | same, filter not on the partition key |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} | {r['store']} | {r['n']:,} | {r['index']} | {r['build_s']:.1f} "
            f"| {r['bytes_per_vector']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['batch_qps']:,.0f} "
            f"| {r['recall']:.3f} | {r['filtered_ms']:.2f} | {r['filtered_recall']:.3f} "
            f"| {r['nonkey_recall']:.3f} |"
        )
    lines += ["", *(f"Skipped: {s}" for s in skipped), "", *NOTES]
    return "\n".join(lines).rstrip() + "\n"


NOTES = [
    "Reading the table:",
    "",
    "* Search settings are the cheapest reaching 0.95 recall@10 on the validation queries (else the largest tried: "
    "efSearch 1024, nprobe 256), so recall below 0.95 on the test queries means no setting tried reaches it. At 1M: "
    "`HNSW32,SQ8` reaches 0.955 on low-rank data at efSearch 64 (0.79 KB a vector, p50 0.3 ms), but full-rank data "
    "stays at 0.91 even at efSearch 1024 (1.8 ms) and `HNSW48,SQ8` at 0.92: on data with no low-dimensional "
    "structure the nearest neighbours are near-ties that graph search and 8-bit codes both blur. The 4-bit PQ codes "
    "of `IVF,PQ64x4fs,Refine(SQ8)` cap recall at 1M (0.87 / 0.78 even at nprobe 256): the refine step sees 32 x k "
    "candidates ranked by the coarse codes; raise `k_factor_rf` or prefer HNSW,SQ8 there.",
    "* 1M rows were run separately (one store or data set per run; the Milvus insert and index build alone take "
    "about 20 minutes on two cores) and merged into this table; bytes per vector of the FAISS rows do not depend "
    "on n beyond the IVF lists.",
    "* Filtered FAISS rows: `FaissStore` scores an allow-list that keeps at most 5% of the store exactly over its "
    "stored codes (recall 1.0 from full vectors, about 0.99 from SQ8 codes); before that rule, HNSW under a 1% "
    "filter reached 0.978 (low-rank) and 0.669 (full-rank) recall@10.",
    "* Single-query p50 moves by several ms between runs when another job holds the cores (these runs had the "
    "machine nearly to themselves: load average 1-3); batch QPS and recall are the stable figures. FAISS filtered "
    "searches at 1M (47-71 ms) score the 10,000 allowed vectors exactly from their stored codes.",
    "* Milvus 2.3 (the PyPI server) under a 1% filter: two losses, both fixed in `mmedrag.stores.milvus_search`. "
    "(1) Until the server hands the indexed segments to its query nodes (seconds after the index is built), it "
    "searches rows through an interim IVF index (nprobe 16 of 128, a server setting): 0.31 recall@10 at 20k "
    "full-rank; builds now wait for the hand-off (this benchmark used to measure too early). (2) HNSW under a filter "
    "keeps only the passing nodes its beam walks through: with ef 64, 0.67 at 100k full-rank after the hand-off "
    "(0.72 for a 10% filter at 12k); a filtered search now counts the rows its filter keeps (one count(*) query, "
    "about 3 ms) and widens ef to min(rows kept, ef / share kept), which costs 1-3 ms per filtered query. Before: "
    "0.924 / 0.918 (low-rank) and 0.660 / 0.654 (full-rank). FLAT stays the exact reference. At 1M full-rank "
    "vectors (HNSW M16, ef 64, full-precision vectors in four-plus segments, each searched and merged) recall@10 "
    "is 1.000 and 0.996 under a 1% filter, at 29 ms p50 and 73 ms filtered on two cores.",
    "* Milvus is slower per query than in-process FAISS: a gRPC round trip, the Python client and (with Strong "
    "consistency) a wait for the server's time tick. What it buys: any number of replicas share one index, nothing "
    "is loaded or rebuilt when a replica restarts, updates are visible to every replica without a redeploy, and the "
    "data can outgrow one machine (a cluster shards it).",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--data", default="lowrank,fullrank")
    p.add_argument("--stores", default=",".join(STORES))
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--budget", type=float, default=30.0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--out", type=Path)
    p.add_argument(
        "--target-recall", type=float, default=0.95, help="FAISS: cheapest setting reaching it on validation"
    )
    p.add_argument("--consistency", default="Bounded", help="Milvus searches: Bounded (serving) or Strong")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    stores = args.stores.split(",")
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    server, uri, pid = None, "", 0
    if any(name.startswith("milvus") for name in stores):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import milvus_server as local_server

        server = local_server.milvus_server()
        uri = server.__enter__()
        pid = int(local_server.RUNNING[-1].server_proc.pid)
    try:
        for kind in args.data.split(","):
            make = make_vectors if kind == "lowrank" else fullrank
            data, queries = make(max(sizes), args.dim, 0, 0), make(args.batch, args.dim, 0, 1)
            validation = make(max(100, args.batch // 4), args.dim, 0, 2)  # tunes search settings; never measured
            for n in sizes:
                allowed = np.arange(0, n, SELECTIVITY)
                tuning = (validation, exact_top(data[:n], validation, args.k))
                truths = {
                    "all": exact_top(data[:n], queries, args.k),
                    "filtered": allowed[exact_top(data[allowed], queries, args.k)],
                }
                for name in stores:
                    log(f"{kind} n={n}: {name}")
                    if name.startswith("milvus"):
                        row = bench_milvus(name, uri, pid, data[:n], queries, truths, args)
                    else:
                        row = bench_faiss(name, data[:n], queries, truths, tuning, args)
                    rows.append({"data": kind, "n": n, **row})
                    log(json.dumps(rows[-1]))
    finally:
        if server is not None:
            server.__exit__(None, None, None)
    section = markdown(rows, machine(), args, skipped)
    if args.out:
        write_section(args.out, "bench_scale", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
