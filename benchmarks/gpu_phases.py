"""Where a batch of the transformers generator spends its time, phase by phase, on a GPU (or a CPU with ``--tiny``).

Times the processor, prefix planning, prefix prefills, the expanded cache, the static cache and ``generate`` itself
(CUDA synchronised) for every setting of ``genlib.SETTINGS`` in turn (each adds one technique) on the same prompts
as ``gpu_generate.py`` (LLaVA-1.5-7B layout, k=5, IU-Xray-shaped groups), so a setting that is slower than expected
shows which phase costs it. ``phases.json`` is written after every setting.

    python benchmarks/gpu_phases.py --out-dir "$OUT"            # on the GPU machine (about 3 minutes)
    python benchmarks/gpu_phases.py --tiny --out-dir /tmp/p      # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from genlib import EXTRA_SETTINGS, SETTINGS, configure, instrument
from gpu_generate import FULL, TINY, workload
from mmedrag.generation.hf import HFGenerator


def run_setting(
    generator: HFGenerator, setting: str, prompts: list[Any], args: argparse.Namespace, totals: Any, sync: Any
) -> dict[str, Any]:
    """The fastest of ``args.repeats`` timed runs of one setting over ``prompts``, with each phase's seconds."""
    # Other images (the image cache starts cold), one and a half batches (a compiled step meets two shapes).
    warm = workload(generator, 5, args.batch + max(1, args.batch // 2), 75, 512, first_seed=10**6)
    configure(generator, setting, args.batch).generate(warm)
    best: dict[str, Any] = {}
    for _ in range(args.repeats):
        configure(generator, setting, args.batch)  # a fresh image cache: every repeat starts cold
        totals.clear()
        sync()
        started = time.perf_counter()
        generator.generate(prompts)
        sync()
        wall = time.perf_counter() - started
        if not best or wall < best["wall_s"]:
            best = {"decode": generator.decode_cache, "wall_s": round(wall, 3)}
            best |= {"q_per_s": round(len(prompts) / wall, 2), "best_of": args.repeats}
            best |= {phase: round(seconds, 3) for phase, seconds in sorted(totals.items())}
            best["other"] = round(wall - sum(totals.values()), 3)
    return best


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path(os.environ.get("OUT", "gpu_phases_out")))
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--questions", type=int, default=128)
    parser.add_argument("--budget-s", type=float, default=300.0, help="start no setting after this many seconds")
    parser.add_argument("--settings", default="", help="comma-separated settings to run (default: all)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting; the fastest is kept")
    args = parser.parse_args()
    deadline = time.perf_counter() + args.budget_s
    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    builder, params = (TINY if args.tiny else FULL)["llava-1.5-7b"]
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16 if cuda else torch.float32)
    with torch.device(device):
        model, processor = builder(**params)
    torch.set_default_dtype(torch.float32)
    generator = HFGenerator("llava", preloaded=(model, processor), device=device, max_new_tokens=4 if args.tiny else 24)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    totals: dict[str, float] = defaultdict(float)
    instrument(generator, totals, sync)
    prompts = workload(generator, 5, args.questions, 75, 512)
    name = torch.cuda.get_device_name(0) if cuda else "CPU (smoke test)"
    results: dict[str, Any] = {"device": name, "batch": args.batch, "questions": len(prompts), "settings": {}}
    chosen = args.settings.split(",") if args.settings else [*SETTINGS, *EXTRA_SETTINGS]
    for setting in chosen:
        if time.perf_counter() > deadline:
            results.setdefault("skipped", []).append(setting)
            continue
        try:
            row = results["settings"][setting] = run_setting(generator, setting, prompts, args, totals, sync)
        except Exception as exc:  # out of memory, a failed compilation: record it, run the other settings
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            row = results["settings"][setting] = {"failed": f"{type(exc).__name__}: {first}"}
            if cuda:
                torch.cuda.empty_cache()
        print(setting, json.dumps(row), flush=True)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "phases.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
