"""The contrastive objective and its data pipeline: symmetric InfoNCE, the warm-up + cosine schedule, and a dataset
that loads pair images lazily (and keeps small copies in memory when they fit)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812  (the usual torch alias)
from PIL import Image
from torch.utils.data import Dataset

from mmedrag.errors import ImageError
from mmedrag.io.images import load_image

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps the learnable temperature at 100 (open_clip train.py; method.md §2.3)
_CACHE_BYTES = 512 * 1024**2  # decoded training images kept in memory up to this size, downscaled


def contrastive_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, text_ids: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch (CLIP, Radford et al. 2021; RULE Eq. 2; open_clip ``ClipLoss``).

    Rows with the same ``text_ids`` (two images of one case captioned identically, common in MedPix) are all
    positives, with the target mass split between them; plain CLIP would push identical texts apart. With distinct
    texts this is exactly the CLIP loss: (CE(image->text) + CE(text->image)) / 2.
    """
    image = F.normalize(image_features.float(), dim=-1)
    text = F.normalize(text_features.float(), dim=-1)
    logits = logit_scale.float().exp() * image @ text.T
    same = (text_ids[:, None] == text_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)  # symmetric, so the same targets serve both directions
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> Any:
    """Linear warm-up to the base LR, then cosine decay to zero, stepped once per optimizer step.

    The warm-up is always shorter than the run: the reference recipe's 10,000-step warm-up over ~1-2k total steps
    never reached more than ~20% of its LR (method.md §2.3), one reason users saw near-chance recall (issue #19).
    """
    warmup = max(1, min(warmup_steps, total_steps // 2))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def random_crop(image: Image.Image, min_area: float) -> Image.Image:
    """A crop of ``min_area``..100% of the area at the original aspect, drawn from torch's RNG (so it is seeded and
    checkpointed). No flips: laterality is clinical information in radiology."""
    scale = math.sqrt(min_area + (1.0 - min_area) * float(torch.rand(())))
    width, height = image.size
    crop_w, crop_h = max(8, int(width * scale)), max(8, int(height * scale))
    left = int(torch.randint(0, max(1, width - crop_w + 1), ()))
    top = int(torch.randint(0, max(1, height - crop_h + 1), ()))
    return image.crop((left, top, left + crop_w, top + crop_h))


class PairImages(Dataset[tuple[Any, int]]):
    """The images of a list of pairs, loaded lazily with :func:`~mmedrag.io.images.load_image`.

    Items are ``(transform(image), index)``, or ``(None, index)`` when the image cannot be read (it is reported in
    ``failed`` and the batch goes on without it) or when ``transform`` is None (a frozen image tower needs no
    pixels). With ``cache_side``, decoded images are kept downscaled to that short side while they fit in memory.
    """

    def __init__(
        self,
        paths: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor] | None,
        cache_side: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.paths, self.transform, self.cache_side = list(paths), transform, cache_side
        self.seed, self.epoch = seed, 0
        self.failed: dict[str, str] = {}
        self._cache: dict[int, Image.Image] = {}
        self._cached_bytes = 0

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> Image.Image | None:
        if index in self._cache:
            return self._cache[index]
        try:
            image = load_image(self.paths[index])
        except ImageError as exc:
            if self.paths[index] not in self.failed:
                warnings.warn(f"skipping an unreadable training image: {exc}", stacklevel=2)
            self.failed[self.paths[index]] = str(exc)
            return None
        if self.cache_side is not None:
            if min(image.size) > self.cache_side:
                scale = self.cache_side / min(image.size)
                size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                image = image.resize(size, Image.Resampling.BICUBIC)
            if self._cached_bytes + image.width * image.height * 3 <= _CACHE_BYTES:
                self._cache[index] = image
                self._cached_bytes += image.width * image.height * 3
        return image

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if self.transform is None:
            return None, index
        image = self.image(index)
        if image is None or self.seed is None:
            return (None if image is None else self.transform(image)), index
        # The augmentation of an item depends on (seed, epoch, item) only, not on which process loads it or what it
        # loaded before: n processes then train on exactly the crops one process would, and a resume repeats them.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]))
            return self.transform(image), index


def collate(items: list[tuple[Any, int]]) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Stack the readable items of a batch; pixels are None when no item carries any (frozen image tower)."""
    kept = [(pixels, index) for pixels, index in items if pixels is not None]
    if not kept:
        none_have_pixels = all(pixels is None for pixels, _ in items)
        indices = [index for _, index in items] if none_have_pixels else []
        return None, torch.tensor(indices, dtype=torch.long)
    return torch.stack([p for p, _ in kept]), torch.tensor([i for _, i in kept], dtype=torch.long)
