"""Tiny random-init vision-language models built from config, for tests that need a real transformers code path.

Each builder trains a byte-level BPE tokenizer on a small corpus, writes a chat template in the shape of the real
checkpoint's (MedGemma/Gemma3, Qwen2.5-VL, llava-hf LLaVA-1.5) and saves model + processor with ``save_pretrained``,
so that ``AutoProcessor`` / ``AutoModelForImageTextToText`` load them back exactly like a downloaded checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ARCHS: tuple[str, ...] = ("gemma3", "qwen2_5_vl", "llava")

_SENTENCES = (
    "You are a professional radiologist. You are given a radiology image.",
    "Answer the question based on the image, choosing one of two options: yes or no.",
    "Answer the question based on the image, briefly and precisely.",
    "Write the report for this image. Include only the content of the report in your response.",
    "The reference reports describe other patients' images. Use them only for reference and comparison; "
    "they must not be taken as the basis of the diagnosis for this image.",
    "Question: Is there a pleural effusion? Is the heart enlarged? Are the lungs clear? Where is the lesion?",
    "Yes. No. yes no Yes No YES NO. Yes, there is. No, there is not.",
    "No acute cardiopulmonary abnormality. Heart size is normal; lungs are clear.",
    "Right lower lobe consolidation concerning for pneumonia. Small left pleural effusion.",
    "The cardiomediastinal silhouette is within normal limits. No pneumothorax. Degenerative changes of the spine.",
    "CT of the abdomen shows a hypodense lesion in the liver. MRI of the brain shows no mass.",
    "You are a helpful assistant.",
    "user model system assistant USER: ASSISTANT:",
)
CORPUS: tuple[str, ...] = tuple(s for s in _SENTENCES for _ in range(3)) + tuple(" ".join(_SENTENCES).split())

# Jinja whitespace control (`{%- -%}`) eats literal newlines, so every newline is emitted as a string expression.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- else -%}{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}{{ message['content'] | trim }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<end_of_turn>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)

QWEN2_5_VL_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)

# llava-hf/llava-1.5 style: "USER: <image>\n<text> ASSISTANT:"; images first, then text, as the hub template does.
LLAVA_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] != 'system' -%}{{ message['role'].upper() + ': ' }}{%- endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] + ' ' }}"
    "{%- else -%}"
    "{%- for item in message['content'] | selectattr('type', 'equalto', 'image') -%}{{ '<image>\n' }}{%- endfor -%}"
    "{%- for item in message['content'] | selectattr('type', 'equalto', 'text') -%}{{ item['text'] + ' ' }}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"
)


def build_tokenizer(
    special_tokens: Sequence[str],
    *,
    bos: str | None = None,
    eos: str | None = None,
    pad: str | None = None,
    unk: str | None = None,
    add_bos: bool = False,
    chat_template: str | None = None,
    extra_special_tokens: dict[str, str] | None = None,
    vocab_size: int = 700,
) -> Any:
    """A byte-level BPE tokenizer trained on :data:`CORPUS` (any text round-trips), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    byte_level = processors.ByteLevel(trim_offsets=False)
    if add_bos and bos is not None:
        # Gemma and Llama tokenizers prepend BOS themselves; the generator must not add a second one.
        bos_id = tok.token_to_id(bos)
        template = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, bos_id)]
        )
        tok.post_processor = processors.Sequence([byte_level, template])
    else:
        tok.post_processor = byte_level
    kwargs: dict[str, Any] = {"extra_special_tokens": extra_special_tokens} if extra_special_tokens else {}
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk, padding_side="left", **kwargs
    )
    if chat_template:
        hf.chat_template = chat_template
    return hf


def _build_gemma3(out_dir: Path) -> None:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    image_specials = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tok = build_tokenizer(
        specials + list(image_specials.values()),
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        unk="<unk>",
        add_bos=True,
        chat_template=GEMMA3_TEMPLATE,
        extra_special_tokens=image_specials,
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials + list(image_specials.values())}
    eos_ids = [ids["<eos>"], ids["<end_of_turn>"]]
    config = Gemma3Config(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            # One sliding and one global layer, like MedGemma's 5:1 pattern; a short window so tests cross it.
            "sliding_window": 32,
            "layer_types": ["sliding_attention", "full_attention"],
            "bos_token_id": ids["<bos>"],
            "eos_token_id": eos_ids,
            "pad_token_id": ids["<pad>"],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 56,
            "patch_size": 14,
            "vision_use_head": False,
        },
        mm_tokens_per_image=4,
        boi_token_id=ids["<start_of_image>"],
        eoi_token_id=ids["<end_of_image>"],
        image_token_id=ids["<image_soft_token>"],
    )
    model = Gemma3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = eos_ids
    model.generation_config.pad_token_id = ids["<pad>"]
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": 56, "width": 56}),
        tokenizer=tok,
        chat_template=GEMMA3_TEMPLATE,
        image_seq_length=4,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


def _build_qwen2_5_vl(out_dir: Path) -> None:
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tok = build_tokenizer(specials, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN2_5_VL_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 48,
            "intermediate_size": 96,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            # sum(mrope_section) must be head_dim / 2 (head_dim 12 here).
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 2, 2], "rope_theta": 1e4},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 4,
            "out_hidden_size": 48,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "fullatt_block_indexes": [1],
            "window_size": 56,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112}
    processor = Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**pixels),
        tokenizer=tok,
        chat_template=QWEN2_5_VL_TEMPLATE,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


def _build_llava(out_dir: Path) -> None:
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tok = build_tokenizer(specials, bos="<s>", eos="</s>", pad="<pad>", unk="<unk>", add_bos=True)
    ids = {t: tok.convert_tokens_to_ids(t) for t in specials}
    config = LlavaConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 4,
            "bos_token_id": ids["<s>"],
            "eos_token_id": ids["</s>"],
            "pad_token_id": ids["<pad>"],
        },
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 28,
            "patch_size": 14,
            "projection_dim": 32,
        },
        image_token_id=ids["<image>"],
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token, dropped by the "default" strategy
        chat_template=LLAVA_TEMPLATE,
    )
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "gemma3": _build_gemma3,
    "qwen2_5_vl": _build_qwen2_5_vl,
    "llava": _build_llava,
}


def build_tiny_vlm(arch: str, out_dir: Path, seed: int = 0) -> Path:
    """Build a tiny random-init VLM of ``arch`` and save model, processor and chat template to ``out_dir``.

    Args:
        arch: one of :data:`ARCHS` (``gemma3`` is MedGemma's architecture).
        out_dir: folder to write; created if missing.
        seed: torch seed for the random weights, so that two builds are identical.

    Returns:
        ``out_dir``, loadable with ``AutoProcessor`` and ``AutoModelForImageTextToText``.
    """
    import torch

    if arch not in _BUILDERS:
        raise ValueError(f"unknown tiny VLM architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    _BUILDERS[arch](out_dir)
    return out_dir
