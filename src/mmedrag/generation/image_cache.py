"""Processed images kept per image: the questions about one image (IU-Xray: 4.4 per image; a shared prefix's leader
and its rows) resize and normalise it once, in this batch and in later ones; the next batch's images are processed
on a worker thread while the current batch runs, so the accelerator does not wait for the CPU.

The cache wraps the processor's image processor. transformers' processors hand it the batch's images in one call and
only read the per-image tensors back (pixel values, grid sizes, crop counts), so running it image by image and
concatenating along the first axis gives the batch call's output: each image is resized and normalised on its own.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mmedrag.generation.batching import image_bytes_digest


class CachedImageProcessor:
    """An image processor that processes each distinct image once and keeps the ``capacity`` most recent results;
    :meth:`prefetch` processes the next batch's images on a worker thread while the current batch runs.

    Args:
        inner: the processor's own image processor (every attribute but the call passes through to it).
        capacity: processed images kept, least recently used dropped first.
    """

    def __init__(self, inner: Any, capacity: int) -> None:
        self._inner = inner
        self._capacity = capacity
        self._kept: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._pending: dict[tuple[str, str], Future[Any]] = {}
        self._last: tuple[str, dict[str, Any]] | None = None  # options of the last call: what a prefetch uses
        self._worker: ThreadPoolExecutor | None = None
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __call__(self, images: Any, **kwargs: Any) -> Any:
        import torch
        from transformers import BatchFeature

        flat = _flatten(images)
        options = repr(sorted(kwargs.items()))
        self._last = (options, kwargs)
        parts = [self._one(image, options, kwargs) for image in flat]
        merged: dict[str, Any] = {}
        for key in parts[0]:
            values = [part[key] for part in parts]
            if isinstance(values[0], torch.Tensor):
                merged[key] = torch.cat(values, dim=0)
            else:
                merged[key] = [item for value in values for item in value]
        return BatchFeature(merged)

    def prefetch(self, images: Sequence[Any]) -> None:
        """Start processing ``images`` on a worker thread, with the options of the last call (none before it)."""
        if self._last is None:
            return
        options, kwargs = self._last
        for image in images:
            key = (image_bytes_digest(image), options)
            if key not in self._kept and key not in self._pending:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmedrag-images")
                self._pending[key] = self._worker.submit(self._process, image, kwargs)

    def _process(self, image: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        return dict(self._inner([image], **{**kwargs, "return_tensors": "pt"}))

    def _one(self, image: Any, options: str, kwargs: dict[str, Any]) -> Any:
        key = (image_bytes_digest(image), options)
        if key in self._kept:
            self.hits += 1
            self._kept.move_to_end(key)
            return self._kept[key]
        pending = self._pending.pop(key, None)
        if pending is not None:
            self.hits += 1
            processed = pending.result()
        else:
            self.misses += 1
            processed = self._process(image, kwargs)
        self._kept[key] = processed
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
        return processed


def _flatten(images: Any) -> list[Any]:
    """The images of a processor call (one image, a list, or a list of lists per prompt) in order."""
    if not isinstance(images, list | tuple):
        return [images]
    return [image for item in images for image in _flatten(item)]


def install(processor: Any, capacity: int) -> CachedImageProcessor | None:
    """Wrap ``processor.image_processor`` in a cache of ``capacity`` images (None: no image processor, or 0)."""
    inner = getattr(processor, "image_processor", None)
    if capacity < 1 or inner is None:
        return None
    if isinstance(inner, CachedImageProcessor):
        return inner
    cached = CachedImageProcessor(inner, capacity)
    processor.image_processor = cached
    return cached
