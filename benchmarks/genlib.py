"""Shared by bench_generate.py (CPU) and gpu_generate.py (GPU): random-weight VLMs built from config in memory, the
four generator settings compared, and one timed run.

Models are built from config (no download): LLaVA-1.5 (CLIP vision + Llama/Mistral text) and Qwen2.5-VL, with the
byte-level BPE tokenizer and chat templates of ``tests/tiny_vlms.py``. The tokenizer is tiny (700 pieces), but the
embedding and LM head have the real vocabulary size, so compute per token is that of the real architecture.
"""

from __future__ import annotations

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

# name -> HFGenerator options; each adds one technique to the previous row.
SETTINGS: dict[str, dict[str, Any]] = {
    "plain batching": {"share_prefix": False, "sort_window": 1, "closed_answer": "generate"},
    "+ length sort": {"share_prefix": False, "sort_window": 256, "closed_answer": "generate"},
    "+ prefix sharing": {"share_prefix": True, "sort_window": 256, "closed_answer": "generate"},
    "+ one-pass closed": {"share_prefix": True, "sort_window": 256, "closed_answer": "first_token"},
}


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
    """Switch ``generator`` (one loaded model) to a named setting of :data:`SETTINGS`."""
    for key, value in SETTINGS[setting].items():
        setattr(generator, key, value)
    generator.batch_size = batch_size
    return generator


def truncate_tokens(generator: HFGenerator, text: str, tokens: int) -> str:
    """The first ``tokens`` tokens of ``text`` (repeated until long enough) under the generator's tokenizer."""
    pieces: list[int] = []
    while len(pieces) < tokens:
        pieces += generator.tokenizer(text + " ", add_special_tokens=False)["input_ids"]
    return str(generator.tokenizer.decode(pieces[:tokens]))
