"""``mmedrag evaluate`` and ``mmedrag compare``: exact, documented metrics and paired significance tests."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress
from mmedrag.cli.pipeline_args import add_pipeline_arguments, config_from_args
from mmedrag.cli.run_args import add_question_arguments, questions_from_args


class EvaluateCommand(Command):
    name = "evaluate"
    help = "answer a question set and write metrics, tables, plots and the resolved config"
    description = """Closed questions: accuracy, balanced accuracy, precision/recall/F1 ("yes" positive) with
bootstrap intervals beside the majority-answer baseline, AUROC from P(yes) when the generator exposes it,
abstentions. Open: exact match, token recall. Reports: BLEU-1..4 (corpus), ROUGE-L, CIDEr,
METEOR (pycocoevalcap; METEOR needs Java), clinical metrics when their models load. Bootstrap confidence
intervals; --reliance adds runs without retrieval and with a noise image (over-reliance, retrieval-helps,
copy-reference rates). Answers are cached by prompt in OUT/answers.sqlite (or --cache).

examples:
  mmedrag evaluate --questions ~/.cache/mmedrag/data/mmed_rag_iuxray/vqa_test.jsonl --references gold_report \\
      --no-images --out runs/iu_gold
  mmedrag evaluate --questions ~/.cache/mmedrag/data/vqa_rad --split test --task closed --index idx/medpix --reliance \\
      --out runs/vqarad
  mmedrag compare runs/vqarad_noret runs/vqarad"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_question_arguments(parser, "questions to answer")
        add_pipeline_arguments(parser)
        parser.add_argument(
            "--references",
            choices=("retrieve", "none", "gold_report", "reference_reports"),
            default="retrieve",
            help="where references come from (default: the retriever)",
        )
        parser.add_argument(
            "--no-images",
            action="store_true",
            help="ask without the questions' images (text-only answerers, or image files that are not available)",
        )
        parser.add_argument("--reliance", action="store_true", help="add no-retrieval and noise-image runs")
        parser.add_argument(
            "--metrics",
            default="bleu,rouge_l,cider,meteor",
            help="report metrics: bleu, rouge_l, cider, meteor, chexbert, radgraph",
        )
        parser.add_argument(
            "--bootstrap", type=argtype.nonnegative_int, default=1000, help="bootstrap resamples (default 1000)"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--cache", type=argtype.output_file, help="answer cache file (default OUT/answers.sqlite)")
        parser.add_argument("--answers", help="score this JSONL of {id, answer} instead of running a pipeline")
        parser.add_argument("--out", required=True, type=argtype.output_dir, help="output folder")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.config import dump_config
        from mmedrag.errors import ConfigError
        from mmedrag.evaluation.report_metrics import REPORT_METRICS
        from mmedrag.evaluation.runner import EvalSettings, evaluate, render_markdown
        from mmedrag.factory import build_pipeline

        metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
        unknown = [m for m in metrics if m not in REPORT_METRICS]
        if unknown:
            raise ConfigError(f"unknown metric(s) {unknown}; use {', '.join(REPORT_METRICS)}")
        config = config_from_args(args)
        questions = questions_from_args(args)
        settings = EvalSettings(
            references=args.references,
            images=not args.no_images,
            reliance=args.reliance,
            report_metrics=metrics,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
        log(f"evaluating {len(questions)} questions -> {args.out}")
        results = evaluate(
            None if args.answers else build_pipeline(config),
            questions,
            args.out,
            settings,
            config_yaml=dump_config(config),
            cache=args.cache,
            progress=show_progress(args),
            answers=args.answers,
        )
        if args.json:
            emit_json(results)
        else:
            print(render_markdown(results), end="")
        return 0


class CompareCommand(Command):
    name = "compare"
    help = "paired significance test between two `mmedrag evaluate` folders"
    description = """Join the two runs' per-question results by question id and report, per task, the mean score
difference B - A with a paired bootstrap 95% interval and an approximate-randomization p-value (questions must
match exactly).

example:
  mmedrag compare runs/no_retrieval runs/retrieval"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("a", help="baseline evaluation folder")
        parser.add_argument("b", help="evaluation folder to compare against it")
        parser.add_argument(
            "--samples", type=argtype.positive_int, default=10_000, help="randomization samples (default 10000)"
        )
        parser.add_argument("--seed", type=int, default=0)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.evaluation.compare import compare

        result = compare(args.a, args.b, samples=args.samples, seed=args.seed)
        if args.json:
            emit_json(result)
            return 0
        for task, row in result["tasks"].items():
            print(
                f"{task} (n={row['n']}, score={row['score']}): A {row['mean_a']:.4f}, B {row['mean_b']:.4f}, "
                f"B-A {row['difference']:+.4f} [95% CI {row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}], "
                f"p = {row['p_value']:.4g}"
            )
        return 0
