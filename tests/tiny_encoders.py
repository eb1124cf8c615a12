"""Tiny random-init image-text encoders saved in the on-disk layouts of real checkpoints, for encoder tests.

Each builder writes a folder that the production loaders read exactly like a downloaded model:

* :func:`build_tiny_open_clip`: open_clip's ``local-dir:`` layout (``open_clip_config.json`` with ``model_cfg`` and
  ``preprocess_cfg``, the format of hf-hub open_clip repos, plus ``open_clip_model.safetensors``) holding a CLIP
  with the built-in ViT image tower and CLIP text transformer.
* :func:`build_tiny_biomedclip`: the same layout, with BiomedCLIP's architecture family (timm ViT image tower, Hugging
  Face BERT text tower, WordPiece tokenizer, context length 256), shrunk.
* :func:`build_tiny_hf_clip`: a transformers ``CLIPModel`` or ``SiglipModel`` with its processor, saved with
  ``save_pretrained`` so that ``AutoModel`` / ``AutoProcessor`` load it back.

Tokenizers are trained on the fly with the ``tokenizers`` library, so nothing is fetched from the hub. Builds are
seeded: the same ``seed`` gives identical weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiny_vlms import CORPUS

OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = "open_clip_model.safetensors"
HF_CLIP_ARCHS: tuple[str, ...] = ("clip", "siglip")

# OpenAI CLIP's normalisation, which BiomedCLIP's open_clip_config.json also uses.
_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

TINY_OPEN_CLIP_CFG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def _save_open_clip_dir(out_dir: Path, model_cfg: dict[str, Any], seed: int) -> Path:
    """Write the config, create the model from the folder (random init: no weights yet), save its state dict."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": model_cfg, "preprocess_cfg": {"mean": _CLIP_MEAN, "std": _CLIP_STD}}
    (out_dir / OPEN_CLIP_CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    # pretrained_text=False: the HF text tower is built from its config only (there are no base weights to load).
    model = open_clip.create_model(f"local-dir:{out_dir}", pretrained_text=False)
    save_file({key: value.contiguous() for key, value in model.state_dict().items()}, str(out_dir / OPEN_CLIP_WEIGHTS))
    return out_dir


def build_tiny_open_clip(out_dir: Path, seed: int = 0) -> Path:
    """A ~1.7 M-parameter open_clip CLIP (ViT image tower 32 px, CLIP text transformer) in ``local-dir:`` layout.

    Most parameters are the 49,408-token embedding of open_clip's built-in BPE tokenizer (shipped in the package,
    so ``get_tokenizer`` works offline). Builds in well under a second.
    """
    return _save_open_clip_dir(Path(out_dir), json.loads(json.dumps(TINY_OPEN_CLIP_CFG)), seed)


def _train_wordpiece(vocab_size: int = 600) -> dict[str, int]:
    """A lower-cased BERT WordPiece vocabulary trained on the test corpus; [PAD] gets id 0 as in BERT."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok.get_vocab()


def build_tiny_biomedclip(out_dir: Path, seed: int = 0) -> Path:
    """A tiny model of BiomedCLIP's architecture, in the layout of its hub repo, loadable fully offline.

    ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224`` is an open_clip ``CustomTextCLIP``: a timm
    ``vit_base_patch16_224`` image tower (``timm_pool=""``, ``timm_proj="linear"``) and a Hugging Face BERT text tower
    (PubMedBERT, named by ``hf_model_name``/``hf_tokenizer_name``) with ``hf_proj_type="mlp"``,
    ``hf_pooler_type="cls_last_hidden_state_pooler"`` and ``context_length=256``; its repo holds
    ``open_clip_config.json``, the CLIP weights and the tokenizer files. This builder keeps every one of those
    choices and code paths (``TimmModel``, ``HFTextEncoder``, ``HFTokenizer``, ``load_checkpoint``) and shrinks the
    sizes:

    * image tower: timm's ``test_vit`` (the same ``VisionTransformer`` class, patch 16, class-token pooling, width 64,
      6 blocks, ``dynamic_img_size``) at 32 px; open_clip's config cannot resize a named timm model, and this is the
      smallest registered ViT;
    * text tower: a ``BertConfig`` of width 32, 2 layers, saved (config and tokenizer only, no weights) in
      ``out_dir/text_tower``, which ``hf_model_name`` names by absolute path where BiomedCLIP names the hub repo
      ``microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract``; it is initialised with std 0.2, not BERT's 0.02,
      with which a random 2-layer BERT's [CLS] output hardly depends on the text (cosine 1.0000 between any two);
    * tokenizer: a lower-cased WordPiece ``BertTokenizer`` trained on the fly, saved in ``out_dir`` itself, because
      open_clip's ``get_tokenizer`` reads a ``local-dir:`` model's tokenizer from that folder (as from the hub repo).

    With the CLIP checkpoint present, open_clip builds the BERT tower from its config (``hf_model_pretrained`` is
    forced off when full weights exist, whatever ``pretrained_text`` says), so loading needs no BERT weights and no
    network: the folder loads with plain ``create_model_and_transforms("local-dir:<out_dir>")``.
    """
    from transformers import BertConfig, BertTokenizer

    out_dir = Path(out_dir)
    text_dir = out_dir / "text_tower"
    text_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab=_train_wordpiece(), do_lower_case=True, model_max_length=256)
    BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=0.2,
    ).save_pretrained(text_dir)
    tokenizer.save_pretrained(text_dir)
    tokenizer.save_pretrained(out_dir)
    model_cfg = {
        "embed_dim": 32,
        "vision_cfg": {
            "timm_model_name": "test_vit",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 32,
        },
        "text_cfg": {
            "hf_model_name": str(text_dir.resolve()),
            "hf_tokenizer_name": str(text_dir.resolve()),
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 256,
        },
    }
    return _save_open_clip_dir(out_dir, model_cfg, seed)


def _train_clip_bpe(vocab_size: int = 700) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocab and merges of a BPE trained with CLIP's normaliser, pre-tokeniser and ``</w>`` word suffix."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", continuing_subword_prefix=""))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(
                    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
                ),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    vocab = tok.get_vocab()
    # Every byte must also exist as a word-final symbol, or a word ending in an unseen byte would be unknown.
    for char in sorted(alphabet):
        vocab.setdefault(f"{char}</w>", len(vocab))
    merges = [tuple(pair) for pair in json.loads(tok.to_str())["model"]["merges"]]
    return vocab, merges


def _clip(out_dir: Path) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab, merges = _train_clip_bpe()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        projection_dim=32,
    )
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPModel(config).save_pretrained(out_dir)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out_dir)


def _siglip(out_dir: Path) -> None:
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    from tiny_vlms import build_tokenizer

    # SigLIP's own tokenizer is SentencePiece (not installed here); any fast tokenizer with a pad token and a
    # model_max_length equal to the text tower's positions supports its padding="max_length" text inputs.
    tokenizer = build_tokenizer(["<pad>", "</s>", "<unk>"], eos="</s>", pad="<pad>", unk="<unk>")
    tokenizer.padding_side = "right"
    tokenizer.model_max_length = 16
    config = SiglipConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": None,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
    )
    image_processor = SiglipImageProcessor(size={"height": 32, "width": 32})
    SiglipModel(config).save_pretrained(out_dir)
    SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out_dir)


def build_tiny_hf_clip(out_dir: Path, arch: str, seed: int = 0) -> Path:
    """A tiny transformers dual encoder (``arch`` ``clip`` or ``siglip``) with its processor, via ``save_pretrained``.

    CLIP gets a real ``CLIPTokenizer`` (byte-level BPE with ``</w>`` word ends) built from a vocabulary trained on the
    fly; SigLIP a fast BPE tokenizer padded on the right to ``model_max_length`` 16, its text tower's length.
    Both use 32 px images and 32-d embeddings.
    """
    import torch

    builders = {"clip": _clip, "siglip": _siglip}
    if arch not in builders:
        raise ValueError(f"unknown tiny dual-encoder architecture {arch!r}; choose one of {', '.join(HF_CLIP_ARCHS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    builders[arch](out_dir)
    return out_dir
