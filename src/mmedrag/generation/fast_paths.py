"""Which of the transformers generator's fast paths a model gets: only those proven to answer like the plain path on
its architecture (greedy tokens identical, P(yes) within 1e-6; ``tests/integration/test_hf_fast_paths.py``); every
other request falls back to the plain path with its reason, which the trace carries (``meta["fallback"]``)."""

from __future__ import annotations

from dataclasses import dataclass, field

DECODE_CACHES = ("dynamic", "static", "compiled")
# model_type of the checkpoints covered by the equality tests (tiny Gemma3 = MedGemma, Qwen2.5-VL, LLaVA).
PROVEN_MODEL_TYPES = frozenset({"gemma3", "qwen2_5_vl", "llava"})
# Processors whose image processor may run image by image (image_cache): their outputs concatenate along axis 0.
PROVEN_PROCESSORS = frozenset({"Gemma3Processor", "Qwen2_5_VLProcessor", "LlavaProcessor"})


@dataclass(frozen=True)
class FastPaths:
    """The paths granted: prefix groups per prefill forward, images kept processed, the decode cache, and why any
    request was refused (path -> reason)."""

    prefill_batch: int
    image_cache: int
    decode_cache: str
    fallbacks: dict[str, str] = field(default_factory=dict)


def plan(
    model_type: str, processor: str, prefill_batch: int, image_cache: int, decode_cache: str, device: str
) -> FastPaths:
    """The fast paths for a model of ``model_type`` with a ``processor`` (class name) on a ``device`` type."""
    fallbacks = {}
    proven = model_type in PROVEN_MODEL_TYPES
    if prefill_batch > 1 and not proven:
        fallbacks["prefill"] = f"batched prefills not proven for model type {model_type}: one prefill per group"
        prefill_batch = 1
    if image_cache > 0 and processor not in PROVEN_PROCESSORS:
        fallbacks["image_cache"] = f"image cache not proven for {processor}: every prompt's images processed"
        image_cache = 0
    if decode_cache != "dynamic" and not proven:
        fallbacks["decode"] = f"{decode_cache} cache not proven for model type {model_type}: decoded dynamically"
        decode_cache = "dynamic"
    elif decode_cache == "compiled" and device != "cuda":
        fallbacks["decode"] = f"compiled decode needs CUDA (device {device}): static cache decoded eagerly"
        decode_cache = "static"
    return FastPaths(prefill_batch, image_cache, decode_cache, fallbacks)
