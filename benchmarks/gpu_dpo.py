"""GPU check: a few DPO steps (``mmedrag.training.dpo.train_dpo``: TRL + LoRA, noise image on the rejected side) of a
2-7 B-parameter VLM built from config with random weights: tokens/s, step time, peak GPU memory and the card.

Configs: ``qwen2_5_vl_3b`` (Qwen2.5-VL-3B's shape: 36 x 2048 LM, 32-block 1280-wide ViT; 448 px images -> 256 image
tokens), ``qwen2_5_vl_7b`` (the 7B layout the reference systems tuned: 28 x 3584 LM, the same ViT), ``gemma3_4b``
(MedGemma-4B's shape: 34 x 2560 LM, 27-layer SigLIP-So400m at 896 px -> 256 tokens) and
``tiny`` (the test suite's tiny Qwen2.5-VL, for a CPU smoke run). The vocabulary is a 700-token BPE trained on the fly
(a small vocabulary): 3.4 and 3.6 B parameters instead of 3.8 and 4.3 B, the compute per token nearly equal.
Data: synthetic pairs (structured images, 20-60-word answers), half of them with a pure-noise rejected image.

Smoke test on CPU:  .venv/bin/python benchmarks/gpu_dpo.py --config tiny --steps 2 --out /tmp/gpu_dpo.json

On the device machine (it has torch, transformers 5.17, peft, accelerate, pyarrow; not trl, datasets, pydantic):
once, here, fetch wheels that match this venv:
    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \\
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \\
      trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 transformers==5.24.0 peft==0.21.2 \\
      huggingface_hub==2.4.0 pydantic==2.14.4 pydantic_core==2.50.5 annotated_types==0.8.0 typing_inspection==0.4.5
  then one run (carry [".whl"], timeout_s 540; about 1 min to build and save the model, then the steps):
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && \\
    export PYTHONPATH=/tmp/site:src:tests PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 && \\
    python3 benchmarks/gpu_dpo.py --config qwen2_5_vl_3b --steps 12 --out $OUT/gpu_dpo.json
  and back here:
    .venv/bin/python benchmarks/gpu_dpo.py --record FILES_AT/gpu_dpo.json --benchmarks BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tiny_vlms: tokenizer and templates

from benchlib import write_section

# Qwen2.5-VL language-model shapes (hidden, MLP, layers, heads, KV heads, tied embeddings) from the released configs;
# the 7B layout is the one MMed-RAG and RULE tuned (LLaVA-Med 7B: the same 7B class, method.md §5.4).
QWEN_SHAPES = {"qwen2_5_vl_3b": (2048, 11008, 36, 16, 2, True), "qwen2_5_vl_7b": (3584, 18944, 28, 28, 4, False)}
CONFIGS = ("tiny", *QWEN_SHAPES, "gemma3_4b")
_WORD_LIST = (
    "no acute cardiopulmonary abnormality heart size normal lungs clear right lower lobe consolidation small left "
    "pleural effusion pneumothorax mediastinal silhouette within limits degenerative changes spine lesion liver mass"
)
WORDS = tuple(_WORD_LIST.split())


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build_model(name: str, folder: Path, device: str) -> Path:
    """Save a random-init model of ``name``'s shape with a processor to ``folder`` (bf16 on CUDA)."""
    import torch
    import transformers

    from tiny_vlms import GEMMA3_TEMPLATE, QWEN2_5_VL_TEMPLATE, build_tiny_vlm, build_tokenizer

    if name == "tiny":
        return build_tiny_vlm("qwen2_5_vl", folder)
    if name in QWEN_SHAPES:
        hidden, mlp, layers, heads, kv_heads, tied = QWEN_SHAPES[name]
        specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>"]
        specials += ["<|image_pad|>", "<|video_pad|>"]
        tok = build_tokenizer(specials, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN2_5_VL_TEMPLATE)
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
        config: Any = transformers.Qwen2_5_VLConfig(
            text_config={
                "vocab_size": len(tok), "hidden_size": hidden, "intermediate_size": mlp, "num_hidden_layers": layers,
                "num_attention_heads": heads, "num_key_value_heads": kv_heads, "tie_word_embeddings": tied,
                "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24], "rope_theta": 1e6},
                "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                "pad_token_id": ids["<|endoftext|>"],
            },
            vision_config={
                "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": hidden,
                "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                "fullatt_block_indexes": [7, 15, 23, 31],
            },
            image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
            vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        )  # fmt: skip
        pixels = {"min_pixels": 448 * 448, "max_pixels": 448 * 448}
        processor: Any = transformers.Qwen2_5_VLProcessor(
            image_processor=transformers.Qwen2VLImageProcessor(**pixels),
            video_processor=transformers.Qwen2VLVideoProcessor(**pixels),
            tokenizer=tok,
            chat_template=QWEN2_5_VL_TEMPLATE,
        )
        model_cls: Any = transformers.Qwen2_5_VLForConditionalGeneration
    else:
        specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
        image = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
        tok = build_tokenizer(
            specials + list(image.values()), bos="<bos>", eos="<eos>", pad="<pad>", unk="<unk>", add_bos=True,
            chat_template=GEMMA3_TEMPLATE, extra_special_tokens=image,
        )  # fmt: skip
        ids = {t: tok.convert_tokens_to_ids(t) for t in specials + list(image.values())}
        gemma3_config: Any = transformers.Gemma3Config  # its stub lacks image_token_id, which 5.x accepts
        config = gemma3_config(
            text_config={
                "vocab_size": len(tok), "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34,
                "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 1024,
                "bos_token_id": ids["<bos>"], "eos_token_id": [ids["<eos>"], ids["<end_of_turn>"]],
                "pad_token_id": ids["<pad>"],
            },
            vision_config={
                "model_type": "siglip_vision_model", "hidden_size": 1152, "intermediate_size": 4304,
                "num_hidden_layers": 27, "num_attention_heads": 16, "image_size": 896, "patch_size": 14,
                "vision_use_head": False,
            },
            mm_tokens_per_image=256, boi_token_id=ids["<start_of_image>"], eoi_token_id=ids["<end_of_image>"],
            image_token_id=ids["<image_soft_token>"],
        )  # fmt: skip
        processor = transformers.Gemma3Processor(
            image_processor=transformers.Gemma3ImageProcessor(size={"height": 896, "width": 896}),
            tokenizer=tok,
            chat_template=GEMMA3_TEMPLATE,
            image_seq_length=256,
        )
        model_cls = transformers.Gemma3ForConditionalGeneration
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: minutes faster than a CPU init of 3-4 B parameters
        model = model_cls._from_config(config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    log(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters; saving")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    del model
    return folder


def write_pairs(folder: Path, count: int, size: int, seed: int) -> Path:
    """``count`` pairs with structured images; every other pair has a pure-noise rejected image (method.md §5.1.4)."""
    from PIL import Image

    from mmedrag.evaluation.reliance import noise_image

    rng = random.Random(seed)
    lines = []
    for number in range(count):
        image = Image.linear_gradient("L").rotate(7 * number).resize((size, size)).convert("RGB")
        image.save(folder / f"img{number}.png")
        noise = None
        if number % 2 == 0:
            noise_image(image.size, number).save(folder / f"noise{number}.png")
            noise = [f"noise{number}.png"]
        answer = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60))) for _ in range(2)]
        lines.append(
            {
                "id": f"q{number}",
                "pair_type": "cross_modality" if noise else "retrieval_hurts",
                "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Findings?"}]}],
                "chosen": [{"role": "assistant", "content": [{"type": "text", "text": answer[0]}]}],
                "rejected": [{"role": "assistant", "content": [{"type": "text", "text": answer[1]}]}],
                "images": [f"img{number}.png"],
                "rejected_images": noise,
            }
        )
    path = folder / "prefs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    import transformers

    from mmedrag.training.dpo import DPOSettings, train_dpo

    cuda = torch.cuda.is_available()
    timing: dict[str, Any] = {}

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, *_: Any, **__: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            timing.setdefault("starts", []).append(time.perf_counter())

        def on_step_end(self, *_: Any, **__: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            timing.setdefault("ends", []).append(time.perf_counter())

    original = transformers.Trainer.train

    def timed_train(trainer: Any, *a: Any, **k: Any) -> Any:
        trainer.add_callback(StepTimer())
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        output = original(trainer, *a, **k)
        timing["log"] = list(trainer.state.log_history)
        timing["parameters"] = sum(p.numel() for p in trainer.model.parameters())
        timing["peak"] = torch.cuda.max_memory_allocated() / 1024**3 if cuda else None
        return output

    transformers.Trainer.train = timed_train  # type: ignore[method-assign,assignment]  # time the loop only
    with tempfile.TemporaryDirectory(prefix="gpu_dpo_") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        base = build_model(args.config, work / "model", "cuda" if cuda else "cpu")
        built = time.perf_counter() - started
        size = 64 if args.config == "tiny" else (448 if args.config in QWEN_SHAPES else 896)
        prefs = write_pairs(work, args.steps * args.batch_size, size, args.seed)
        settings = DPOSettings(
            learning_rate=1e-5, per_device_batch_size=args.batch_size, lora_r=args.lora_r, lora_alpha=2 * args.lora_r,
            gradient_checkpointing=args.gradient_checkpointing, seed=args.seed, trl_args={"max_steps": args.steps},
        )  # fmt: skip
        report = train_dpo(prefs, base, work / "adapter", settings)
    starts, ends = timing["starts"], timing["ends"]
    step_s = [end - start for start, end in zip(starts, ends, strict=True)]
    timed = step_s[args.warmup :] or step_s
    tokens = [e["num_tokens"] for e in timing["log"] if "num_tokens" in e]  # cumulative attention-mask tokens
    per_step = [b - a for a, b in zip([0, *tokens[:-1]], tokens, strict=True)]
    timed_tokens = sum(per_step[args.warmup :] or per_step)
    return {
        "config": args.config,
        "device": card(),
        "versions": {m: __import__(m).__version__ for m in ("torch", "transformers", "trl", "peft", "datasets")},
        "parameters_b": round(timing["parameters"] / 1e9, 4),
        "trainable_parameters_m": round(report.trainable_parameters / 1e6, 2),
        "steps": report.steps,
        "batch_pairs": args.batch_size,
        "warmup_steps_untimed": min(args.warmup, len(step_s) - 1),
        "tokens_per_step": round(statistics.mean(per_step), 1),
        "tokens_per_s": round(timed_tokens / sum(timed), 1),
        "pairs_per_s": round(args.batch_size * len(timed) / sum(timed), 3),
        "step_ms_median": round(1000 * statistics.median(timed), 1),
        "peak_memory_gib": round(timing["peak"], 2) if timing["peak"] is not None else None,
        "losses": report.losses,
        "precision": "bf16" if cuda else "fp32",
        "gradient_checkpointing": args.gradient_checkpointing,
        "build_and_save_s": round(built, 1),
        "train_dpo_s": report.seconds,
    }


def card() -> str:
    import torch

    if not torch.cuda.is_available():
        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    props = torch.cuda.get_device_properties(0)
    return f"{props.name}, {props.total_memory / 1024**3:.0f} GiB, CUDA {torch.version.cuda}"


def markdown(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            "## DPO training throughput (train_dpo: TRL + LoRA, noise rejected images)",
            "",
            f"{result['device']}; {result['config']} ({result['parameters_b']} B parameters, random init, small "
            f"vocabulary), LoRA {result['trainable_parameters_m']} M trainable, {result['precision']}, batch "
            f"{result['batch_pairs']} pairs, gradient checkpointing "
            f"{'on' if result['gradient_checkpointing'] else 'off'}; versions {result['versions']}.",
            "",
            "| tokens/step | tokens/s | pairs/s | step (median) | peak GPU memory | loss first -> last |",
            "|---|---|---|---|---|---|",
            f"| {result['tokens_per_step']} | {result['tokens_per_s']} | {result['pairs_per_s']} | "
            f"{result['step_ms_median']} ms | {result['peak_memory_gib']} GiB | "
            f"{result['losses'][0]} -> {result['losses'][-1]} |",
            "",
            f"Produced by `benchmarks/gpu_dpo.py --config {result['config']}`; the first "
            f"{result['warmup_steps_untimed']} step(s) untimed. Tokens count the prompt (image tokens included) and "
            "both responses, chosen and rejected.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=CONFIGS, default="qwen2_5_vl_3b")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2, help="first steps left out of the timings")
    p.add_argument("--batch-size", type=int, default=4, help="pairs per step (each pair = 2 sequences)")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON result path (default: $OUT/gpu_dpo.json, else ./gpu_dpo.json)")
    p.add_argument("--record", help="instead of running: a result JSON to write into --benchmarks")
    p.add_argument("--benchmarks", default="BENCHMARKS.md", help="markdown file for --record")
    args = p.parse_args(argv)
    if args.record:
        write_section(args.benchmarks, "gpu_dpo", markdown(json.loads(Path(args.record).read_text())))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = run(args)
    out = Path(args.out or Path(os.environ.get("OUT", ".")) / "gpu_dpo.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"result written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
