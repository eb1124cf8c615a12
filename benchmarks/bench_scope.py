"""Benchmark the in-scope check (mmedrag/retrieval/scope.py): how many knowledge-base-like images it flags, and how
many charts, photos, screenshots, blank and noise images it lets through.

Held-out design: MedPix 2.0's cases are split once (seed 0) into two halves by case; the knowledge base (and so the
fit: leave-one-out over its own images) is the first half only, and the rows are measured on images the fit never
saw: the second half's images ("in-domain, held out"), VQA-RAD's images (other radiology: chest films, CT and MR
from another source; reported as measured, not a goal), and five non-medical families rendered or loaded here:

* charts: matplotlib bar, line and pie charts (random data, styles and sizes);
* photos: scikit-image's bundled natural photographs (``skimage.data``), each as several random crops;
* screenshots: text rendered with PIL (dark on light and light on dark, several fonts sizes);
* blank: uniform images of random grey levels and colours;
* noise: uniform, Gaussian and coloured noise.

Every query is asked "Is there a pleural effusion?" through ``Retriever.search_checked``, the path `ask`, `serve`
and `evaluate` take. Columns: the share flagged by the combined check (each test at alpha/2, the default), and by
each test alone at the full alpha (what either would do without the other). Goals: at most 5% of held-out
in-domain images flagged, at least 95% of each non-medical family flagged.

Run:  .venv/bin/python benchmarks/bench_scope.py --encoder tower:~/.cache/mmedrag/demo/tower --encoder hash \\
        --data /work/shared/data --out BENCHMARKS.md --json      (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from benchlib import machine, write_section

QUESTION = "Is there a pleural effusion?"
WORDS = [
    *("quarterly", "revenue", "meeting", "agenda", "the", "report", "shows", "sales", "growth", "in", "every"),
    *("region", "compared", "with", "last", "year", "please", "review", "the", "attached", "spreadsheet"),
    *("before", "friday", "and", "send", "comments", "to", "the", "team", "lead", "thanks"),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- non-medical families ----------------------------------------------------------------------------------------


def charts(count: int, seed: int) -> list[Image.Image]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    styles = [
        s for s in ("default", "ggplot", "bmh", "classic", "fivethirtyeight", "grayscale") if s in plt.style.available
    ]
    out = []
    for n in range(count):
        with plt.style.context(styles[n % len(styles)]):
            figure, axes = plt.subplots(figsize=(rng.uniform(3, 7), rng.uniform(2.5, 5)), dpi=80)
            kind = n % 3
            values = rng.uniform(1, 10, int(rng.integers(3, 9)))
            if kind == 0:
                axes.bar([f"Q{i + 1}" for i in range(len(values))], values)
                axes.set_title("Quarterly sales")
            elif kind == 1:
                for _ in range(int(rng.integers(1, 4))):
                    axes.plot(np.cumsum(rng.standard_normal(30)))
                axes.set_title("Monthly visitors")
            else:
                axes.pie(values, labels=[f"part {i}" for i in range(len(values))])
                axes.set_title("Market share")
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png")
            plt.close(figure)
        buffer.seek(0)
        out.append(Image.open(buffer).convert("RGB"))
    return out


def photos(crops: int, seed: int) -> tuple[list[Image.Image], list[str]]:
    """scikit-image's natural photographs (not its microscopy, retina, phantom or synthetic images), as crops."""
    from skimage import data

    names = ["astronaut", "camera", "cat", "chelsea", "coffee", "coins", "rocket", "moon", "brick", "grass", "gravel"]
    names += ["clock", "horse", "hubble_deep_field"]
    rng = np.random.default_rng(seed)
    out = []
    for name in names:
        array = np.asarray(getattr(data, name)())
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        image = Image.fromarray(array).convert("RGB")
        out.append(image)
        for _ in range(crops - 1):
            w, h = image.size
            cw, ch = int(w * rng.uniform(0.5, 0.9)), int(h * rng.uniform(0.5, 0.9))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            out.append(image.crop((x, y, x + cw, y + ch)))
    return out, names


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in ("DejaVuSans.ttf", "DejaVuSansMono.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def screenshots(count: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        size = (int(rng.integers(400, 1000)), int(rng.integers(300, 700)))
        dark = n % 3 == 2
        image = Image.new("RGB", size, (30, 30, 30) if dark else (255, 255, 255))
        draw = ImageDraw.Draw(image)
        font = _font(int(rng.integers(11, 22)))
        y = 10
        while y < size[1] - 20:
            line = " ".join(rng.choice(WORDS, int(rng.integers(4, 12))))
            draw.text((10, y), line, fill=(220, 220, 220) if dark else (20, 20, 20), font=font)
            y += int(font.size * 1.5) if hasattr(font, "size") else 16
        out.append(image)
    return out


def blanks(count: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        colour = (int(rng.integers(0, 256)),) * 3 if n % 2 == 0 else tuple(int(v) for v in rng.integers(0, 256, 3))
        out.append(Image.new("RGB", (int(rng.integers(64, 800)), int(rng.integers(64, 800))), colour))
    return out


def noises(count: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        shape = (int(rng.integers(64, 600)), int(rng.integers(64, 600)))
        if n % 3 == 0:
            array = rng.integers(0, 256, shape, dtype=np.uint8)
        elif n % 3 == 1:
            array = np.clip(rng.normal(128, 40, shape), 0, 255).astype(np.uint8)
        else:
            array = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        out.append(Image.fromarray(array).convert("RGB"))
    return out


# --- the measurement ---------------------------------------------------------------------------------------------


def split_medpix(data: Path, seed: int, dev: bool = False) -> tuple[list[Any], list[Any]]:
    """MedPix 2.0 records in two halves by case (patient): the knowledge base and the held-out images.

    ``dev``: both halves are cut from the knowledge-base half instead, so choices can be tried without ever looking
    at the reported held-out half.
    """
    from mmedrag.io.readers import read_source

    records = read_source(data / "medpix2").records
    if dev:
        records = split_medpix(data, seed)[0]
    cases = sorted({r.patient_id or r.id for r in records})
    order = np.random.default_rng(seed).permutation(len(cases))
    kb_cases = {cases[i] for i in order[: len(cases) // 2]}
    kb = [r for r in records if (r.patient_id or r.id) in kb_cases]
    return kb, [r for r in records if (r.patient_id or r.id) not in kb_cases]


def vqa_rad_images(data: Path, limit: int, seed: int) -> list[Image.Image]:
    from mmedrag.io.images import load_image

    paths = sorted((data / "vqa_rad" / "images").glob("*"))
    chosen = sorted(np.random.default_rng(seed).choice(len(paths), size=min(limit, len(paths)), replace=False))
    return [load_image(paths[i]) for i in chosen]


def measure(retriever: Any, images: list[Image.Image], alpha: float) -> dict[str, Any]:
    from mmedrag.retrieval.scope import conformal_threshold
    from mmedrag.types import Query

    model = retriever._scope[0] if retriever._scope else None
    flagged, alone = 0, {name: 0 for name in (model.tests if model else {})}
    started = time.perf_counter()
    for start in range(0, len(images), 32):
        queries = [Query(text=QUESTION, image=image) for image in images[start : start + 32]]
        _, verdicts = retriever.search_checked(queries, k=1)
        model = retriever._scope[0]
        for verdict in verdicts:
            flagged += verdict.out_of_scope
            for name, result in verdict.tests.items():
                threshold = conformal_threshold(model.tests[name].scores, alpha)
                alone[name] = alone.get(name, 0) + (threshold is not None and result["score"] < threshold)
    seconds = time.perf_counter() - started
    n = len(images)
    return {
        "n": n,
        "flagged": round(flagged / n, 4),
        **{f"{name}_alone": round(count / n, 4) for name, count in alone.items()},
        "ms_per_image": round(1000 * seconds / n, 1),
    }


def run_encoder(spec: str, kb: list[Any], families: dict[str, list[Image.Image]], alpha: float) -> dict[str, Any]:
    from mmedrag.encoders import create_encoder
    from mmedrag.indexing import build_index
    from mmedrag.retrieval.retriever import Retriever
    from mmedrag.stores.index import FolderIndex

    encoder = create_encoder(spec)
    with tempfile.TemporaryDirectory(prefix="bench-scope-") as folder:
        started = time.perf_counter()
        report = build_index(kb, folder, encoder, store="exact", scope_alpha=alpha)
        build_s = time.perf_counter() - started
        retriever = Retriever(FolderIndex.load(folder), encoder)
        rows = {}
        for name, images in families.items():
            rows[name] = measure(retriever, images, alpha)
            log(f"{encoder.name}: {name}: {rows[name]}")
    return {
        "encoder": encoder.name,
        "spec": spec,
        "fit": report.scope,
        "index_seconds": round(build_s, 1),
        "rows": rows,
    }


ROW_NAMES = {
    "medpix_held_out": "in-domain: MedPix 2.0 held-out cases",
    "vqa_rad": "other radiology: VQA-RAD",
    "charts": "charts (matplotlib)",
    "photos": "natural photos (skimage.data, crops)",
    "screenshots": "text screenshots (PIL)",
    "blank": "blank",
    "noise": "noise",
}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "## In-scope check without a router (`benchmarks/bench_scope.py`)",
        "",
        f"Machine: {results['machine']}. Knowledge base: {results['kb_images']} MedPix 2.0 images of half the cases "
        f"(split once by case, seed {results['seed']}); the fit is leave-one-out over those images only. alpha "
        f"{results['alpha']} (each test at alpha/2 in the combined check). Goals: <= 5% of held-out in-domain images "
        "flagged, >= 95% of each non-medical family flagged. 'alone' columns: one test at the full alpha.",
        "",
    ]
    for result in results["encoders"]:
        fit = result["fit"]
        thresholds = ", ".join(f"{k} {v}" for k, v in (fit.get("thresholds") or {}).items())
        lines += [
            f"**{result['encoder']}** (`{result['spec']}`; fit on {fit.get('scored')} images, thresholds at alpha/2: "
            f"{thresholds}; index build + fit {result['index_seconds']} s)",
            "",
            "| images | n | flagged (combined) | embedding alone | image statistics alone | ms/image |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in result["rows"].items():
            lines.append(
                f"| {ROW_NAMES.get(name, name)} | {row['n']} | {row['flagged']:.1%} | "
                f"{row.get('embedding_alone', float('nan')):.1%} | {row.get('image_stats_alone', float('nan')):.1%} | "
                f"{row['ms_per_image']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", action="append", help="encoder spec (repeatable; default: hash)")
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vqa-rad", type=int, default=300, help="VQA-RAD images measured (sampled)")
    parser.add_argument("--per-family", type=int, default=60, help="charts, screenshots, blank, noise images each")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="development run: the knowledge-base half split again, other random charts/crops/screenshots (seed "
        "+1000), no VQA-RAD; for trying choices without touching the reported sets (never written to --out)",
    )
    parser.add_argument("--out", help="write the section into this markdown file (e.g. BENCHMARKS.md)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args()
    from mmedrag.io.images import load_image

    kb, held = split_medpix(args.data, args.seed, dev=args.dev)
    log(f"knowledge base: {len(kb)} MedPix images; held out: {len(held)}")
    seed = args.seed + 1000 if args.dev else args.seed
    photo_images, photo_names = photos(5, seed)
    families = {
        "medpix_held_out": [load_image(path) for r in held for path in r.image_paths],
        "vqa_rad": [] if args.dev else vqa_rad_images(args.data, args.vqa_rad, seed),
        "charts": charts(args.per_family, seed),
        "photos": photo_images,
        "screenshots": screenshots(args.per_family, seed),
        "blank": blanks(args.per_family, seed),
        "noise": noises(args.per_family, seed),
    }
    families = {name: images for name, images in families.items() if images}
    results: dict[str, Any] = {
        "machine": machine(),
        "alpha": args.alpha,
        "seed": args.seed,
        "kb_images": sum(len(r.image_paths) for r in kb),
        "photos": photo_names,
        "encoders": [run_encoder(spec, kb, families, args.alpha) for spec in (args.encoder or ["hash"])],
    }
    if args.out and not args.dev:
        write_section(args.out, "bench_scope", markdown(results))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
