"""Retriever recall@k on MedPix 2.0 before and after contrastive training, held out by case.

The offline default is trained (a new SmallCNN image tower aligned to frozen pretrained MiniLM, ``base="tower"``) on
the images of 80% of the MedPix cases and measured on the other 20% (seeded). Protocols (``mmedrag.training.recall``):

* ``pair``      - an image's only correct text is its own caption (the usual CLIP R@k; identical texts merged);
* ``case``      - "query one image of a case, find its text": any text of the image's case is correct (199 MedPix
                  cases have 2 images, whose texts share the case's findings and diagnosis), averaged per image;
* ``case_mean`` - the same, but each case counts once (averaged per case rather than per image).

Both directions (image->text, text->image), R@1/5/10, with the exact chance level of a random ranking.

Run:  .venv/bin/python benchmarks/retriever_recall.py --out BENCHMARKS.md            (about 5 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import write_section
from mmedrag.datasets import data_root

LABELS = {
    "pair": "own text",
    "case": "any text of its case, per image",
    "case_mean": "any text of its case, per case",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from mmedrag.io.readers import read_source
    from mmedrag.training.retriever import RetrieverSettings, train_retriever
    from mmedrag.training.retriever_pairs import pairs_from_records

    if args.threads:
        torch.set_num_threads(args.threads)
    records = read_source(Path(args.data) / "medpix2").records
    train, held = pairs_from_records(records, args.heldout, args.seed)
    log(f"{len(records)} records; {len(train)} training pairs, {len(held)} held-out pairs")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        report = train_retriever(
            train,
            held,
            args.work or Path(scratch) / "tower",
            RetrieverSettings(
                base="tower",
                epochs=args.epochs,
                batch_size=args.batch_size,
                image_size=args.image_size,
                seed=args.seed,
                resume=False,
                allow_worse=True,
            ),
            log=log,
        )
    result = report.to_dict()
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
    }
    result["date"] = dt.date.today().isoformat()
    result["heldout_fraction"] = args.heldout
    return result


def table(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        "## Retriever recall@k on MedPix 2.0, held out by case",
        "",
        f"`benchmarks/retriever_recall.py`, {result['date']}, {result['machine']['platform']}, "
        f"{result['machine']['cpus']} CPUs, torch {result['machine']['torch']} with "
        f"{result['machine']['torch_threads']} thread(s) (load average at the end "
        f"{result['machine']['load_average_at_end']}; other jobs shared the machine).",
        "",
        f"Offline default retriever: {result['architecture']}; trained on {result['train_pairs']} pairs, measured on "
        f"{result['heldout_pairs']} images / {result['heldout_texts']} distinct texts of {result['heldout_cases']} "
        f"held-out cases ({result['heldout_fraction']:.0%} of cases, seed {s['seed']}). {s['epochs']} epochs, batch "
        f"{s['batch_size']}, AdamW lr {s['lr']} (warm-up {s['warmup_steps']} steps, cosine), weight decay "
        f"{s['weight_decay']}; final temperature 1/{result['logit_scale']:.1f}; loss "
        f"{result['losses'][0]:.3f} -> {result['losses'][-1]:.3f}; {result['seconds']:.0f} s in all.",
        "",
        "| protocol | direction | k | before | after | chance |",
        "|---|---|---|---|---|---|",
    ]
    for protocol, label in LABELS.items():
        for direction, arrow in (("image_to_text", "image->text"), ("text_to_image", "text->image")):
            for k, after in result["after"][protocol][direction].items():
                before = result["before"][protocol][direction][k]
                chance = result["chance"][protocol][direction][k]
                lines.append(f"| {label} | {arrow} | {k} | {before:.3f} | {after:.3f} | {chance:.3f} |")
    lines += [
        "",
        f"Mean of R@1/5/10 both ways (own-text protocol): {result['before_mean']:.4f} before, "
        f"{result['after_mean']:.4f} after training.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(data_root()), help="holds medpix2/ (default: %(default)s)")
    p.add_argument("--heldout", type=float, default=0.2, help="share of cases held out")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads; 1 is faster than 2 on a 2-core machine with other jobs"
    )
    p.add_argument("--work", help="keep the trained tower in this folder (default: a temporary one)")
    p.add_argument("--out", help="write the table into this markdown file between the retriever_recall markers")
    p.add_argument("--json", help="also write the full result as JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    result = run(args)
    section = table(result)
    print(section)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.out:
        write_section(Path(args.out), "retriever_recall", section)
        log(f"wrote the retriever_recall section of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
