"""``mmedrag train-router`` trains a domain router from labelled manifests (``mmedrag route`` shows one decision)."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress


class TrainRouterCommand(Command):
    name = "train-router"
    help = "train a domain router (pixel CNN, or a head on encoder embeddings) from domain-labelled manifests"
    description = """Train the router that sends each query image to its domain's retriever (MMed-RAG's domain
identification, method.md §2.1). Every image of every record is one example labelled with the record's domain;
synthetic charts, tables and screenshots form an extra out_of_scope class. A stratified held-out part (20%)
calibrates the probabilities by temperature scaling and gives the accuracy and expected calibration error printed
at the end. Records without a domain are an error.

Without --encoder a small CNN is trained on pixels (offline; a few minutes on two cores for a thousand images);
with --encoder (e.g. biomedclip) a linear or MLP head is trained on its frozen image embeddings.

examples:
  mmedrag train-router ~/.cache/mmedrag/data/medpix2 skin.jsonl eyes.jsonl --out routers/cnn
  mmedrag train-router corpus.jsonl --out routers/biomedclip --encoder biomedclip --head linear --json"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("sources", nargs="+", metavar="MANIFEST", help="JSONL manifests or dataset folders")
        parser.add_argument(
            "--out",
            required=True,
            type=argtype.output_dir,
            metavar="DIR",
            help="router folder to write (router.json, router.safetensors)",
        )
        parser.add_argument("--format", default="auto", help="reader for every source: auto, manifest, medpix2, ...")
        argtype.add_data_root(parser)
        parser.add_argument("--encoder", help="encoder spec for a head on frozen embeddings (default: pixel CNN)")
        parser.add_argument("--head", choices=("linear", "mlp"), default="linear", help="head type with --encoder")
        parser.add_argument(
            "--epochs", type=argtype.positive_int, help="default: 15 for the CNN, 300 full-batch steps for a head"
        )
        parser.add_argument(
            "--threshold",
            type=argtype.probability,
            default=0.5,
            help="least calibrated top-class probability to route with; below it the query is out of scope",
        )
        parser.add_argument(
            "--negatives", type=argtype.nonnegative_int, default=210, help="synthetic out-of-scope images (0: none)"
        )
        parser.add_argument(
            "--holdout", type=argtype.open_fraction, default=0.2, help="held-out fraction for calibration"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--threads",
            type=argtype.positive_int,
            help="torch threads while training (1 is fastest on a busy 2-core box)",
        )
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.training.router import RouterSettings, train_router
        from mmedrag.training.router_data import read_labelled_records

        records, read_errors = read_labelled_records(args.sources, args.format, args.data_root)
        settings = RouterSettings(
            head=args.head,
            epochs=args.epochs,
            seed=args.seed,
            holdout_fraction=args.holdout,
            threshold=args.threshold,
            negatives=args.negatives,
            threads=args.threads,
            progress=show_progress(args),
        )
        report = train_router(records, args.out, settings, encoder_spec=args.encoder)
        if args.json:
            emit_json({**report.to_dict(), "read_errors": read_errors})
            return 0
        log(f"{report.path}: {report.architecture} router over {', '.join(report.classes)} ({report.seconds:.1f} s)")
        if report.accuracy is None:
            log("  no held-out images: accuracy and calibration not measured")
        else:
            log(f"  held-out accuracy {report.accuracy:.3f}; temperature {report.temperature:.3g}")
            log(f"  ECE {report.ece_before:.3f} -> {report.ece_after:.3f} (temperature scaling)")
            log(f"  NLL {report.nll_before:.3f} -> {report.nll_after:.3f}")
            for name, value in report.per_class_accuracy.items():
                counts = f"train {report.train_counts.get(name, 0)}, held out {report.holdout_counts.get(name, 0)}"
                log(f"    {name:14s} {value:.3f}  ({counts})")
        for message in (read_errors + report.skipped)[:10]:
            log(f"  skipped: {message}")
        for message in report.warnings:
            log(f"  warning: {message}")
        return 0
