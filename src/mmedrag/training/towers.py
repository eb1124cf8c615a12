"""The dual encoders the retriever trainer can fine-tune: open_clip models, transformers CLIP/SigLIP, and the offline
tower (a small CNN aligned to a frozen sentence encoder). Each knows how to preprocess, encode, freeze and save
itself in the folder format that its :mod:`mmedrag.encoders` class loads."""

from __future__ import annotations

import copy
import hashlib
import math
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from mmedrag._optional import require
from mmedrag.backends import ENCODERS, TOWERS
from mmedrag.errors import ConfigError
from mmedrag.io.atomic import atomic_write_json
from mmedrag.training.contrastive import random_crop

OPEN_CLIP_CONFIG, OPEN_CLIP_WEIGHTS = "open_clip_config.json", "open_clip_model.safetensors"


def _short(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


class DualTowers(ABC):
    """What the trainer needs from a family of dual encoders.

    ``model`` holds every weight (its state dict is what checkpoints store); :meth:`tower_of` says which tower a
    parameter belongs to, so either tower can be frozen.
    """

    family: str
    description: str
    model: Any  # an nn.Module; typed Any because each family reaches into its own submodules
    image_size: int
    default_lr: float
    text_trainable = True
    device = "cpu"

    @property
    def logit_scale(self) -> nn.Parameter:
        scale: nn.Parameter = self.model.logit_scale
        return scale

    @abstractmethod
    def tower_of(self, name: str) -> str | None:
        """``"image"``, ``"text"``, ``"scale"`` (the temperature) or None (left frozen) for a parameter name."""

    @abstractmethod
    def train_transform(self, image: Image.Image) -> torch.Tensor: ...

    @abstractmethod
    def eval_transform(self, image: Image.Image) -> torch.Tensor:
        """Exactly the preprocessing of the matching encoder class, so held-out recall is what an index will see."""

    @abstractmethod
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def encode_texts(self, texts: list[str]) -> torch.Tensor: ...

    @abstractmethod
    def save(self, folder: Path, final_dir: Path, training: dict[str, Any]) -> dict[str, Any]:
        """Write the final model into ``folder`` (moved to ``final_dir`` afterwards); return the spec that loads it."""

    def to(self, device: str) -> None:
        self.device = device
        self.model.to(device)

    def signature(self) -> str:
        """A digest of the parameter names and shapes: two bases with the same one can share checkpoints."""
        digest = hashlib.sha256(self.family.encode())
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        return digest.hexdigest()[:16]

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


class OpenClipTowers(DualTowers):
    """An open_clip model: a built-in name (random init unless ``pretrained``), ``hf-hub:`` or a local folder."""

    family = "open_clip"

    def __init__(self, model: str, pretrained: str | None = None) -> None:
        open_clip = require("open_clip", "openclip")
        from mmedrag.encoders.open_clip import resolve_model_name

        self.model_name = resolve_model_name(model)
        random_init = self._is_random_init(pretrained)
        try:
            self.model_cfg = copy.deepcopy(open_clip.get_model_config(self.model_name))
            if self.model_cfg is None:
                raise ValueError(f"unknown model name (built-in names: {', '.join(open_clip.list_models()[:5])} ...)")
            options = {"pretrained_text": False} if random_init else {}
            self.model, self._train, self._eval = open_clip.create_model_and_transforms(
                self.model_name, pretrained=pretrained, **options
            )
            self.tokenizer = open_clip.get_tokenizer(self.model_name)
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            hint = (
                "where the hub is unreachable, download the repo elsewhere and pass its local folder"
                if self.model_name.startswith("hf-hub:")
                else f"check the name, the folder's {OPEN_CLIP_CONFIG} and that its weights match that config"
            )
            raise ConfigError(f"cannot load open_clip base {model!r}: {hint} ({_short(exc)})") from exc
        if random_init:
            warnings.warn(
                f"open_clip base {model!r} has no pretrained weights: training from random init", stacklevel=3
            )
        size = self.model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, tuple | list) else size)
        # Fine-tuning a pretrained CLIP wants a small LR; a random init can take a much larger one.
        self.default_lr = 5e-4 if random_init else 1e-5
        self.description = f"open_clip {Path(self.model_name).name} ({self.parameter_count() / 1e6:.1f} M params)"

    def _is_random_init(self, pretrained: str | None) -> bool:
        if self.model_name.startswith("local-dir:"):
            folder = Path(self.model_name.removeprefix("local-dir:"))
            return (
                not any(folder.glob("*.safetensors"))
                and not any(folder.glob("*.bin"))
                and not any(folder.glob("*.pt*"))
            )
        return not self.model_name.startswith("hf-hub:") and not pretrained

    def tower_of(self, name: str) -> str | None:
        if name == "logit_scale":
            return "scale"
        if name == "logit_bias":
            return None  # SigLIP's bias is unused by InfoNCE
        return "image" if name.startswith("visual.") else "text"

    def train_transform(self, image: Image.Image) -> torch.Tensor:
        return self._train(image)  # open_clip's own: RandomResizedCrop(scale 0.9-1), no flips

    def eval_transform(self, image: Image.Image) -> torch.Tensor:
        return self._eval(image)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))

    def save(self, folder: Path, final_dir: Path, training: dict[str, Any]) -> dict[str, Any]:
        safetensors = require("safetensors.torch", "torch")
        config = copy.deepcopy(self.model_cfg)
        text_cfg = config.get("text_cfg", {})
        if "hf_model_name" in text_cfg:
            # An HF text tower (BiomedCLIP's PubMedBERT) is rebuilt from its config: store it and the tokenizer here
            # so the folder loads offline instead of fetching them from the hub again (offline.md §4).
            self.model.text.config.save_pretrained(folder)
            text_cfg["hf_model_name"] = text_cfg["hf_tokenizer_name"] = str(final_dir)
        if "hf_tokenizer_name" in text_cfg:
            self.tokenizer.save_pretrained(str(folder))  # open_clip reads local-dir tokenizers from the folder
        preprocess = dict(getattr(self.model.visual, "preprocess_cfg", {}))
        state = {k: v.detach().cpu().clone().contiguous() for k, v in self.model.state_dict().items()}
        safetensors.save_file(state, str(folder / OPEN_CLIP_WEIGHTS))
        atomic_write_json(folder / OPEN_CLIP_CONFIG, {"model_cfg": config, "preprocess_cfg": preprocess})
        return {"kind": "open_clip", "model": str(final_dir)}


