"""One contrastive training run's moving parts: data loader, AdamW, schedule, frozen-tower caches, the epoch loop,
held-out encoding, and the state a checkpoint needs to resume it exactly."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from mmedrag.errors import DataError
from mmedrag.progress import track
from mmedrag.training.contrastive import (
    MAX_LOGIT_SCALE,
    PairImages,
    collate,
    contrastive_loss,
    warmup_cosine,
)
from mmedrag.training.recall import Gallery, Recall, held_out_recall
from mmedrag.training.retriever_pairs import Pair
from mmedrag.training.towers import DualTowers
from mmedrag.training.workers import Workers

_EVAL_BATCH = 32


def _parameter_groups(
    towers: DualTowers, train_image: bool, train_text: bool, weight_decay: float
) -> list[dict[str, Any]]:
    """Freeze what is not trained; no weight decay on gains, biases and the temperature (open_clip main.py)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in towers.model.named_parameters():
        tower = towers.tower_of(name)
        trainable = tower == "scale" or (tower == "image" and train_image) or (tower == "text" and train_text)
        parameter.requires_grad_(trainable)
        if trainable:
            (no_decay if parameter.ndim < 2 or tower == "scale" else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class TrainingLoop:
    """Trains ``towers`` on ``pairs`` with the settings of :func:`~mmedrag.training.retriever.train_retriever`.

    A frozen tower is run once, before training, and its features are cached: the loop then only runs (and only
    loads images for) the towers that learn. With several ``workers``, each process loads and encodes its slice of
    every batch (accelerate's ``BatchSamplerShard`` with ``split_batches``), so n processes see exactly the batches
    one process sees, and the loss is computed over the whole batch's features (:class:`Workers`).
    """

    def __init__(
        self,
        towers: DualTowers,
        pairs: Sequence[Pair],
        settings: dict[str, Any],
        workers: Workers,
        total_steps: int,
        progress: bool = False,
    ) -> None:
        self.towers, self.workers, self.device = towers, workers, workers.device
        self.progress = progress and workers.main
        self.train_image, self.train_text = bool(settings["train_image"]), bool(settings["train_text"])
        self.epochs = int(settings["epochs"])
        self.texts = list(dict.fromkeys(pair.text for pair in pairs))
        index = {text: i for i, text in enumerate(self.texts)}
        self.text_ids = torch.tensor([index[pair.text] for pair in pairs], dtype=torch.long)
        transform = towers.train_transform if self.train_image else None
        # Keep decoded images at twice the model input: enough for crops, small enough to stay in memory.
        self.dataset = PairImages(
            [p.image_path for p in pairs], transform, cache_side=2 * towers.image_size, seed=int(settings["seed"])
        )
        self.generator = torch.Generator().manual_seed(int(settings["seed"]))
        batches = BatchSampler(
            RandomSampler(self.dataset, generator=self.generator),
            int(settings["batch_size"]),
            drop_last=True,  # a last batch of 3 pairs gives a much easier, noisier contrastive task
        )
        if workers.distributed:  # launched by accelerate, so it is installed
            from accelerate.data_loader import BatchSamplerShard

            batches = BatchSamplerShard(batches, workers.world, workers.rank, split_batches=True)
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=batches,
            collate_fn=collate,
            num_workers=0,  # two cores: decoding in the main process is as fast and keeps RNG use in one place
        )
        groups = _parameter_groups(towers, self.train_image, self.train_text, float(settings["weight_decay"]))
        # CLIP's AdamW settings for transformer towers (Radford et al. 2021): beta2 0.98, eps 1e-6.
        self.optimizer = torch.optim.AdamW(groups, lr=float(settings["lr"]), betas=(0.9, 0.98), eps=1e-6)
        self.scheduler = warmup_cosine(self.optimizer, int(settings["warmup_steps"]), max(1, total_steps))
        self.text_cache: torch.Tensor | None = None
        self.image_cache: torch.Tensor | None = None
        self.image_ok: torch.Tensor | None = None
        self.dim = 0  # see _dimension
        self.tower_parameters = [
            p for p in towers.model.parameters() if p.requires_grad and p is not towers.logit_scale
        ]

    def _autocast(self) -> Any:
        if self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        self.towers.model.eval()
        chunks = []
        for start in range(0, len(texts), _EVAL_BATCH):
            with self._autocast():
                chunks.append(self.towers.encode_texts(list(texts[start : start + _EVAL_BATCH])).float())
        return torch.nn.functional.normalize(torch.cat(chunks), dim=-1)

    @torch.no_grad()
    def encode_images(self, paths: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of every path with the evaluation transform, and which ones could be read."""
        self.towers.model.eval()
        dataset = PairImages(paths, self.towers.eval_transform)
        loader = DataLoader(dataset, batch_size=_EVAL_BATCH, shuffle=False, collate_fn=collate, num_workers=0)
        features: torch.Tensor | None = None
        readable = torch.zeros(len(paths), dtype=torch.bool)
        for pixels, indices in loader:
            if pixels is None:
                continue
            with self._autocast():
                batch = self.towers.encode_images(pixels.to(self.device)).float()
            if features is None:
                features = torch.zeros(len(paths), batch.shape[1], device=batch.device)
            features[indices.to(batch.device)] = batch
            readable[indices] = True
        if features is None:
            raise DataError(f"none of {len(paths)} images could be read (e.g. {paths[0]})")
        return torch.nn.functional.normalize(features, dim=-1), readable

    def _shared_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Every text's features, each process encoding its share (the frozen caches and the held-out gallery are
        encoded once over the processes, not once per process)."""
        if len(texts) < self.workers.world:
            return self.encode_texts(texts)
        return self.workers.gather_rows(self.encode_texts(texts[self.workers.share(len(texts))]))

    def _shared_images(self, paths: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if len(paths) < self.workers.world:
            return self.encode_images(paths)
        mine = paths[self.workers.share(len(paths))]
        try:
            features, readable = self.encode_images(mine)
        except DataError:  # none of this share could be read; the other shares may be
            features = torch.zeros(len(mine), self._dimension(), device=self.device)
            readable = torch.zeros(len(mine), dtype=torch.bool)
        gathered = self.workers.gather_rows(readable.to(self.device, torch.uint8)).bool().cpu()
        if not gathered.any():  # every process knows it: they all stop, none waits for the others
            raise DataError(f"none of {len(paths)} images could be read (e.g. {paths[0]})")
        return self.workers.gather_rows(features), gathered

    def _dimension(self) -> int:
        """Of the shared space, known once a text is encoded."""
        if self.dim == 0:
            self.dim = int(self.encode_texts(self.texts[:1]).shape[1])
        return self.dim

    def evaluate(self, gallery: Gallery) -> Recall:
        images, _ = self._shared_images(gallery.image_paths)
        texts = self._shared_texts(gallery.texts)
        return held_out_recall(gallery, images.cpu().numpy(), texts.cpu().numpy())

    def _cache_frozen(self) -> None:
        self._dimension()
        if not self.train_text and self.text_cache is None:
            self.text_cache = self._shared_texts(self.texts)
        if not self.train_image and self.image_cache is None:
            self.image_cache, self.image_ok = self._shared_images(self.dataset.paths)

    def _features(self, pixels: torch.Tensor | None, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's image and text features of ``rows`` (the towers that learn run; frozen ones are cached)."""
        if len(rows) == 0:  # none of this process's share could be read; it still joins the batch's gathering
            empty = torch.zeros(0, self._dimension(), device=self.device)
            return empty, empty
        ids = self.text_ids[rows]
        with self._autocast():
            if pixels is not None:
                images = self.towers.encode_images(pixels.to(self.device))
            else:
                assert self.image_cache is not None  # filled by _cache_frozen when the image tower is frozen
                images = self.image_cache[rows.to(self.image_cache.device)]
            if self.text_cache is None:
                texts = self.towers.encode_texts([self.texts[i] for i in ids.tolist()])
            else:
                texts = self.text_cache[ids.to(self.text_cache.device)]
        return images, texts

    def train_epoch(self, epoch: int) -> float:
        """One pass over the shuffled pairs; returns the mean loss."""
        self._cache_frozen()
        self.dataset.epoch = epoch
        self.towers.model.train()
        losses = []
        for pixels, indices in track(self.loader, f"epoch {epoch}/{self.epochs}", len(self.loader), self.progress):
            rows = indices if self.image_ok is None else indices[self.image_ok[indices]]
            if self.train_image and pixels is None:
                rows = rows[:0]
            ids = self.workers.gather_rows(self.text_ids[rows].to(self.device))
            if len(ids) < 2:
                continue  # unreadable images left fewer than two pairs in this batch
            images, texts = (self.workers.gather_rows(f) for f in self._features(pixels, rows))
            loss = contrastive_loss(images, texts, self.towers.logit_scale, ids)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.workers.reduce_gradients(self.tower_parameters, [self.towers.logit_scale])
            self.optimizer.step()
            self.scheduler.step()
            self.workers.average_buffers(self.towers.model)
            with torch.no_grad():
                self.towers.logit_scale.clamp_(0, MAX_LOGIT_SCALE)  # after each step, as open_clip does
            losses.append(float(loss.detach()))
        if not losses:
            raise DataError(f"epoch {epoch}: no batch had two readable training images; check the image paths")
        return float(np.mean(losses))

    def state(self) -> dict[str, Any]:
        """Everything an exact resume needs: weights, optimizer, schedule and every RNG the run draws from."""
        return {
            "model": self.towers.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python_rng": random.getstate(),
            "loader_rng": self.generator.get_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.towers.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        random.setstate(state["python_rng"])
        self.generator.set_state(state["loader_rng"])
