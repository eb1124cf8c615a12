"""Domain-router accuracy on the development data ($MMEDRAG_DATA), whole sources held out: train on some, test on rest.

Two folds, so that every labelled source is tested once (covid_chestxray is trained on in fold A, tested in B):

* A: train MedPix2 + COVID (radiology CT/MR/CXR), IDRiD + skimage retina (fundus), HAM10000 (dermoscopy),
  PathMNIST exemplars (H&E); test VQA-RAD, BreastMNIST (ultrasound, 28 px), MedICaT radiology figures, RetinaMNIST
  (fundus, 28 px), DermaMNIST exemplars, skimage IHC + LLaVA-Med H&E patch, and the LLaVA-Med chart (out of scope).
* B: the reverse where there is data: train VQA-RAD + BreastMNIST, RetinaMNIST, DermaMNIST, IHC + H&E patch; test
  MedPix2 + COVID, IDRiD + skimage fundus, HAM10000, PathMNIST exemplars.

Both folds add synthetic charts/tables/screenshots as the out_of_scope class (training.router_negatives); the real
chart is never trained on. Endoscopy and "other" have no single-domain images in that folder and are not measured.
It needs the project's development data set (index.jsonl and its derived files); `mmedrag data fetch` provides the
public datasets it draws on, not the index.
Run:  .venv/bin/python benchmarks/router_accuracy.py [--out BENCHMARKS.md] [--epochs 15] [--cap 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchlib import write_section
from mmedrag.io.images import load_image
from mmedrag.routing import OUT_OF_SCOPE, decide
from mmedrag.routing.temperature import expected_calibration_error
from mmedrag.routing.trained import TrainedRouter
from mmedrag.training.router import RouterSettings, fit_router

DATA = Path(os.environ.get("MMEDRAG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
Sample = tuple[Image.Image, str, str]  # image, label (domain or out_of_scope), source

FOLDS: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {
        "train": (
            "medpix2", "covid_chestxray", "idrid_fundus_codras", "skimage_retina", "ham10000_sample", "pathmnist",
        ),
        "test": (
            "vqa_rad", "breastmnist", "medicat_radiology", "llava_ct", "retinamnist", "dermamnist",
            "skimage_ihc", "llava_he_patch", "llava_chart",
        ),
    },
    "B": {
        "train": ("vqa_rad", "breastmnist", "retinamnist", "dermamnist", "skimage_ihc", "llava_he_patch"),
        "test": (
            "medpix2", "covid_chestxray", "idrid_fundus_codras", "skimage_retina", "ham10000_sample", "pathmnist",
            "llava_chart",
        ),
    },
}  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _source_of(line: dict[str, Any]) -> tuple[str, str] | None:
    """(source, label) for one index.jsonl line, or None for images this benchmark does not use."""
    dataset, domain, image = line["dataset"], line["domain"], line["image"]
    labels = line.get("labels") or {}
    if dataset == "medmnist_exemplars_224":
        source = str(labels.get("source"))
        return source + ("_exemplar" if source == "breastmnist" else ""), domain.split(" ")[0]
    if dataset == "package_samples":
        return ("skimage_ihc", "pathology") if image.endswith("ihc.png") else ("skimage_retina", "ophthalmology")
    if dataset == "llava_med_examples":
        name = Path(image).stem
        mapping = {"bio_patch": ("llava_he_patch", "pathology"), "med_img_1": ("llava_ct", "radiology")}
        return mapping.get(name, ("llava_chart", OUT_OF_SCOPE))
    if dataset == "medicat_sample":  # multi-panel figures; only the all-radiology ones have one domain
        return ("medicat_radiology", "radiology") if labels.get("radiology") else None
    return dataset, domain


def load_samples(data: Path) -> dict[str, list[Sample]]:
    """Every usable image of the data folder grouped by source (MedMNIST arrays: test split, or train for training)."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for raw in (data / "index.jsonl").read_text(encoding="utf-8").splitlines():
        line = json.loads(raw)
        found = _source_of(line)
        if found is not None:
            groups[found[0]].append((load_image(data / line["image"]), found[1], found[0]))
    groups["breastmnist"] += [
        (image, label, "breastmnist") for image, label, _ in groups.pop("breastmnist_exemplar", [])
    ]
    for name, domain in (("retinamnist", "ophthalmology"), ("breastmnist_resaved", "radiology")):
        arrays = np.load(data / "medmnist" / f"{name}.npz")
        source = name.split("_")[0]
        for split in ("train", "test"):
            key = source if split == "test" else f"{source}_train"
            groups[key] += [(Image.fromarray(a).convert("RGB"), domain, source) for a in arrays[f"{split}_images"]]
    return groups