class HFClipTowers(DualTowers):
    """A transformers CLIP-style checkpoint (``save_pretrained`` folder, or a hub id where the hub is reachable)."""

    family = "hf_clip"
    default_lr = 1e-5

    def __init__(self, model: str) -> None:
        transformers = require("transformers", "hf")
        try:
            self.model = transformers.AutoModel.from_pretrained(model, dtype=torch.float32)
            self.processor = transformers.AutoProcessor.from_pretrained(model)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"cannot load CLIP/SigLIP base {model!r}: pass a folder saved with save_pretrained ({_short(exc)})"
            ) from exc
        if not hasattr(self.model, "get_image_features") or not hasattr(self.model, "get_text_features"):
            raise ConfigError(f"{model!r} is a {type(self.model).__name__}, not a CLIP-style dual encoder")
        self._padding: str | bool = "max_length" if "siglip" in self.model.config.model_type else True
        size = getattr(self.processor.image_processor, "crop_size", None) or self.processor.image_processor.size
        self.image_size = int(size.get("height") or size.get("shortest_edge"))
        self.description = f"hf {type(self.model).__name__} ({self.parameter_count() / 1e6:.1f} M params)"

    def tower_of(self, name: str) -> str | None:
        if name == "logit_scale":
            return "scale"
        if name.startswith(("vision_model.", "visual_projection.")):
            return "image"
        if name.startswith(("text_model.", "text_projection.")):
            return "text"
        return None

    def _pixels(self, image: Image.Image) -> torch.Tensor:
        pixels: torch.Tensor = self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"][0]
        return pixels

    def train_transform(self, image: Image.Image) -> torch.Tensor:
        return self._pixels(random_crop(image, 0.8))  # the processor has no augmentation of its own

    def eval_transform(self, image: Image.Image) -> torch.Tensor:
        return self._pixels(image)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        from mmedrag.encoders.hf_clip import pooled_features

        features: torch.Tensor = pooled_features(self.model.get_image_features(pixel_values=pixels))
        return features

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        from mmedrag.encoders.hf_clip import pooled_features

        inputs = self.processor(text=texts, padding=self._padding, truncation=True, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in inputs.items() if k in {"input_ids", "attention_mask"}}
        features: torch.Tensor = pooled_features(self.model.get_text_features(**tokens))
        return features

    def save(self, folder: Path, final_dir: Path, training: dict[str, Any]) -> dict[str, Any]:
        self.model.save_pretrained(folder)
        self.processor.save_pretrained(folder)
        return {"kind": "hf_clip", "model": str(final_dir)}


class _TowerModel(nn.Module):
    def __init__(self, image: nn.Module) -> None:
        super().__init__()
        self.image = image
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature


