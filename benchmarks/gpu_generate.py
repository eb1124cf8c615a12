"""GPU benchmark of the transformers generator at 7B scale: random-weight LLaVA-1.5-7B (CLIP ViT-L/336 + Mistral-7B,
LLaVA-Med-1.5's architecture) and Qwen2.5-VL-7B built from config in bf16, on IU-Xray-shaped question groups
(4.4 closed questions per image), k = 5 references (0/1/10 where the budget allows), 24 new tokens or one-pass closed
answers.

Two kinds of cells, in priority order: (1) milliseconds per decode step at batch 1/32/128 (plain ``generate`` and the
static cache with a compiled decode step) beside the memory-bandwidth bound (language-model weights plus KV cache
read once per step at the card's data-sheet bandwidth) and their ratio; (2) questions per second for each setting of
``genlib.SETTINGS`` (each adds one technique: prefix sharing, batched prefills, the image cache, compiled decode,
one-pass closed answers) with the time of each phase (processor, prefix prefill, cache expansion, static cache,
``generate``) and peak GPU memory.

Built for one device call of under 7 minutes: cells run in priority order and stop when ``--budget-s`` (counted
from the start, model build included) is spent; a cell that fails (out of memory) is recorded and the rest go on;
results are written after every cell (``results.json`` and ``results.md`` in ``--out-dir``, default ``$OUT``).
Needs only torch + transformers (the ``hf`` extra) and this repository; nothing is downloaded.

    python benchmarks/gpu_generate.py --out-dir "$OUT"          # on the GPU machine
    python benchmarks/gpu_generate.py --tiny --out-dir /tmp/g    # CPU smoke test with toy dimensions
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from genlib import (
    bandwidth_gbs,
    build_llava,
    build_qwen2_5_vl,
    configure,
    decode_bound_ms,
    decode_step_ms,
    instrument,
    timed_run,
    truncate_tokens,
)
from mmedrag.generation.hf import HFGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Hit, Prompt, Query, Record

# Issue 15, one H200, plain transformers generate, LLaVA-1.5-7B (Mistral) architecture: (k, batch) -> questions/s.
REFERENCE = {(0, 32): 26.9, (1, 32): 29.2, (5, 32): 20.8, (10, 32): 16.7, (5, 64): 19.6, (5, 128): 24.7, (5, 256): 26.0}
GOALS = "plain k=5 >= 36 q/s (80% of the ~45 q/s floor); prefix sharing + one-pass closed >= 100 q/s (floor ~190)"
GROUP_SIZES = (4, 4, 5, 4, 5)  # 4.4 questions per image, as IU-Xray's test set (2,573 questions on 587 images)
QUESTIONS = (
    "Is there a pleural effusion?",
    "Is the heart size normal?",
    "Is there a pneumothorax?",
    "Are the lungs clear?",
    "Is there focal airspace consolidation?",
    "Is the mediastinal contour normal?",
)
REPORT = (
    "The cardiomediastinal silhouette is within normal limits. No focal airspace consolidation, pleural effusion or "
    "pneumothorax. Degenerative changes of the thoracic spine. Right lower lobe opacity concerning for pneumonia. "
)

FULL = {
    "llava-1.5-7b": (
        build_llava,
        {
            "text": {
                "model_type": "mistral",
                "hidden_size": 4096,
                "intermediate_size": 14336,
                "num_hidden_layers": 32,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "max_position_embeddings": 32768,
                "rope_theta": 1e6,
                "sliding_window": None,
            },
            "vision": {
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 24,
                "num_attention_heads": 16,
                "image_size": 336,
                "projection_dim": 768,
            },
            "vocab_size": 32000,
        },
    ),
    "qwen2.5-vl-7b": (
        build_qwen2_5_vl,
        {
            "text": {
                "hidden_size": 3584,
                "intermediate_size": 18944,
                "num_hidden_layers": 28,
                "num_attention_heads": 28,
                "num_key_value_heads": 4,
                "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
            },
            "vision": {
                "depth": 32,
                "hidden_size": 1280,
                "intermediate_size": 3420,
                "num_heads": 16,
                "out_hidden_size": 3584,
                "window_size": 112,
                "fullatt_block_indexes": [7, 15, 23, 31],
            },
            "pixels": 448 * 448,  # 16 x 16 merged patches = 256 image tokens
            "vocab_size": 152064,
        },
    ),
}
TINY = {
    "llava-1.5-7b": (
        build_llava,
        {
            "text": {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
            | {"num_attention_heads": 4, "num_key_value_heads": 2, "sliding_window": None},
            "vision": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
            | {"image_size": 336, "projection_dim": 32},
            "vocab_size": 32000,
        },
    ),
    "qwen2.5-vl-7b": (
        build_qwen2_5_vl,
        {
            "text": {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4}
            | {"num_key_value_heads": 2, "rope_parameters": {"rope_type": "default", "mrope_section": [2, 2, 2]}},
            "vision": {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 4, "out_hidden_size": 48}
            | {"window_size": 56, "fullatt_block_indexes": [1]},
            "pixels": 448 * 448,
            "vocab_size": 152064,
        },
    ),
}


def plan(arch: str, tiny: bool) -> list[tuple[str, str, int, int]]:
    """(kind, setting, k, batch) cells in priority order: decode steps first, then the throughput goals (decoded
    answers with every technique, one-pass closed), the same-session plain baseline, then the ladder."""
    if tiny:
        decode = [("decode", s, 5, b) for s in ("plain batching", "plain + compiled decode") for b in (1, 4)]
        ladder = ["plain batching", "+ prefix sharing", "+ batched prefills", "+ compiled decode", "+ one-pass closed"]
        return decode + [("throughput", s, 5, 8) for s in ladder]
    decode = [("decode", s, 5, b) for s in ("plain batching", "plain + compiled decode") for b in (1, 32, 128)]
    runs = [("+ compiled decode", 5, 32), ("+ compiled decode", 5, 128), ("+ one-pass closed", 5, 128)]
    runs += [("plain batching", 5, 32), ("plain batching", 5, 128)]
    runs += [("+ batched prefills", 5, b) for b in (32, 128)] + [("+ image cache", 5, b) for b in (32, 128)]
    runs += [("+ prefix sharing", 5, 32), ("plain + compiled decode", 5, 32), ("plain + compiled decode", 5, 128)]
    runs += [("+ one-pass closed", 5, 256), ("+ compiled decode", 5, 64), ("+ compiled decode", 5, 256)]
    runs += [("+ one-pass closed", k, 128) for k in (0, 1, 10)]
    if arch != "llava-1.5-7b":  # the reference figures are LLaVA's: Qwen gets the goal cells only
        decode = [d for d in decode if d[3] == 32]
        runs = runs[:5]
    return decode + [("throughput", *run) for run in runs]


def workload(
    generator: HFGenerator, k: int, questions: int, ref_tokens: int, image_px: int, first_seed: int = 0
) -> list[Prompt]:
    """IU-Xray-shaped groups: a seeded noise image per group (seeds from ``first_seed``), k references of
    ``ref_tokens`` tokens each."""
    from PIL import Image

    builder, prompts, group = PromptBuilder(max_reference_tokens=max(1, k) * ref_tokens), [], 0
    while len(prompts) < questions:
        rng = random.Random(first_seed + group)
        image = Image.frombytes("RGB", (image_px, image_px), rng.randbytes(image_px * image_px * 3))
        texts = [truncate_tokens(generator, REPORT[i * 7 :] + REPORT, ref_tokens) for i in range(k)]
        hits = [Hit(Record(id=f"g{group}-r{i}", text=t), 1.0, i + 1) for i, t in enumerate(texts)]
        for number in range(GROUP_SIZES[group % len(GROUP_SIZES)]):
            query = Query(text=QUESTIONS[(group + number) % len(QUESTIONS)], image=image)
            prompts.append(builder.build(query, Context(hits=hits), "radiology", generator.count_tokens, task="closed"))
        group += 1
    return prompts[:questions]


def bench_arch(arch: str, args: argparse.Namespace, results: dict[str, Any], deadline: float) -> None:
    import torch

    builder, params = (TINY if args.tiny else FULL)[arch]
    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda" if cuda else "cpu"
    started = time.perf_counter()
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16 if cuda else torch.float32)
    with torch.device(device):
        model, processor = builder(**params)
    torch.set_default_dtype(torch.float32)
    generator = HFGenerator(arch, preloaded=(model, processor), device=device, max_new_tokens=args.max_new_tokens)
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    results["models"][arch] = {"parameters_b": round(params_b, 3), "build_s": round(time.perf_counter() - started, 1)}
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    totals: dict[str, float] = defaultdict(float)
    instrument(generator, totals, sync)
    for kind, setting, k, batch in plan(arch, args.tiny):
        name = f"{arch} {kind} {setting} k={k} batch={batch}"
        if time.perf_counter() > deadline:
            results["skipped"].append(f"{name} (budget spent)")
            continue
        try:
            if kind == "decode":
                row = decode_cell(generator, setting, k, batch, args, results["bandwidth_gbs"], sync)
            else:
                row = throughput_cell(generator, setting, k, batch, args, totals, sync)
        except Exception as exc:  # out of memory, a failed compilation: record it, run the rest of the one call
            first = (str(exc).strip().splitlines() or [""])[0][:160]
            results["failed"].append(f"{name}: {type(exc).__name__}: {first}")
            write(results, args.out_dir)
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
            continue
        row = {"arch": arch, "kind": kind, "setting": setting, "k": k, "batch": batch, **row}
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1) if cuda else None
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
        write(results, args.out_dir)
    del generator, model
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()


def decode_cell(
    generator: HFGenerator, setting: str, k: int, batch: int, args: argparse.Namespace, gbs: float | None, sync: Any
) -> dict[str, Any]:
    """ms per decode step at one batch size, against the bandwidth bound (None on an unknown card)."""
    import torch

    configure(generator, setting, batch)
    prompts = workload(generator, k, batch, args.ref_tokens, args.image_px)
    decode_step_ms(generator, prompts, 4, sync)  # warm-up: kernels, allocator, compilation of this shape
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    measured = decode_step_ms(generator, prompts, args.max_new_tokens, sync)
    context = measured["width"] + args.max_new_tokens / 2  # mean cache length over the decode steps
    bound = decode_bound_ms(generator.model, batch, context, gbs) if gbs else None
    return {
        "decode": generator.decode_cache,
        "ms_per_step": round(measured["ms_per_step"], 2),
        "bound_ms": round(bound, 2) if bound else None,
        "x_bound": round(measured["ms_per_step"] / bound, 2) if bound else None,
        "prefill_ms": round(measured["prefill_ms"], 1),
        "prompt_tokens": measured["width"],
    }


def throughput_cell(
    generator: HFGenerator,
    setting: str,
    k: int,
    batch: int,
    args: argparse.Namespace,
    totals: dict[str, float],
    sync: Any,
) -> dict[str, Any]:
    """Questions per second of one setting, with each phase's seconds."""
    import torch

    count = args.questions or (32 if batch < 8 else max(128, 2 * batch))
    prompts = workload(generator, k, count, args.ref_tokens, args.image_px)
    # Warm-up on other images (the image cache must not start warm): kernels, allocator, compiled shapes.
    # One and a half batches: two row counts, so that a compiled decode step also meets its second shape (torch then
    # recompiles once with dynamic shapes) before the clock starts.
    warm = workload(generator, k, batch + max(1, batch // 2), args.ref_tokens, args.image_px, 10**6)
    configure(generator, setting, batch).generate(warm)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    totals.clear()
    measured = timed_run(generator, prompts, sync)
    phases = {f"{name}_s": round(seconds, 3) for name, seconds in sorted(totals.items())}
    reference = REFERENCE.get((k, batch)) if setting == "plain batching" else None
    return {
        "decode": generator.decode_cache,
        "questions": count,
        "questions_per_s": round(measured.per_second, 2),
        "wall_s": round(measured.seconds, 3),
        **phases,
        "prompt_tokens": round(sum(g.prompt_tokens for g in measured.generations) / count, 1),
        "prefill_tokens_per_question": round(measured.prefill_tokens_per_question, 1),
        "padding_fraction": round(measured.padding_fraction, 3),
        "x_reference_plain": round(measured.per_second / reference, 2) if reference else None,
    }


def write(results: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    lines = [
        f"Device: {results['device']} ({results['bandwidth_gbs'] or 'unknown'} GB/s data sheet); "
        f"torch {results['torch']}, transformers {results['transformers']}.",
        f"Models: {results['models']}. Goals: {GOALS}.",
        "",
        "Decode steps (`ms/step`: median gap between two tokens of one generate call; `bound`: language-model "
        "weights plus KV cache read once at the data-sheet bandwidth):",
        "",
        "| arch | setting | decode | k | batch | prompt tokens | prefill ms | ms/step | bound ms | x bound |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in results["runs"] if r["kind"] == "decode"):
        lines.append(
            f"| {r['arch']} | {r['setting']} | {r['decode']} | {r['k']} | {r['batch']} | {r['prompt_tokens']} | "
            f"{r['prefill_ms']} | {r['ms_per_step']} | {r['bound_ms'] or '-'} | {r['x_bound'] or '-'} |"
        )
    phases = ("processor", "plan layout", "prefix prefill", "expand cache", "static cache", "generate")
    lines += [
        "",
        "Throughput (phases in seconds over the whole run; `other` = wall minus the phases):",
        "",
        "| arch | setting | decode | k | batch | questions/s | x reference plain | wall s | "
        + " | ".join(phases)
        + " | other | prefill tokens/q | padding | peak GiB |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(phases) + "---|---|---|---|",
    ]
    for r in (r for r in results["runs"] if r["kind"] == "throughput"):
        spent = [r.get(f"{phase}_s", 0.0) for phase in phases]
        other = r["wall_s"] - sum(spent)  # the phases do not nest: batching, the answers' decoding, Python
        lines.append(
            f"| {r['arch']} | {r['setting']} | {r['decode']} | {r['k']} | {r['batch']} | {r['questions_per_s']} | "
            f"{r['x_reference_plain'] or '-'} | {r['wall_s']} | "
            + " | ".join(str(value) for value in spent)
            + f" | {round(other, 3)} | {r['prefill_tokens_per_question']} | {r['padding_fraction']} | "
            f"{r['peak_gib'] or '-'} |"
        )
    if results["skipped"]:
        lines += ["", "Skipped: " + "; ".join(results["skipped"])]
    if results["failed"]:
        lines += ["", "Failed: " + "; ".join(results["failed"])]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    import torch
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path(os.environ.get("OUT", "gpu_generate_out")))
    parser.add_argument("--tiny", action="store_true", help="toy dimensions on CPU: a smoke test of the script")
    parser.add_argument("--archs", default="llava-1.5-7b", help="comma-separated: llava-1.5-7b, qwen2.5-vl-7b")
    parser.add_argument("--budget-s", type=float, default=330.0, help="start no cell after this many seconds")
    parser.add_argument("--questions", type=int, default=0, help="questions per run (0: max(128, 2 x batch))")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--ref-tokens", type=int, default=75, help="tokens per reference (k=5 LLaVA: ~1,137 in all)")
    parser.add_argument("--image-px", type=int, default=512)
    parser.add_argument("--bandwidth-gbs", type=float, default=0.0, help="memory bandwidth (0: from the card's name)")
    args = parser.parse_args()
    if args.tiny:
        args.questions = args.questions or 12
        args.max_new_tokens = min(args.max_new_tokens, 4)
    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.cuda.get_device_name(0) if cuda else "CPU (smoke test)"
    gbs = args.bandwidth_gbs or (bandwidth_gbs(device) if cuda else None)
    results: dict[str, Any] = {"device": device, "torch": torch.__version__, "transformers": transformers.__version__}
    results.update(bandwidth_gbs=gbs, models={}, runs=[], skipped=[], failed=[])
    deadline = time.perf_counter() + args.budget_s
    for arch in args.archs.split(","):
        if time.perf_counter() > deadline:
            results["skipped"].append(f"{arch} (budget spent)")
            continue
        bench_arch(arch, args, results, deadline)
    write(results, args.out_dir)
    print((args.out_dir / "results.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