def run_fold(name: str, groups: dict[str, list[Sample]], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    train: list[Sample] = []
    for source in FOLDS[name]["train"]:
        pool = groups.get(f"{source}_train") or groups[source]  # MedMNIST: train split for training
        train += rng.sample(pool, min(len(pool), args.cap))
    test = [sample for source in FOLDS[name]["test"] for sample in groups[source]]
    log(f"fold {name}: training on {len(train)} images from {', '.join(FOLDS[name]['train'])}")
    settings = RouterSettings(
        epochs=args.epochs, seed=args.seed, image_size=args.image_size, negatives=args.negatives,
        threshold=args.threshold, threads=args.threads,
    )  # fmt: skip
    report = fit_router([s[0] for s in train], [s[1] for s in train], out / name, settings, [s[2] for s in train])
    router = TrainedRouter.load(out / name)
    probabilities = router.predict_proba([s[0] for s in test])
    labels = [s[1] for s in test]
    decisions = [decide(row, router.classes, router.threshold) for row in probabilities]
    known = [i for i, label in enumerate(labels) if label in router.classes]
    ece = expected_calibration_error(probabilities[known], np.array([router.classes.index(labels[i]) for i in known]))
    rows = []
    for source in FOLDS[name]["test"]:
        picks = [i for i, s in enumerate(test) if s[2] == source]
        top = [router.classes[int(probabilities[i].argmax())] for i in picks]
        routed = [decisions[i].domain or OUT_OF_SCOPE for i in picks]
        truth = labels[picks[0]]
        rows.append({
            "source": source, "label": truth, "n": len(picks),
            "top1": float(np.mean([t == truth for t in top])),
            "routed": float(np.mean([r == truth for r in routed])),
            "abstained": float(np.mean([decisions[i].domain is None for i in picks])),
            "confidence": float(np.mean([probabilities[i].max() for i in picks])),
        })  # fmt: skip
    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for label, decision in zip(labels, decisions, strict=True):
        confusion[label][decision.domain or "abstain"] += 1
    return {
        "fold": name, "train_images": len(train), "classes": list(router.classes), "rows": rows, "ece": ece,
        "confusion": {k: dict(v) for k, v in confusion.items()}, "report": report.to_dict(),
    }  # fmt: skip


def per_domain(result: dict[str, Any]) -> list[tuple[str, int, float, float, float]]:
    """(domain, n, top-1 accuracy, routed-correct rate, abstention rate), image-weighted over the fold's sources."""
    table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in result["rows"]:
        table[row["label"]].append(row)
    out = []
    for domain, rows in table.items():
        n = sum(r["n"] for r in rows)
        mean = {key: sum(r[key] * r["n"] for r in rows) / n for key in ("top1", "routed", "abstained")}
        out.append((domain, n, mean["top1"], mean["routed"], mean["abstained"]))
    return out


def machine(seconds: float) -> str:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor() or "?",
    )
    import torch

    load = os.getloadavg()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores (torch {torch.__version__}, {torch.get_num_threads()} threads, CPU only); "
        f"{dt.date.today().isoformat()}; total {seconds / 60:.1f} min; load average at end {load:.1f}"
        + (" (other processes shared the CPUs: times are pessimistic)" if load > (os.cpu_count() or 1) else "")
    )


def markdown(results: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "## Domain router accuracy, whole sources held out (`benchmarks/router_accuracy.py`)",
        "",
        f"Machine: {machine(seconds)}.",
        "",
        f"Router: pixel CNN (`SmallCNN`, {args.image_size} px, widths 16-128) trained from scratch by `fit_router`, "
        f"{args.epochs} epochs, class- and source-balanced sampling, at most {args.cap} images per training source, "
        f"{args.negatives} synthetic out-of-scope images, temperature-scaled on a 20% held-out part of the training "
        f"sources, threshold {args.threshold}, seed {args.seed}. top-1 = argmax is the true class; routed = the "
        "decision at the threshold is the true domain (abstaining counts as wrong, except for the chart, whose true "
        "answer is out of scope); abstained = probability below threshold or top class out_of_scope. "
        "MedMNIST images are 28 px, upsampled.",
        "",
    ]
    for result in results:
        report = result["report"]
        lines += [
            f"### Fold {result['fold']}: train {', '.join(FOLDS[result['fold']]['train'])} "
            f"({result['train_images']} images, {report['seconds']:.0f} s)",
            "",
            f"In-distribution held-out accuracy {report['accuracy']:.3f}, ECE {report['ece_before']:.3f} -> "
            f"{report['ece_after']:.3f} (T = {report['temperature']:.3g}). Held-out sources: ECE {result['ece']:.3f}.",
            "",
            "| test source | true class | n | top-1 | routed | abstained | mean confidence |",
            "|---|---|--:|--:|--:|--:|--:|",
        ]
        lines += [
            f"| {r['source']} | {r['label']} | {r['n']} | {r['top1']:.3f} | {r['routed']:.3f} | {r['abstained']:.3f} "
            f"| {r['confidence']:.3f} |"
            for r in result["rows"]
        ]
        lines += ["", "| domain (image-weighted) | n | top-1 | routed | abstained |", "|---|--:|--:|--:|--:|"]
        lines += [f"| {d} | {n} | {t:.3f} | {r:.3f} | {a:.3f} |" for d, n, t, r, a in per_domain(result)]
        columns = [*[c for c in result["classes"] if c != OUT_OF_SCOPE], "abstain"]
        lines += ["", "Confusion (rows: truth, columns: decision):", "", "| truth | " + " | ".join(columns) + " |"]
        lines.append("|---|" + "--:|" * len(columns))
        for truth, counts in result["confusion"].items():
            lines.append(f"| {truth} | " + " | ".join(str(counts.get(c, 0)) for c in columns) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="BENCHMARKS.md to update (only the router_accuracy section)")
    parser.add_argument("--folds", default="AB", help="which folds to run (A, B or AB)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--cap", type=int, default=300, help="most images per training source")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--negatives", type=int, default=210)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch threads while training (default: torch's own)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    groups = load_samples(args.data)
    log("sources: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(groups.items())))
    with tempfile.TemporaryDirectory() as folder:
        results = [run_fold(fold, groups, args, Path(folder)) for fold in args.folds]
    section = markdown(results, args, time.perf_counter() - started)
    print(section)
    if args.out:
        write_section(args.out, "router_accuracy", section)
        log(f"wrote the router_accuracy section of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