class OfflineTowers(DualTowers):
    """The offline default: a :class:`~mmedrag.encoders.cnn.SmallCNN` image tower (new, or an existing tower folder
    to continue) aligned to a frozen sentence encoder, MiniLM unless told otherwise."""

    family = "tower"
    text_trainable = False  # the sentence encoder's vectors are the shared space; an index's text vectors stay valid
    default_lr = 2e-3  # a from-scratch CNN (tower.py's setting, which trains in minutes on two cores)

    def __init__(
        self, path: str | None = None, text_encoder: str | dict[str, Any] = "minilm", image_size: int = 128
    ) -> None:
        safetensors = require("safetensors.torch", "torch")
        from mmedrag.encoders import create_encoder
        from mmedrag.encoders.cnn import CNNConfig, SmallCNN
        from mmedrag.encoders.tower import TOWER_WEIGHTS, TowerEncoder

        state = None
        if path is not None:
            existing = TowerEncoder(path, device="cpu")  # validates the folder, its weights and its text encoder
            self.text = existing.text_encoder
            cnn_config = CNNConfig.from_dict(existing.config["image_tower"])
            state = safetensors.load_file(str(Path(path).expanduser() / TOWER_WEIGHTS))
        else:
            self.text = create_encoder(text_encoder, device="cpu")
            if "text" not in self.text.modalities:
                raise ConfigError(f"tower text encoder {self.text.name} cannot encode text")
            cnn_config = CNNConfig(dim=self.text.dim, image_size=image_size)
        self.config = cnn_config
        self.model = _TowerModel(SmallCNN(cnn_config))
        if state is not None:
            self.model.image.load_state_dict(state)
        self.image_size = cnn_config.image_size
        self.description = f"tower SmallCNN({cnn_config.image_size} px, {cnn_config.dim}-d) + {self.text.name} (frozen)"

    def tower_of(self, name: str) -> str | None:
        return "scale" if name == "logit_scale" else "image"

    def train_transform(self, image: Image.Image) -> torch.Tensor:
        from mmedrag.encoders.cnn import to_tensor

        return to_tensor(random_crop(image, 0.7), self.image_size)

    def eval_transform(self, image: Image.Image) -> torch.Tensor:
        from mmedrag.encoders.cnn import to_tensor

        return to_tensor(image, self.image_size)

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.model.image(pixels)
        return features

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return torch.from_numpy(self.text.encode_texts(texts)).to(self.device)

    def save(self, folder: Path, final_dir: Path, training: dict[str, Any]) -> dict[str, Any]:
        safetensors = require("safetensors.torch", "torch")
        from mmedrag.encoders.tower import TOWER_CONFIG, TOWER_WEIGHTS

        state = {k: v.detach().cpu().contiguous() for k, v in self.model.image.state_dict().items()}
        safetensors.save_file(state, str(folder / TOWER_WEIGHTS))
        atomic_write_json(
            folder / TOWER_CONFIG,
            {"text_encoder": self.text.spec(), "image_tower": self.config.to_dict(), "training": training},
        )
        return {"kind": "tower", "path": str(final_dir)}


def parse_base(base: str | dict[str, Any]) -> dict[str, Any]:
    """Normalise a base spec: ``tower``/``minilm`` (new offline tower), ``sentence:X`` (new tower on text encoder
    X), ``tower:DIR``, ``open_clip:NAME|DIR|hf-hub:ORG/REPO``, ``hf_clip:DIR``, or the dict forms of those."""
    if base in ("tower", "minilm"):
        return {"kind": "tower", "text_encoder": "minilm"}
    parsed = ENCODERS.parse(base)
    kind = parsed["kind"]
    if kind == "sentence":
        return {"kind": "tower", "text_encoder": {"kind": "sentence", "model": parsed.get("model", "minilm")}}
    if kind not in TOWERS.names():
        raise ConfigError(f"cannot train a {kind!r} encoder; use a base of kind tower, minilm, open_clip or hf_clip")
    allowed = {"open_clip": ("model", "pretrained"), "hf_clip": ("model",), "tower": ("path", "text_encoder")}[kind]
    result = {"kind": kind, **{key: parsed[key] for key in allowed if parsed.get(key) is not None}}
    if kind == "tower" and "path" not in result:
        result.setdefault("text_encoder", "minilm")
    if kind == "tower" and "path" in result:
        result["path"] = str(Path(result["path"]).expanduser().resolve())
    return result


def build_towers(base: dict[str, Any], image_size: int = 128) -> DualTowers:
    """The trainable dual encoder for a spec from :func:`parse_base`."""
    options = {"image_size": image_size} if base["kind"] == "tower" else {}
    towers: DualTowers = TOWERS.create(base, **options)
    return towers
