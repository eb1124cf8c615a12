"""The pixel-CNN router on real images with whole sources held out: it must route unseen datasets to their domain.

Train: MedPix2 + COVID (radiology), IDRiD + skimage retina (fundus), HAM10000 (dermoscopy), PathMNIST exemplars and
synthetic charts/screenshots (out_of_scope). Test: VQA-RAD, RetinaMNIST (28 px), DermaMNIST exemplars, the real chart.
The full-size version of this split, with a second fold, is benchmarks/router_accuracy.py.
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmedrag.io.images import load_image
from mmedrag.routing import OUT_OF_SCOPE, load_router, route_batch

pytestmark = [pytest.mark.integration, pytest.mark.data]

TRAIN = {"medpix2": 80, "covid_chestxray": 40, "idrid_fundus_codras": 40, "ham10000_sample": 56}


def _lines(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "index.jsonl").read_text(encoding="utf-8").splitlines()]


def _pick(lines: list[dict], dataset: str, count: int, rng: random.Random) -> list[dict]:
    rows = [line for line in lines if line["dataset"] == dataset]
    return rng.sample(rows, min(count, len(rows)))


def test_pixel_router_generalises_to_held_out_sources(shared_data: Path, tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router

    rng = random.Random(0)
    lines = _lines(shared_data)
    train = [line for name, count in TRAIN.items() for line in _pick(lines, name, count, rng)]
    train += [
        line
        for line in lines
        if line["image"].endswith(("retina.jpg", "microaneurysms.png")) or "pathmnist" in line["image"]
    ]
    images = [load_image(shared_data / line["image"]) for line in train]
    labels = [line["domain"] for line in train]
    sources = [line["dataset"] for line in train]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pathology has 9 images: the warning is expected
        report = fit_router(
            images,
            labels,
            tmp_path / "router",
            RouterSettings(image_size=48, epochs=8, negatives=56, seed=0, threads=1),
            sources=sources,
        )
    assert report.classes == ["radiology", "ophthalmology", "pathology", "dermatology", OUT_OF_SCOPE]
    router = load_router(tmp_path / "router")

    radiology = [load_image(shared_data / line["image"]) for line in _pick(lines, "vqa_rad", 60, rng)]
    retina = np.load(shared_data / "medmnist" / "retinamnist.npz")["test_images"][:100]
    ophthalmology = [Image.fromarray(array).convert("RGB") for array in retina]
    dermatology = [load_image(shared_data / line["image"]) for line in lines if "dermamnist_224" in line["image"]]
    chart = load_image(shared_data / "llava_med_examples" / "xy_chromosome.jpg")

    chance = 1 / len(router.classes)
    for domain, test_images, floor in (
        ("radiology", radiology, 0.8),
        ("ophthalmology", ophthalmology, 0.7),
        ("dermatology", dermatology, 3 / 7),  # only 7 images: a looser bar, still > 2x chance
    ):
        decisions = route_batch([None] * len(test_images), test_images, router, default=None)
        accuracy = float(np.mean([d.domain == domain for d in decisions]))
        assert accuracy >= max(floor, 2 * chance), f"{domain}: {accuracy:.2f} on held-out sources"
    # The real chart is never trained on: synthetic negatives must carry the out_of_scope class to it.
    decision = route_batch([None], [chart], router, default="radiology")[0]
    assert decision.domain is None and decision.source == "out_of_scope"
