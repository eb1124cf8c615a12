"""Peak memory of decoding large scans: `mmedrag index` over 16-bit PNGs, one 36 MP DICOM per codec, and the service.

Part ``index`` (below). Part ``dicom``: a 6000x6000 16-bit CT frame as uncompressed, RLE, JPEG-LS and JPEG 2000
DICOM and as a 16-bit PNG, each decoded by `load_image(..., max_side=1024)` (what ingest, index and the service do)
in a fresh child process; reports the peak added resident memory (VmHWM - VmRSS before). Target: <= 150 MB.
Part ``service``: `mmedrag serve` on a small hash-encoder index; the peak added RSS of one upload per format, of
16 concurrent RLE uploads, and the RSS left once they are answered. Targets: <= 150 MB per upload, <= 1 GB for 16
concurrent, back to baseline +- 50 MB. Issue 22 measured 1.19 GB, 5.4 GB and +0.9 GB before the fix.

Part ``index``:

Writes N (default 32) distinct 16-bit grey 12000x12000 PNGs (small files: mostly flat, with a few bright shapes, as
the scans of issue 11 were) and a manifest to a temporary folder, runs `mmedrag index` on them in a child process
with the hash encoder (no model weights, so the figure is the image path alone; add a real encoder's resident size
for a production run), and reports the child's peak resident set size. Target: <= 2 GB. Before the fix, 16 such
files took 9.9 GB (a batch of full-size decoded images plus float64 copies).

Run:  .venv/bin/python benchmarks/bench_memory.py --out BENCHMARKS.md        (about 7 minutes on 2 cores)
      .venv/bin/python benchmarks/bench_memory.py --part dicom --part service  (about 2 minutes)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchlib import machine, write_section

SIDE = 12_000
TARGET_GB = 2.0


def make_scans(folder: Path, count: int) -> Path:
    """``count`` distinct 16-bit PNGs and a manifest that lists them; returns the manifest."""
    rng = np.random.default_rng(0)
    pixels = np.full((SIDE, SIDE), 1200, dtype=np.uint16)
    lines = []
    for n in range(count):
        top, left = (int(v) for v in rng.integers(0, SIDE - 3000, 2))
        pixels[top : top + 3000, left : left + 2000] = 30000 + 1000 * n  # a distinct bright block per file
        path = folder / f"scan{n:02d}.png"
        Image.fromarray(pixels).save(path, compress_level=1)
        pixels[top : top + 3000, left : left + 2000] = 1200
        lines.append({"id": f"scan{n:02d}", "text": f"synthetic scan {n}", "image_paths": [path.name]})
    manifest = folder / "scans.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


def run_index(manifest: Path, index: Path, encoder: str, batch_size: int) -> tuple[float, float, str]:
    """Peak RSS (GB) and wall time of one `mmedrag index` child process, and its last stderr line."""
    code = (
        "import sys; from mmedrag.cli import main; "
        f"sys.exit(main(['index', {str(manifest)!r}, '--index', {str(index)!r}, '--encoder', {encoder!r}, "
        f"'--store', 'exact', '--batch-size', '{batch_size}']))"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mmedrag index failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB on Linux
    return peak_gb, seconds, next((ln for ln in done.stderr.splitlines() if " added, " in ln), "").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=["index", "dicom", "service"], help="(default: all)")
    parser.add_argument("--count", type=int, default=32, help="number of 12000x12000 16-bit PNGs (32)")
    parser.add_argument("--encoder", default="hash:64", help="encoder spec (default hash:64: no model)")
    parser.add_argument("--batch-size", type=int, default=32, help="index batch size (32: all files in one batch)")
    parser.add_argument("--out", help="write the result into this BENCHMARKS.md section")
    args = parser.parse_args()
    parts = args.part or ["index", "dicom", "service"]
    if "dicom" in parts or "service" in parts:
        from bench_memory_service import dicom_part, service_part

        with tempfile.TemporaryDirectory(prefix="bench_memory_dicom_") as tmp:
            if "dicom" in parts:
                _report(args.out, "bench_memory_dicom", dicom_part(Path(tmp)))
            if "service" in parts:
                _report(args.out, "bench_memory_service", service_part(Path(tmp)))
    if "index" in parts:
        _index_part(args)


def _report(out: str | None, name: str, text: str) -> None:
    print(text)
    if out:
        write_section(out, name, text)


def _index_part(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        manifest = make_scans(folder, args.count)
        made = time.perf_counter() - started
        size_kb = sum(p.stat().st_size for p in folder.glob("*.png")) / args.count / 1024
        peak, seconds, summary = run_index(manifest, folder / "idx", args.encoder, args.batch_size)
    verdict = "meets" if peak <= TARGET_GB else "MISSES"
    lines = [
        "## Memory of `mmedrag index` on large 16-bit scans (`benchmarks/bench_memory.py`)",
        "",
        f"Machine: {machine()}.",
        "",
        f"{args.count} distinct 16-bit grey {SIDE}x{SIDE} PNGs ({size_kb:.0f} KB each on disk, 288 MB each decoded), "
        f"one manifest, `mmedrag index --encoder {args.encoder} --store exact --batch-size {args.batch_size}` in a "
        "child process; peak resident set size of that process (`getrusage`, RUSAGE_CHILDREN).",
        "",
        "| files | peak RSS | target | index time | files written in |",
        "|---:|---:|---:|---:|---:|",
        f"| {args.count} | {peak:.2f} GB | <= {TARGET_GB:.0f} GB ({verdict}) | {seconds:.0f} s | {made:.0f} s |",
        "",
        "Each image is decoded alone, downscaled to a 1024-pixel side as it decodes (`io/images.py` `DECODE_SIDE`,",
        "Lanczos on the 16-bit pixels) and only then converted to 8-bit RGB, a strip of rows at a time (no float64",
        "copy); a batch holds 3 MB views. Before this, 16 files of 140 KB took 9.9 GB (issue 11). The hash encoder",
        "loads no weights: with a real encoder, add its resident size (not measured here).",
        f"Last run: `{summary}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_section(args.out, "bench_memory", text)


if __name__ == "__main__":
    main()
