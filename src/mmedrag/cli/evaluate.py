"""``mmedrag evaluate``: exact, documented metrics over a question set (``mmedrag compare`` tests two runs)."""

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
bootstrap intervals beside the majority-answer baseline and the reference scorer's (CARES) reading, AUROC from
P(yes) when the generator exposes it, abstentions; gold labels that are not yes/no are left out of n and listed
in OUT/unparsable_gold.jsonl. Open: exact match, token recall. Reports, under a recorded --metrics-protocol:
coco (PTBTokenizer then pycocoevalcap BLEU-1..4, ROUGE-L, CIDEr-D, METEOR; the jars need Java, a Python
tokenizer stands in without it) or nltk (the reference authors' NLTK BLEU + rouge_score ROUGE-L); CheXpert-14
finding F1 from a rule-based labeler (chexpert), CheXbert/RadGraph when their models load. Bootstrap confidence
intervals (--bootstrap 0: none); --reliance adds runs without retrieval and with a noise image (over-reliance,
retrieval-helps, copy-reference rates). Answers are cached by prompt in OUT/answers.sqlite (or --cache).

examples:
  mmedrag evaluate --questions ~/.cache/mmedrag/data/mmed_rag_iuxray/vqa_test.jsonl --references gold_report \\
      --no-images --out runs/iu_gold
  mmedrag evaluate --questions ~/.cache/mmedrag/data/vqa_rad --split test --task closed --index idx/medpix --reliance \\
      --out runs/vqarad
  mmedrag compare runs/vqarad_noret runs/vqarad
  # past one machine: each shard anywhere (one per GPU or server), then one merge = the unsharded result
  mmedrag evaluate --questions Q --index idx --shard 1/2 --out runs/s1   # and --shard 2/2 --out runs/s2
  mmedrag evaluate --questions Q --merge runs/s1 runs/s2 --out runs/all"""

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
            help="report metrics: bleu, rouge_l, cider, meteor, chexpert, chexbert, radgraph",
        )
        parser.add_argument(
            "--metrics-protocol",
            choices=("coco", "nltk"),
            default="coco",
            help="report metrics protocol, recorded in results.json (default coco: PTBTokenizer + pycocoevalcap; "
            "nltk: NLTK BLEU + rouge_score, the reference authors' stated path)",
        )
        parser.add_argument(
            "--tokenizer",
            choices=("auto", "java", "python"),
            default="auto",
            help="coco protocol tokenizer: the PTBTokenizer jar (java), its Python re-implementation, or auto "
            "(the jar when Java is present)",
        )
        parser.add_argument(
            "--bootstrap",
            type=argtype.nonnegative_int,
            default=1000,
            help="bootstrap resamples (default 1000; 0: no intervals)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--cache", type=argtype.output_file, help="answer cache file (default OUT/answers.sqlite)")
        parser.add_argument("--answers", help="score this JSONL of {id, answer} instead of running a pipeline")
        sharding = parser.add_mutually_exclusive_group()
        sharding.add_argument(
            "--shard",
            metavar="I/N",
            type=argtype.shard,
            help="answer only shard I of N (from 1; whole images per shard) and write it for --merge",
        )
        sharding.add_argument(
            "--merge",
            nargs="+",
            metavar="DIR",
            help="combine the N shard folders of one run over --questions into the unsharded result folder",
        )
        parser.add_argument("--out", required=True, type=argtype.output_dir, help="output folder")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.config import dump_config
        from mmedrag.errors import ConfigError
        from mmedrag.evaluation.report_metrics import REPORT_METRICS
        from mmedrag.evaluation.results import render_markdown
        from mmedrag.evaluation.runner import EvalSettings, evaluate
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
            metrics_protocol=args.metrics_protocol,
            tokenizer=args.tokenizer,
            bootstrap=args.bootstrap,
            seed=args.seed,
        )
        if args.merge:
            from mmedrag.evaluation.shards import merge_shards

            results = merge_shards(args.merge, questions, args.out)
            log(f"merged {len(args.merge)} shards of {len(questions)} questions -> {args.out}")
            if args.json:
                emit_json(results)
            else:
                print(render_markdown(results), end="")
            return 0
        if args.shard:
            from mmedrag.evaluation.shards import evaluate_shard

            if args.answers:
                raise ConfigError("--shard runs the pipeline on part of the questions; score an answer file whole")
            shard = args.shard
            facts = evaluate_shard(
                build_pipeline(config),
                questions,
                shard,
                args.out,
                settings,
                config_yaml=dump_config(config),
                cache=args.cache,
                progress=show_progress(args),
            )
            done = f"shard {shard[0]}/{shard[1]}: {len(facts['questions'])} of {len(questions)} questions -> {args.out}"
            if args.json:
                emit_json(facts)
            else:
                print(done)
            return 0
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
