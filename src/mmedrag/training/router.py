"""Train a domain router: a head on frozen encoder embeddings, or a small CNN on pixels, calibrated and saved.

MMed-RAG fine-tunes BiomedCLIP on a few domain-labelled images (method.md §2.1); with an encoder spec this is its
linear-probe variant, without one a from-scratch CNN for offline use. Temperature scaling on a held-out part
calibrates the probabilities (Guo et al. 2017). Synthetic charts and screenshots form the out_of_scope class. The
result loads with :func:`mmedrag.routing.load_router`.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from mmedrag.domains import OUT_OF_SCOPE
from mmedrag.encoders import create_encoder
from mmedrag.encoders.base import Encoder
from mmedrag.errors import ConfigError, DataError, MmedragError
from mmedrag.io.images import load_image
from mmedrag.progress import track
from mmedrag.routing import models
from mmedrag.routing.base import ROUTER_CLASSES, check_router_classes, check_threshold
from mmedrag.routing.temperature import calibration_report
from mmedrag.routing.trained import TrainedRouter
from mmedrag.training import router_models
from mmedrag.training.router_data import check_labelled
from mmedrag.training.router_negatives import synthetic_negatives
from mmedrag.types import Record

MIN_IMAGES_PER_CLASS = 20
DEFAULT_NEGATIVES = 210  # 30 of each synthetic kind (training.router_negatives.GENERATORS)
_DEFAULT_EPOCHS = {"cnn": 15, "linear": 300, "mlp": 300}
# Held-out sets are small (tens of images): keep temperature scaling to a 10x change either way, so a perfectly
# separated held-out part cannot drive T -> 0 and every probability to 1 (see calibration.fit_temperature).
_TEMPERATURE_BOUNDS = (0.1, 10.0)


@dataclass
class RouterTrainingReport:
    """What training did and how well the router does on its held-out part (before/after temperature scaling)."""

    path: str
    architecture: str
    classes: list[str]
    train_counts: dict[str, int]
    holdout_counts: dict[str, int]
    accuracy: float | None
    per_class_accuracy: dict[str, float]
    nll_before: float | None
    nll_after: float | None
    ece_before: float | None
    ece_after: float | None
    temperature: float
    threshold: float
    epochs: int
    seconds: float
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RouterSettings:
    """How to train a router (``mmedrag train-router`` flags map one to one).

    Attributes:
        head: ``linear`` or ``mlp`` on frozen embeddings (used when an encoder is given).
        epochs: None takes the kind's default (CNN 15, heads 300).
        holdout_fraction: stratified part held out for temperature scaling and the report.
        threshold: least calibrated top-class probability the router answers with.
        negatives: synthetic out-of-scope images added as the ``out_of_scope`` class (0: threshold only).
        image_size, widths: the pixel CNN's input size and channel widths (ignored with an encoder).
        min_per_class: classes with fewer training images are warned about.
        threads: torch threads while training (None: unchanged); 1 is fastest on a busy two-core machine.
    """

    head: Literal["linear", "mlp"] = "linear"
    epochs: int | None = None
    seed: int = 0
    holdout_fraction: float = 0.2
    threshold: float = 0.5
    negatives: int = DEFAULT_NEGATIVES
    image_size: int = 64
    widths: tuple[int, ...] = models.DEFAULT_CNN_WIDTHS
    min_per_class: int = MIN_IMAGES_PER_CLASS
    threads: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ConfigError(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if self.head not in ("linear", "mlp"):
            raise ConfigError(f"unknown router head {self.head!r}; use linear or mlp")
        check_threshold(self.threshold)


def _split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/held-out rows; a class with one image keeps it for training."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        take = min(len(rows) - 1, round(len(rows) * fraction)) if len(rows) > 1 else 0
        held.extend(rows[:take].tolist())
        train.extend(rows[take:].tolist())
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(held), dtype=np.int64)


def _warn_small(counts: Counter[str], minimum: int) -> list[str]:
    messages = []
    for name, count in sorted(counts.items()):
        if count < minimum:
            message = f"class {name!r} has only {count} training image(s) (< {minimum}); its routing will be unreliable"
            warnings.warn(message, UserWarning, stacklevel=3)
            messages.append(message)
    return messages


def fit_router(
    images: Sequence[Image.Image],
    labels: Sequence[str],
    out_dir: str | Path,
    settings: RouterSettings | None = None,
    sources: Sequence[str] | None = None,
    encoder: Encoder | str | dict[str, Any] | None = None,
) -> RouterTrainingReport:
    """Train, calibrate and save a router from in-memory images; :func:`train_router` is the records front end.

    Args:
        labels: a domain (or ``out_of_scope``) per image. ``sources`` (dataset names) balance sampling within a class.
        encoder: an encoder or spec for a head on frozen embeddings; None trains the pixel CNN.
    """
    s = settings or RouterSettings()
    started = time.perf_counter()
    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} images but {len(labels)} labels")
    all_images, all_labels = list(images), [str(label).lower() for label in labels]
    all_sources = list(sources) if sources is not None else ["" for _ in all_images]
    if s.negatives > 0:
        all_images += synthetic_negatives(s.negatives, s.seed)
        all_labels += [OUT_OF_SCOPE] * s.negatives
        all_sources += ["synthetic"] * s.negatives
    present = set(all_labels)
    classes = check_router_classes(
        [name for name in ROUTER_CLASSES if name in present] + sorted(present - set(ROUTER_CLASSES))
    )
    notes = _warn_small(Counter(all_labels), s.min_per_class)
    y = np.array([classes.index(label) for label in all_labels], dtype=np.int64)
    train_rows, held_rows = _split(y, s.holdout_fraction, s.seed)
    if isinstance(encoder, str | dict):
        encoder = create_encoder(encoder)
    kind = "cnn" if encoder is None else s.head
    options = router_models.FitOptions(
        epochs=s.epochs or _DEFAULT_EPOCHS[kind], seed=s.seed, progress=s.progress, threads=s.threads
    )
    if encoder is None:
        architecture: dict[str, Any] = {
            "type": "cnn",
            "classes": len(classes),
            "image_size": s.image_size,
            "widths": [int(width) for width in s.widths],
        }
        model = router_models.train_cnn(
            [all_images[row] for row in train_rows],
            y[train_rows],
            [all_sources[row] for row in train_rows],
            architecture,
            options,
        )
        held_logits = models.cnn_logits(model, [all_images[row] for row in held_rows], s.image_size)
    else:
        if "image" not in encoder.modalities:
            raise ConfigError(f"encoder {encoder.name} encodes text only; a router head needs image embeddings")
        features = _embed(encoder, all_images, s.progress)
        architecture = {"type": s.head, "classes": len(classes), "in_dim": int(features.shape[1])}
        if s.head == "mlp":
            architecture.update(hidden=256, dropout=0.1)
        model = router_models.train_head(features[train_rows], y[train_rows], architecture, options)
        held_logits = models.head_logits(model, features[held_rows])
    report = calibration_report(held_logits, y[held_rows], classes, _TEMPERATURE_BOUNDS)
    temperature = report.pop("temperature")
    facts = {
        "images": len(images),
        "negatives": s.negatives,
        "seed": s.seed,
        "epochs": options.epochs,
        "holdout_fraction": s.holdout_fraction,
        "train_counts": _counts(y[train_rows], classes),
        "holdout_counts": _counts(y[held_rows], classes),
        **report,
    }
    router = TrainedRouter(model, classes, architecture, encoder, temperature, s.threshold, facts)
    path = router.save(out_dir)
    return RouterTrainingReport(
        path=str(path),
        architecture=kind,
        classes=list(classes),
        train_counts=facts["train_counts"],
        holdout_counts=facts["holdout_counts"],
        temperature=temperature,
        threshold=s.threshold,
        epochs=options.epochs,
        seconds=round(time.perf_counter() - started, 2),
        warnings=notes,
        **report,
    )


def _embed(encoder: Encoder, images: Sequence[Image.Image], progress: bool, batch_size: int = 32) -> np.ndarray:
    chunks = [images[start : start + batch_size] for start in range(0, len(images), batch_size)]
    parts = [encoder.encode_images(list(chunk)) for chunk in track(chunks, "embedding images", len(chunks), progress)]
    return np.concatenate(parts).astype(np.float32)


def _counts(labels: np.ndarray, classes: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(labels, minlength=len(classes))
    return {name: int(count) for name, count in zip(classes, counts, strict=True) if count}


def train_router(
    records: Sequence[Record],
    out_dir: str | Path,
    settings: RouterSettings | None = None,
    encoder_spec: str | dict[str, Any] | None = None,
) -> RouterTrainingReport:
    """Train a router on the images of domain-labelled records and save it in ``out_dir``.

    Every image of a record is one example labelled with the record's domain; unreadable images are skipped and
    listed in the report.

    Raises:
        DataError: records without a domain, or no readable image at all.
    """
    settings = settings or RouterSettings()
    if not records:
        raise DataError("train-router got no records; pass manifests with images and a 'domain' per record")
    check_labelled(records)
    images: list[Image.Image] = []
    labels: list[str] = []
    sources: list[str] = []
    skipped: list[str] = []
    pairs = [(record, path) for record in records for path in record.image_paths]
    for record, path in track(pairs, "loading images", len(pairs), settings.progress):
        try:
            images.append(load_image(path))
        except MmedragError as exc:
            skipped.append(f"{record.id}: {exc}")
            continue
        labels.append(str(record.domain))
        sources.append(record.source or "")
    if not images:
        raise DataError(f"none of the {len(records)} records has a readable image; first problem: {skipped[:1]}")
    report = fit_router(images, labels, out_dir, settings, sources, encoder_spec)
    report.skipped = skipped
    return report
