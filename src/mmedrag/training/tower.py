"""Train a small image tower against a frozen pretrained text encoder with the symmetric contrastive loss.

This is the CLIP objective (Radford et al. 2021; RULE Eq. 2, method.md §2.3): cross-entropy over the batch's
image-to-text and text-to-image similarities, averaged, with a learnable temperature clamped at 100. Text vectors
are computed once (the tower is the only thing that learns), which is what makes it fit in minutes on two cores.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmedrag._optional import require
from mmedrag.encoders.base import Encoder
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json


@dataclass
class TowerTrainingConfig:
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    image_size: int = 128
    seed: int = 0
    time_budget_s: float | None = None  # stop early (after a whole epoch) once this much time is spent


@dataclass
class TowerTrainingResult:
    path: str
    epochs_run: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def recall_at_k(
    image_vectors: np.ndarray, text_vectors: np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Image->text recall@k where row i of each matrix is a matching pair."""
    scores = image_vectors @ text_vectors.T
    # Rank of the true text = number of texts scoring strictly higher.
    ranks = (scores > np.diag(scores)[:, None]).sum(axis=1)
    return {f"R@{k}": float((ranks < k).mean()) for k in ks}


def _augment(image: Image.Image, rng: random.Random, size: int) -> Image.Image:
    """Random resized crop (70-100% of the area); no flips, since laterality is clinical information."""
    width, height = image.size
    scale = math.sqrt(rng.uniform(0.7, 1.0))
    crop_w, crop_h = max(8, int(width * scale)), max(8, int(height * scale))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    return image.crop((left, top, left + crop_w, top + crop_h)).resize((size, size), Image.Resampling.BILINEAR)


def train_image_tower(
    images: Sequence[Image.Image],
    texts: Sequence[str],
    text_encoder: Encoder,
    out_dir: str | Path,
    config: TowerTrainingConfig | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TowerTrainingResult:
    """Train and save a tower folder that :class:`~mmedrag.encoders.tower.TowerEncoder` loads.

    Args:
        images, texts: aligned training pairs.
        text_encoder: frozen text tower; its spec is saved so the tower reloads with the same one.
        on_epoch: called with (epoch, mean loss) after each epoch, e.g. to show progress.
    """
    torch = require("torch", "torch")
    safetensors = require("safetensors.torch", "torch")
    from mmedrag.encoders.cnn import CNNConfig, SmallCNN, to_tensor
    from mmedrag.encoders.tower import TOWER_CONFIG, TOWER_WEIGHTS

    cfg = config or TowerTrainingConfig()
    if len(images) != len(texts):
        raise ConfigError(f"{len(images)} images but {len(texts)} texts")
    if len(images) < 2:
        raise ConfigError("contrastive training needs at least 2 image-text pairs")
    started = time.perf_counter()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    targets = torch.from_numpy(np.asarray(text_encoder.encode_texts(list(texts)), dtype=np.float32))
    model = SmallCNN(CNNConfig(dim=text_encoder.dim, image_size=cfg.image_size))
    logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    optimizer = torch.optim.AdamW(
        [*model.parameters(), logit_scale], lr=cfg.learning_rate, weight_decay=cfg.weight_decay
    )
    steps_per_epoch = max(1, len(images) // cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.learning_rate, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.1
    )
    base = [im.convert("RGB").resize((cfg.image_size + 16, cfg.image_size + 16)) for im in images]
    losses: list[float] = []
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = list(range(len(base)))
        rng.shuffle(order)
        epoch_losses = []
        for step in range(steps_per_epoch):
            rows = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            batch = torch.stack([to_tensor(_augment(base[i], rng, cfg.image_size), cfg.image_size) for i in rows])
            image_vectors = torch.nn.functional.normalize(model(batch), dim=1)
            logits = logit_scale.exp() * image_vectors @ targets[rows].T
            labels = torch.arange(len(rows))
            loss = (
                torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
            ) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100))
            epoch_losses.append(float(loss.detach()))
        losses.append(float(np.mean(epoch_losses)))
        if on_epoch is not None:
            on_epoch(epoch, losses[-1])
        if cfg.time_budget_s is not None and time.perf_counter() - started > cfg.time_budget_s:
            break
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safetensors.save_file(model.state_dict(), str(out / TOWER_WEIGHTS))
    result = TowerTrainingResult(str(out), epoch, round(time.perf_counter() - started, 2), losses[-1], losses)
    atomic_write_json(
        out / TOWER_CONFIG,
        {
            "text_encoder": text_encoder.spec(),
            "image_tower": model.config.to_dict(),
            "training": {**vars(cfg), "pairs": len(images), **result.to_dict()},
        },
    )
    return result


def tower_summary(path: str | Path) -> dict[str, Any]:
    from mmedrag.encoders.tower import TOWER_CONFIG

    return json.loads((Path(path) / TOWER_CONFIG).read_text(encoding="utf-8"))
