"""``mmedrag prefs``: mine DPO preference pairs from the model's own failures (see training/preferences.py)."""

from __future__ import annotations

import argparse
from typing import Any

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress
from mmedrag.cli.pipeline_args import add_pipeline_arguments, config_from_args
from mmedrag.cli.run_args import add_question_arguments, questions_from_args


class PrefsCommand(Command):
    name = "prefs"
    help = "mine preference pairs (cross-modality, retrieval helps/hurts) for DPO from a held-out split"
    description = """Answer each question four ways (clean or noise image, with or without the references
retrieved for the clean image; greedy, seeded noise), judge them, and write pairs in TRL's DPO format to
OUT/prefs.jsonl (plus OUT/noise/*.png and OUT/summary.json). Use a split disjoint from the knowledge base.

examples:
  mmedrag prefs --questions val_questions.jsonl --index idx/iu_train --generator hf:/models/llava-med --out prefs/iu
  mmedrag prefs --questions ~/.cache/mmedrag/data/vqa_rad --split train --task closed --config pipeline.yaml \\
      --chosen ground_truth --ratio 0.5 --stage1 --out prefs/vqarad
  # past one machine: shards anywhere, then one merge writes what a single run writes
  mmedrag prefs --questions Q --index idx --shard 1/2 --out prefs/s1    # and --shard 2/2 --out prefs/s2
  mmedrag prefs --questions Q --merge prefs/s1 prefs/s2 --out prefs/all"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_question_arguments(parser, "mining questions (a split disjoint from the knowledge base)")
        add_pipeline_arguments(parser, k=False)
        parser.add_argument(
            "-k", type=argtype.top_k, default=1, help="references per RAG prompt (default 1, as the reference)"
        )
        parser.add_argument(
            "--chosen",
            choices=("model", "ground_truth"),
            default="model",
            help="chosen text: the model's own correct answer (default) or the ground truth",
        )
        parser.add_argument(
            "--ratio",
            type=argtype.finite_float,
            default=0.5,
            help="cross-modality pairs per helps+hurts pair (default 0.5; negative keeps all)",
        )
        parser.add_argument("--stage1", action="store_true", help="also mine the stage-1 (clean vs noise) pairs")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--out", required=True, type=argtype.output_dir, help="output folder (replaced atomically)")
        sharding = parser.add_mutually_exclusive_group()
        sharding.add_argument(
            "--shard",
            metavar="I/N",
            type=argtype.shard,
            help="mine only shard I of N (from 1; whole images) and keep it for --merge",
        )
        sharding.add_argument(
            "--merge",
            nargs="+",
            metavar="DIR",
            help="combine the N shard folders of one run over --questions (balanced once, with the run's seed)",
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.factory import build_pipeline
        from mmedrag.training.preference_mining import MiningSettings, mine_preferences

        questions = questions_from_args(args)
        if args.merge:
            from mmedrag.training.preference_shards import merge_prefs

            return self._report(args, merge_prefs(args.merge, questions, args.out))
        pipeline = build_pipeline(config_from_args(args, without=("selector.k",)))
        settings = MiningSettings(
            k=args.k,
            chosen=args.chosen,
            ratio=None if args.ratio < 0 else args.ratio,
            stage1=args.stage1,
            seed=args.seed,
        )
        if args.shard:
            from mmedrag.training.preference_shards import mine_shard

            shard = args.shard
            report = mine_shard(pipeline, questions, shard, args.out, settings, progress=show_progress(args))
            if args.json:
                emit_json(report.to_dict())
            else:
                print(f"shard {shard[0]}/{shard[1]}: {report.questions} of {len(questions)} questions -> {report.out}")
            return 0
        return self._report(
            args, mine_preferences(pipeline, questions, args.out, settings, progress=show_progress(args))
        )

    @staticmethod
    def _report(args: argparse.Namespace, report: Any) -> int:
        if args.json:
            emit_json(report.to_dict())
            return 0
        log(
            f"{report.out}/prefs.jsonl: "
            + ", ".join(f"{kind} {n} (of {report.found[kind]})" for kind, n in report.written.items())
        )
        log("accuracy: " + ", ".join(f"{run} {value:.3f}" for run, value in report.accuracy.items()))
        return 0
