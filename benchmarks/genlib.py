"""Shared by bench_generate.py (CPU) and gpu_generate.py (GPU): random-weight VLMs built from config in memory, the
four generator settings compared, and one timed run.

Models are built from config (no download): LLaVA-1.5 (CLIP vision + Llama/Mistral text) and Qwen2.5-VL, with the
byte-level BPE tokenizer and chat templates of ``tests/tiny_vlms.py``. The tokenizer is tiny (700 pieces), but the
embedding and LM head have the real vocabulary size, so compute per token is that of the real architecture.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from mmedrag.generation.hf import HFGenerator  # noqa: E402
from mmedrag.types import Generation, Prompt  # noqa: E402

# name -> HFGenerator options; each adds one technique to the previous row ("plain batching" is the path before
# issue 16: no sharing, input order, every image processed per prompt, a growing KV cache).
SETTINGS: dict[str, dict[str, Any]] = {
    "plain batching": {"share_prefix": False, "sort_window": 1, "closed_answer": "generate"}
    | {"prefill_batch": 1, "image_cache": 0, "decode_cache": "dynamic"},
    "+ length sort": {"sort_window": 256},
    "+ prefix sharing": {"share_prefix": True},  # one batch-1 prefill per group (issue 16)
    "+ batched prefills": {"prefill_batch": 16},  # issue 24: a few padded prefix forwards per batch
    "+ image cache": {"image_cache": 64},  # issue 24: each image processed once
    "+ compiled decode": {"decode_cache": "compiled"},  # issue 24: static KV cache (+ torch.compile on CUDA)
    "+ one-pass closed": {"closed_answer": "first_token"},
}
# Settings outside the cumulative ladder: plain batching with only the decode changed.
EXTRA_SETTINGS: dict[str, dict[str, Any]] = {"plain + compiled decode": {"decode_cache": "compiled"}}


def options(setting: str) -> dict[str, Any]:
    """The full HFGenerator options of a setting: every row of :data:`SETTINGS` up to it, or an extra setting."""
    merged: dict[str, Any] = {}
    if setting in EXTRA_SETTINGS:
        return {**SETTINGS["plain batching"], **EXTRA_SETTINGS[setting]}
    for name, change in SETTINGS.items():
        merged |= change
        if name == setting:
            return merged
    raise KeyError(setting)


def build_llava(text: dict[str, Any], vision: dict[str, Any], vocab_size: int | None = None) -> tuple[Any, Any]:
    """A random-weight LLaVA-1.5-style model (``text``: Llama/Mistral config fields) and its processor."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    from tiny_vlms import LLAVA_TEMPLATE, build_tokenizer

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tok = build_tokenizer(specials, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", add_bos=True)
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    config = LlavaConfig(
        text_config={
            "vocab_size": vocab_size or len(tok),
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
            **text,
        },
        vision_config={"model_type": "clip_vision_model", "patch_size": 14, **vision},
        image_token_id=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    size = vision["image_size"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    return model, processor


def build_qwen2_5_vl(
    text: dict[str, Any], vision: dict[str, Any], pixels: int, vocab_size: int | None = None
) -> tuple[Any, Any]:
    """A random-weight Qwen2.5-VL model and its processor; images are resized to about ``pixels`` pixels."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    from tiny_vlms import QWEN2_5_VL_TEMPLATE, build_tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>"]
    specials += ["<|image_pad|>", "<|video_pad|>"]
    tok = build_tokenizer(specials, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN2_5_VL_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size or len(tok),
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
            **text,
        },
        vision_config={"patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, **vision},
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    limits = {"min_pixels": pixels, "max_pixels": pixels}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**limits),
        video_processor=Qwen2VLVideoProcessor(**limits),
        tokenizer=tok,
        chat_template=QWEN2_5_VL_TEMPLATE,
    )
    return model, processor


@dataclass
class Measured:
    """One timed run of a generator setting over a prompt set."""

    seconds: float
    questions: int
    prefill_tokens_per_question: float
    padding_fraction: float
    generations: list[Generation]

    @property
    def per_second(self) -> float:
        return self.questions / self.seconds


def timed_run(generator: HFGenerator, prompts: Sequence[Prompt], sync: Any = None) -> Measured:
    """Answer ``prompts`` once and time it (``sync``: called before reading the clock, e.g. cuda.synchronize)."""
    if sync is not None:
        sync()
    started = time.perf_counter()
    generations = generator.generate(prompts)
    if sync is not None:
        sync()
    seconds = time.perf_counter() - started
    prefill = sum(g.meta["prefill_tokens_per_question"] for g in generations) / len(generations)
    padding = sum(g.meta["padding_fraction"] for g in generations) / len(generations)
    return Measured(seconds, len(prompts), prefill, padding, generations)


def configure(generator: HFGenerator, setting: str, batch_size: int) -> HFGenerator:
    """Switch ``generator`` (one loaded model) to a named setting of :data:`SETTINGS` or :data:`EXTRA_SETTINGS`."""
    from mmedrag.generation import fast_paths, image_cache

    for key, value in options(setting).items():
        if key == "decode_cache":
            model_type, device = generator.model.config.model_type, generator.device.type
            granted = fast_paths.plan(model_type, "", 1, 0, value, device)
            generator.decode_cache = granted.decode_cache
            generator.fallbacks.pop("decode", None)
            generator.fallbacks.update(granted.fallbacks)
        elif key == "image_cache":
            current = generator.processor.image_processor
            if isinstance(current, image_cache.CachedImageProcessor):
                generator.processor.image_processor = current._inner
            generator.image_cache = image_cache.install(generator.processor, value)
        else:
            setattr(generator, key, value)
    generator.batch_size = batch_size
    return generator


def instrument(generator: HFGenerator, totals: dict[str, float], sync: Any) -> None:
    """Wrap the generator's phases so that each call adds its wall time (``sync``-ed) to ``totals[phase]``:
    processor (tokenising, image processing, copies to the device), prefix prefill, cache expansion (into the static
    cache when decoding from one), static cache allocation or reuse, and ``generate`` itself (prefill of the
    uncached chunk plus every decode step)."""
    from mmedrag.generation import prefix_cache, static_decode

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sync()
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                sync()
                totals[name] += time.perf_counter() - started

        wrapper.__wrapped_phase__ = function  # type: ignore[attr-defined]
        return wrapper

    generator._encode = timed("processor", generator._encode)  # type: ignore[method-assign]
    generator.model.generate = timed("generate", generator.model.generate)
    prefix_cache.prefill = timed("prefix prefill", _original(prefix_cache.prefill))
    prefix_cache.expand = timed("expand cache", _original(prefix_cache.expand))
    prefix_cache.plan_layout = timed("plan layout", _original(prefix_cache.plan_layout))
    caches = static_decode.StaticCaches
    caches.ensure = timed("static cache", _original(caches.ensure))  # type: ignore[method-assign]


def _original(function: Any) -> Any:
    """The function under any earlier timing wrapper (instrumenting twice must not count twice)."""
    while hasattr(function, "__wrapped_phase__"):
        function = function.__wrapped_phase__
    return function


def decode_step_ms(generator: HFGenerator, prompts: Sequence[Prompt], steps: int, sync: Any) -> dict[str, float]:
    """Milliseconds per decode step for one batch of ``prompts`` (no prefix sharing), from one ``generate`` call of
    ``steps`` new tokens: a clock read (``sync``-ed) after every token, the median gap between two reads (so that the
    first steps' CUDA-graph recording does not count); plus the prefill (prompt to first token) and the batch's
    prompt width."""
    import statistics

    from transformers import StoppingCriteria, StoppingCriteriaList

    class Clock(StoppingCriteria):  # type: ignore[misc]
        def __init__(self) -> None:
            self.reads: list[float] = []

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            sync()
            self.reads.append(time.perf_counter())
            return input_ids.new_zeros(input_ids.shape[0], dtype=bool)  # never stops a row

    rows = list(prompts)
    inputs = generator._encode([generator._render(p) for p in rows], rows)
    clock, generate = Clock(), generator.model.generate
    generator.model.generate = functools.partial(generate, stopping_criteria=StoppingCriteriaList([clock]))
    if generator._rope_holder is not None:
        generator._rope_holder.rope_deltas = None
    try:
        sync()
        started = time.perf_counter()
        generator._generate(inputs, steps, False, False)
    finally:
        generator.model.generate = generate
    gaps = [later - earlier for earlier, later in zip(clock.reads, clock.reads[1:], strict=False)]
    return {
        "ms_per_step": 1000 * statistics.median(gaps),
        "prefill_ms": 1000 * (clock.reads[0] - started),
        "width": float(inputs["input_ids"].shape[1]),
    }


# Peak memory bandwidth (GB/s) by device name, from the vendors' data sheets (SXM parts unless named).
BANDWIDTH_GBS = {"H200": 4800.0, "H100 PCIe": 2000.0, "H100 NVL": 3900.0, "H100": 3350.0, "A100": 2039.0}


def bandwidth_gbs(device_name: str) -> float | None:
    """The data-sheet bandwidth of a device name, or None when unknown."""
    return next((gbs for key, gbs in BANDWIDTH_GBS.items() if key in device_name), None)


def decode_bound_ms(model: Any, batch: int, context: float, gbs: float) -> float:
    """Milliseconds one decode step needs at ``gbs`` GB/s to read the language model's weights once and every row's
    KV cache of ``context`` tokens (the vision tower is not read while decoding)."""
    text = model.config.get_text_config(decoder=True)
    weights = sum(
        p.numel() * p.element_size()
        for name, p in model.named_parameters()
        if not any(part in name for part in ("vision_tower", "visual", "multi_modal_projector", "vision_model"))
    )
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    element = next(model.parameters()).element_size()
    cache = batch * context * text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * element
    return 1000 * (weights + cache) / (gbs * 1e9)


def truncate_tokens(generator: HFGenerator, text: str, tokens: int) -> str:
    """The first ``tokens`` tokens of ``text`` (repeated until long enough) under the generator's tokenizer."""
    pieces: list[int] = []
    while len(pieces) < tokens:
        pieces += generator.tokenizer(text + " ", add_special_tokens=False)["input_ids"]
    return str(generator.tokenizer.decode(pieces[:tokens]))
