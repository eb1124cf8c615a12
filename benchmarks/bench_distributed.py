"""Retriever training on 1 process vs 2 processes (``accelerate launch``, gloo) on CPU: seconds per epoch, speed-up,
peak memory per process, and the loss curves side by side (the same batches; the offline tower's batch norm sees
half a batch per process, so the curves differ a little).

Data: MedPix 2.0 (501 CT/MR images with captions), the offline tower (SmallCNN + frozen MiniLM). The one-process run
gets both cores (2 threads); the two-process run one core each, so the comparison is the same machine used two ways.

    .venv/bin/python benchmarks/bench_distributed.py --data ../shared/data/medpix2 --out BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import machine, write_section  # noqa: E402

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / "configs" / "accelerate" / "cpu.yaml"


def _peak_rss(process: subprocess.Popen[str], peaks: dict[int, int], stop: threading.Event) -> None:
    """Poll the run's process tree: the peak resident memory of every training process (the launcher excluded)."""
    root = psutil.Process(process.pid)
    while not stop.is_set():
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for member in family:
            try:
                command = " ".join(member.cmdline())
                if "train-retriever" in command and "accelerate.commands.launch" not in command:
                    peaks[member.pid] = max(peaks.get(member.pid, 0), member.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        stop.wait(0.2)


def _run(processes: int, args: list[str]) -> dict[str, Any]:
    if processes == 1:
        argv = [sys.executable, "-m", "mmedrag", *args]
        threads = "2"
    else:
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG)]
        argv = [*launcher, "--num_processes", str(processes), "-m", "mmedrag", *args]
        threads = "1"
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONWARNINGS": "ignore"}
    peaks: dict[int, int] = {}
    stop = threading.Event()
    started = time.perf_counter()
    run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watcher = threading.Thread(target=_peak_rss, args=(run, peaks, stop), daemon=True)
    watcher.start()
    out, err = run.communicate()
    stop.set()
    watcher.join()
    if run.returncode != 0:
        raise SystemExit(f"{processes} process(es) failed:\n{err[-2000:]}")
    report = json.loads(out)
    return {
        "processes": processes,
        "wall_s": round(time.perf_counter() - started, 1),
        "train_s": report["seconds"],
        "epoch_s": report["epoch_seconds"],
        "losses": report["losses"],
        "after_mean": report["after_mean"],
        "train_pairs": report["train_pairs"],
        "peak_rss_mb": sorted(round(v / 2**20) for v in peaks.values()),
    }


def _table(rows: list[dict[str, Any]], epochs: int, pairs: int) -> str:
    base = rows[0]["train_s"]
    lines = [
        f"Offline tower (SmallCNN + frozen MiniLM), {pairs} MedPix 2.0 training pairs, {epochs} epochs, batch 32; "
        f"the same 2 cores used by 1 process (2 threads) or 2 processes (1 thread each). `train_s` is what the run "
        f"reports (model build, recall before/after and the epochs); `wall_s` adds interpreter start and the launcher.",
        "",
        "| processes | seconds per epoch | epochs speed-up | train_s | speed-up | wall_s | peak RSS per process (MB) "
        "| losses | held-out mean recall after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    epochs = sum(rows[0]["epoch_s"])
    for row in rows:
        lines.append(
            f"| {row['processes']} | {', '.join(f'{x:.1f}' for x in row['epoch_s'])} | "
            f"{epochs / sum(row['epoch_s']):.2f}x | {row['train_s']} | {base / row['train_s']:.2f}x | "
            f"{row['wall_s']} | "
            f"{', '.join(map(str, row['peak_rss_mb']))} | {', '.join(f'{x:.3f}' for x in row['losses'])} | "
            f"{row['after_mean']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "medpix2"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", help="BENCHMARKS.md to update (section bench_distributed)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for processes in (1, 2):
            command = ["train-retriever", args.data, "--out", f"{tmp}/p{processes}", "--epochs", str(args.epochs)]
            command += ["--batch-size", "32", "--allow-worse", "--no-resume", "--json"]
            rows.append(_run(processes, command))
            print(json.dumps(rows[-1]), flush=True)
    body = _table(rows, args.epochs, rows[0]["train_pairs"])
    print(body)
    if args.out:
        write_section(args.out, "bench_distributed", f"Machine: {machine()}\n\n{body}\n")


if __name__ == "__main__":
    main()
