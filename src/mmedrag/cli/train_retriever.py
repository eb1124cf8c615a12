"""``mmedrag train-retriever``: contrastive fine-tuning of a retriever on a dataset's image-report pairs."""

from __future__ import annotations

import argparse
from typing import Any

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json, log, show_progress, speaks


def recall_table(report: dict[str, Any]) -> str:
    """Before/after/chance recall, one row per direction and k, for the ``pair`` and ``case`` protocols."""
    lines = [f"{'held-out recall':<28}{'before':>8}{'after':>8}{'chance':>8}"]
    for protocol, label in (("pair", "own text"), ("case", "any text of its case")):
        lines.append(f"-- {label}")
        for direction, arrow in (("image_to_text", "image->text"), ("text_to_image", "text->image")):
            for k, after in report["after"][protocol][direction].items():
                before = report["before"][protocol][direction][k]
                chance = report["chance"][protocol][direction][k]
                lines.append(f"  {arrow + ' ' + k:<26}{before:>8.3f}{after:>8.3f}{chance:>8.3f}")
    return "\n".join(lines)


class TrainRetrieverCommand(Command):
    name = "train-retriever"
    help = "fine-tune a retriever (image and text towers) contrastively on image-report pairs"
    description = """Train a dual encoder on the image-report pairs of a dataset with the symmetric contrastive loss
(CLIP; RULE Eq. 2), holding out whole cases (patients) to measure recall@1/5/10 in both directions before and after.
Stops with an error, saving nothing but checkpoints, when training made held-out recall worse. Checkpoints are kept in
OUT/checkpoints and a re-run resumes from the newest one. Prints the encoder spec to pass to `mmedrag index --encoder`.
Runs unchanged under `accelerate launch` (configs/accelerate/): n processes split every batch and train on exactly
the batches one process would; only the main process prints and saves.

bases:
  tower (default)            a new small CNN image tower aligned to frozen MiniLM (works offline)
  tower:DIR                  continue training an existing tower
  open_clip:DIR              an open_clip folder (open_clip_config.json + weights), e.g. a BiomedCLIP snapshot
  open_clip:hf-hub:ORG/REPO  BiomedCLIP where the Hugging Face hub is reachable
  hf_clip:DIR                a transformers CLIP/SigLIP folder saved with save_pretrained

examples:
  mmedrag train-retriever ~/.cache/mmedrag/data/medpix2 --out retrievers/medpix-tower --epochs 20
  mmedrag train-retriever corpus.jsonl --base open_clip:~/models/biomedclip --train-text --out retrievers/bmc
  mmedrag index ~/.cache/mmedrag/data/medpix2 --index idx/medpix --encoder tower:retrievers/medpix-tower
  accelerate launch --config_file configs/accelerate/cpu.yaml -m mmedrag train-retriever DATA --out retrievers/r"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("source", help="a JSONL manifest, a dataset file or a dataset folder")
        parser.add_argument("--format", default="auto", help="reader: auto, manifest, medpix2, vqa_rad, mmed_rag")
        parser.add_argument("--image-root", help="folder that the dataset's image paths are relative to")
        argtype.add_data_root(parser)
        parser.add_argument("--split", help="use only records of this split (e.g. train)")
        parser.add_argument("--base", default="tower", help="model to start from (see bases above)")
        parser.add_argument(
            "--out", required=True, type=argtype.output_dir, help="folder for the trained model and its checkpoints"
        )
        parser.add_argument("--train-text", action="store_true", help="also train the text tower")
        parser.add_argument("--freeze-image", action="store_true", help="keep the image tower frozen")
        parser.add_argument("--epochs", type=argtype.positive_int, default=10)
        parser.add_argument("--batch-size", type=argtype.positive_int, default=64)
        parser.add_argument(
            "--lr", type=argtype.positive_float, help="peak learning rate (default: per base, e.g. 2e-3 for a tower)"
        )
        parser.add_argument("--weight-decay", type=argtype.nonnegative_float, default=0.05)
        parser.add_argument("--warmup-steps", type=argtype.nonnegative_int, help="default: 10%% of the steps")
        parser.add_argument(
            "--image-size", type=argtype.int_range(16, 4096), default=128, help="input size of a new tower"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--heldout",
            type=argtype.float_range(0.0, 1.0, high_open=True),
            default=0.15,
            help="share of cases held out for recall",
        )
        parser.add_argument("--group-by", default="patient_id", help="record field that names a case")
        parser.add_argument("--allow-worse", action="store_true", help="save the model even if recall fell")
        parser.add_argument("--no-resume", action="store_true", help="start over, deleting old checkpoints")
        parser.add_argument("--device", default="auto", type=argtype.device, help="cpu, cuda or auto")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.io.readers import read_source
        from mmedrag.training.retriever import RetrieverSettings, train_retriever
        from mmedrag.training.retriever_pairs import pairs_from_records

        main = speaks(args.device)
        dataset = read_source(args.source, args.format, **argtype.reader_options(args))
        records = [r for r in dataset.records if args.split is None or r.split == args.split]
        train, heldout = pairs_from_records(records, args.heldout, args.seed, args.group_by)
        if main and not args.json:
            log(f"{len(train)} training pairs, {len(heldout)} held-out pairs from {len(records)} records")
        settings = RetrieverSettings(
            base=args.base,
            train_image=not args.freeze_image,
            train_text=args.train_text,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            weight_decay=args.weight_decay,
            warmup_steps=args.warmup_steps,
            seed=args.seed,
            resume=not args.no_resume,
            allow_worse=args.allow_worse,
            device=args.device,
            image_size=args.image_size,
            progress=show_progress(args),
        )
        report = train_retriever(train, heldout, args.out, settings, log=None if args.json else log)
        data = report.to_dict()
        if not main:
            return 0
        if args.json:
            emit_json({**data, "read_errors": [str(e) for e in dataset.errors]})
            return 0
        print(recall_table(data))
        where = f"{report.processes} processes ({report.device})" if report.processes > 1 else report.device
        print(f"trained in {report.seconds:.1f} s on {where}; model saved in {report.out_dir}")
        print(f"encoder spec: {report.encoder}")
        print(f"use it with: mmedrag index SOURCE --index DIR --encoder {report.encoder}")
        return 0
