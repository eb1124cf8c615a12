"""Where a batch of the transformers generator spends its time, phase by phase, on a GPU (or a CPU with ``--tiny``).

Times the processor, prefix planning and prefill, the expanded cache and ``generate`` itself (CUDA synchronised)
for plain batching and for prefix sharing on the same prompts as ``gpu_generate.py`` (LLaVA-1.5-7B layout, k=5,
IU-Xray-shaped groups), so a setting that is slower than expected shows which phase costs it.

    python benchmarks/gpu_phases.py --out-dir "$OUT"            # on the GPU machine (about 2 minutes)
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

from genlib import configure
from gpu_generate import FULL, TINY, workload
from mmedrag.generation import hf as hf_module
from mmedrag.generation import prefix_cache
from mmedrag.generation.hf import HFGenerator


def instrument(generator: HFGenerator, totals: dict[str, float], sync: Any) -> None:
    """Wrap the generator's phases so each call adds its wall time (synchronised) to ``totals``."""

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sync()
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                sync()
                totals[name] += time.perf_counter() - started

        return wrapper

    generator.processor = _Timed(generator.processor, timed("processor", generator.processor.__call__))
    generator.model.generate = timed("generate", generator.model.generate)
    hf_module.prefix_cache.prefill = timed("prefix prefill", prefix_cache.prefill)
    hf_module.prefix_cache.expand = timed("expand cache", prefix_cache.expand)
    hf_module.prefix_cache.plan_layout = timed("plan layout", prefix_cache.plan_layout)


class _Timed:
    """A processor whose calls are timed; everything else passes through."""

    def __init__(self, processor: Any, call: Any) -> None:
        self._processor, self._call = processor, call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._processor, name)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path(os.environ.get("OUT", "gpu_phases_out")))
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--questions", type=int, default=64)
    args = parser.parse_args()
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
    results = {}
    for setting in ("plain batching", "+ prefix sharing", "+ one-pass closed"):
        configure(generator, setting, args.batch).generate(prompts[: args.batch])  # warm-up
        totals.clear()
        sync()
        started = time.perf_counter()
        generator.generate(prompts)
        sync()
        wall = time.perf_counter() - started
        results[setting] = {"wall_s": round(wall, 3), "q_per_s": round(len(prompts) / wall, 2)}
        results[setting] |= {name: round(seconds, 3) for name, seconds in sorted(totals.items())}
        print(setting, json.dumps(results[setting]), flush=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "phases.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
