"""``mmedrag train-dpo``: DPO preference tuning of a vision-language model's LoRA adapter on mined pairs."""

from __future__ import annotations

import argparse
import json
from typing import Any

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress, speaks

DEFAULT_HELDOUT_FRACTION = 0.1


def parse_trl_options(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` strings to a dict; values are read as JSON when they parse (numbers, true, null), else text."""
    from mmedrag.errors import ConfigError

    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--trl {item!r} is not KEY=VALUE (e.g. --trl max_steps=100)")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def heldout_table(report: dict[str, Any]) -> str:
    """Held-out margin, accuracy and loss before and after training."""
    lines = [f"{'held-out pairs (' + str(report['heldout_pairs']) + ')':<28}{'before':>10}{'after':>10}"]
    for key in ("margin", "accuracy", "loss"):
        if key in report["before"]:
            lines.append(f"  {key:<26}{report['before'][key]:>10.4f}{report['after'][key]:>10.4f}")
    return "\n".join(lines)


class TrainDPOCommand(Command):
    name = "train-dpo"
    help = "DPO-tune a LoRA adapter of a vision-language model on preference pairs (mmedrag prefs)"
    description = """Train a LoRA adapter on the language model of a transformers VLM (Gemma3/MedGemma, Qwen2.5-VL,
LLaVA) with DPO (sigmoid loss, beta 0.1, summed log-probs; method.md §5.4) on the pairs `mmedrag prefs` wrote.
Cross-modality pairs are scored with the noise image on the rejected side. The reference model is the base model
(adapter disabled), or a frozen earlier adapter with --reference. --init-adapter continues an adapter: two-stage
training (§5.2). Held-out pairs (whole questions) are scored before and after. The adapter folder appears only when
training succeeded; it loads into the generator by path. Runs unchanged under `accelerate launch` (DDP, FSDP or
DeepSpeed ZeRO with the files in configs/accelerate/); only the main process prints and saves.

examples:
  mmedrag train-dpo prefs/stage1/prefs.jsonl --base ~/models/medgemma-4b-it --out adapters/rad-stage1 --lr 1e-5
  mmedrag train-dpo prefs/stage2/prefs.jsonl --base ~/models/medgemma-4b-it --out adapters/rad \\
      --init-adapter adapters/rad-stage1 --epochs 3 --trl warmup_ratio=0.03 --trl lr_scheduler_type=cosine
  accelerate launch --config_file configs/accelerate/ddp.yaml -m mmedrag train-dpo prefs.jsonl --base BASE \
      --out adapters/rad --save-steps 200"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("prefs", help="preference JSONL written by `mmedrag prefs`")
        parser.add_argument("--base", required=True, help="base model folder (or cached hub id)")
        parser.add_argument("--out", required=True, type=argtype.output_dir, help="adapter folder to write")
        held = parser.add_mutually_exclusive_group()
        held.add_argument("--heldout", help="a second preference JSONL scored before and after, never trained on")
        held.add_argument(
            "--heldout-fraction",
            type=argtype.float_range(0.0, 1.0, high_open=True),
            help=f"hold out this share of the questions (default {DEFAULT_HELDOUT_FRACTION}; 0: none)",
        )
        parser.add_argument(
            "--beta", type=argtype.positive_float, default=0.1, help="DPO temperature (default 0.1, as the reference)"
        )
        parser.add_argument("--loss", default="sigmoid", help="TRL loss type: sigmoid (DPO), hinge, ipo, ...")
        parser.add_argument("--lr", type=argtype.positive_float, default=5e-6, help="learning rate (default 5e-6)")
        parser.add_argument("--epochs", type=argtype.positive_float, default=1.0)
        parser.add_argument("--batch-size", type=argtype.positive_int, default=1, help="pairs per device and step")
        parser.add_argument("--grad-accum", type=argtype.positive_int, default=1, help="gradient accumulation steps")
        parser.add_argument(
            "--max-length", type=argtype.positive_int, default=1024, help="tokens per sequence, prompt included"
        )
        parser.add_argument("--lora-r", type=argtype.positive_int, default=16)
        parser.add_argument("--lora-alpha", type=argtype.positive_int, default=32)
        parser.add_argument("--lora-dropout", type=argtype.float_range(0.0, 1.0, high_open=True), default=0.05)
        parser.add_argument(
            "--lora-targets",
            default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
            help="comma-separated projection names, adapted inside the language model only",
        )
        parser.add_argument("--reference", default="base", help="'base' (adapter disabled) or a frozen adapter folder")
        parser.add_argument("--init-adapter", help="continue training this adapter (two-stage training)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory")
        parser.add_argument(
            "--save-steps",
            type=argtype.nonnegative_int,
            default=0,
            help="keep a checkpoint every N steps in OUT.checkpoints/; a re-run continues from it (default 0: none)",
        )
        parser.add_argument("--no-resume", action="store_true", help="start over, deleting OUT.checkpoints/")
        parser.add_argument(
            "--trl", action="append", metavar="KEY=VALUE", help="any other trl.DPOConfig option (repeatable)"
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.training.dpo import DPOSettings, train_dpo
        from mmedrag.training.preference_reader import read_preferences, split_heldout

        settings = DPOSettings(
            beta=args.beta,
            loss_type=args.loss,
            learning_rate=args.lr,
            epochs=args.epochs,
            per_device_batch_size=args.batch_size,
            gradient_accumulation=args.grad_accum,
            max_length=args.max_length,
            lora_r=args.lora_r,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            lora_targets=tuple(t.strip() for t in args.lora_targets.split(",") if t.strip()),
            reference=args.reference,
            init_adapter=args.init_adapter,
            seed=args.seed,
            gradient_checkpointing=args.gradient_checkpointing,
            save_steps=args.save_steps,
            resume=not args.no_resume,
            trl_args=parse_trl_options(args.trl),
        )
        settings.check()  # fail on a bad flag before reading images
        main = speaks()
        train = read_preferences(args.prefs)
        heldout = read_preferences(args.heldout) if args.heldout else None
        fraction = DEFAULT_HELDOUT_FRACTION if args.heldout_fraction is None else args.heldout_fraction
        questions = len({p.group for p in train.pairs})
        if heldout is None and fraction > 0 and questions >= 2:
            kept, held = split_heldout(train.pairs, fraction, args.seed)
            tag = f"heldout-fraction={fraction}:seed={args.seed}"
            train, heldout = train.subset(kept, f"train:{tag}"), train.subset(held, f"heldout:{tag}")
        elif heldout is None and fraction > 0 and main and not args.json:
            log(f"only {questions} question(s): training on all pairs, nothing held out")
        if main and not args.json:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(train.counts().items()))
            log(f"{len(train.pairs)} training pairs ({counts}), {len(heldout.pairs) if heldout else 0} held-out pairs")
        report = train_dpo(train, args.base, args.out, settings, heldout=heldout, progress=show_progress(args))
        data = report.to_dict()
        if not main:
            return 0
        if args.json:
            emit_json(data)
            return 0
        if report.heldout_pairs:
            print(heldout_table(data))
        if report.losses:
            print(f"training loss {report.losses[0]:.4f} -> {report.losses[-1]:.4f} over {report.steps} steps")
        where = f"{report.processes} processes" if report.processes > 1 else report.device
        resumed = f", resumed from step {report.resumed_from_step}" if report.resumed_from_step else ""
        print(f"trained in {report.seconds:.1f} s on {where}{resumed}; reference: {report.reference}")
        print(f"adapter saved in {report.adapter_dir} (base {report.base_model})")
        return 0
