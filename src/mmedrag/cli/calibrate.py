"""``mmedrag calibrate``: choose the number of references with a factuality-risk guarantee (RULE's LTT)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress
from mmedrag.cli.pipeline_args import add_pipeline_arguments, config_from_args
from mmedrag.cli.run_args import add_question_arguments, questions_from_args
from mmedrag.errors import ConfigError

if TYPE_CHECKING:
    from mmedrag.pipeline import RAGPipeline
    from mmedrag.types import Question


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


class CalibrateCommand(Command):
    name = "calibrate"
    help = "certify k with a factuality-risk guarantee (RULE), or fit answer confidence (--confidence)"
    description = """Answer a calibration split with every candidate k (greedy; retrieval once per question,
answers cached), compute the factuality risk FR(k), Hoeffding-Bentkus p-values, and family-wise control at delta
(Bonferroni or fixed-sequence in a pre-registered order). k* is the certified k with the lowest empirical risk.
With --confidence it instead fits the answer-confidence calibrator (isotonic per evidence tier, or temperature):
the questions are split once by image, it is fitted on one half and its ECE is reported on the other; it writes
confidence.json (put it beside the pipeline config, or set answers.confidence_calibration), its report and
reliability.png.
Guarantee: if calibration and test data are exchangeable, with probability >= 1-delta every certified k has true
risk <= alpha. Writes calibration.json (use it with --set selector.kind=calibrated
--set selector.calibration=DIR/calibration.json), calibration.md and calibration.png to --out.

examples:
  mmedrag calibrate --config pipeline.yaml --questions ~/.cache/mmedrag/data/vqa_rad --split train --task closed \\
      --alpha 0.3 --delta 0.1 --candidates 0,1,2,3,5 --out runs/calibration
  mmedrag calibrate --index idx/medpix --questions val.jsonl --alpha 0.2 --tune-gamma 0.05,0.1,0.2,0.4 --out cal
  mmedrag calibrate --config pipeline.yaml --questions val.jsonl --confidence --out runs/confidence"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_question_arguments(parser, "calibration questions")
        add_pipeline_arguments(parser)
        parser.add_argument("--alpha", type=argtype.open_fraction, help="risk level to certify (e.g. 0.2)")
        parser.add_argument(
            "--confidence",
            choices=("isotonic", "temperature"),
            nargs="?",
            const="isotonic",
            help="fit answer confidence instead of certifying k (default method: isotonic)",
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the fit / held-out split (--confidence)")
        parser.add_argument(
            "--delta", type=argtype.open_fraction, default=0.1, help="allowed probability of failure (default 0.1)"
        )
        parser.add_argument(
            "--candidates", type=_ints, default=[0, 1, 2, 3, 5, 8], help="k values (default 0,1,2,3,5,8)"
        )
        parser.add_argument("--method", choices=("bonferroni", "fixed_sequence"), default="bonferroni")
        parser.add_argument(
            "--order", type=_ints, help="fixed-sequence order, fixed before seeing data (default: increasing k)"
        )
        parser.add_argument(
            "--tune-gamma",
            type=_floats,
            default=[],
            metavar="G1,G2,...",
            help="also report the gap rule's accuracy for these gamma values (and the best one)",
        )
        parser.add_argument("--out", required=True, type=argtype.output_dir, help="output folder")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.evaluation.calibration import render_table, run_calibration
        from mmedrag.factory import build_pipeline

        pipeline = build_pipeline(config_from_args(args))
        questions = questions_from_args(args)
        if args.confidence:
            return _confidence(args, pipeline, questions)
        if args.alpha is None:
            raise ConfigError("calibrate needs --alpha (the risk level to certify), or --confidence")
        log(f"calibrating on {len(questions)} questions, candidates {args.candidates}")
        result = run_calibration(
            pipeline,
            questions,
            args.candidates,
            args.alpha,
            args.delta,
            args.out,
            method=args.method,
            order=args.order,
            gammas=args.tune_gamma,
            progress=show_progress(args),
        )
        if args.json:
            emit_json(result.to_dict())
        else:
            print(render_table(result), end="")
            log(f"wrote {args.out}/calibration.json, calibration.md, calibration.png")
        return 0


def _confidence(args: argparse.Namespace, pipeline: RAGPipeline, questions: list[Question]) -> int:
    from mmedrag.evaluation.confidence_fit import fit_confidence

    log(f"fitting answer confidence ({args.confidence}) on half of {len(questions)} questions")
    report = fit_confidence(
        pipeline, questions, args.out, method=args.confidence, seed=args.seed, progress=show_progress(args)
    )
    if args.json:
        emit_json(report)
    else:
        print(
            f"held-out ECE {report['ece_held_out']:.3f} (raw {report['ece_raw_held_out']:.3f}) on "
            f"{report['answered_held_out']} answered questions; fitted on {report['answered_fit']}"
        )
        log(f"wrote {report['calibrator']}, confidence_report.json, reliability.png")
    return 0
