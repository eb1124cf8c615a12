"""LoRA adapters for DPO: refuse one trained on another base before PEFT loads it half-way, load it under a name,
and fingerprint its weights (so tests and reports can tell that stage 2 really starts from stage 1)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError


def check_adapter(folder: str, model: Any, role: str) -> str:
    """Refuse an adapter trained on another architecture or configuration before PEFT loads it half-way."""
    transformers = require("transformers", "train")
    path = Path(folder).expanduser().resolve()
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"{role} {folder} has no adapter_config.json; pass a folder written by train-dpo")
    trained_on = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or ""
    try:
        theirs = transformers.AutoConfig.from_pretrained(trained_on, local_files_only=True).to_dict()
    except Exception:
        return str(path)  # base not available here: the weight-shape check at load time still applies
    ours = _comparable(model.config.to_dict())
    theirs = _comparable(theirs)
    if theirs.get("model_type") != ours.get("model_type"):
        raise ConfigError(
            f"{role} {folder} was trained on a {theirs.get('model_type')} model ({trained_on}), not on "
            f"this {ours.get('model_type')} model; pass an adapter trained on the same base"
        )
    differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if differ:
        raise ConfigError(
            f"{role} {folder} was trained on {trained_on}, whose configuration differs from this base "
            f"model's ({', '.join(differ[:4])}); pass an adapter trained on the same base"
        )
    return str(path)


_NOT_ARCHITECTURE = {"_name_or_path", "transformers_version", "dtype", "torch_dtype", "pad_token_id", "architectures"}


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A model config without the keys that change with loading (dtype, path, pad token), at every level."""
    return {k: _comparable(v) if isinstance(v, dict) else v for k, v in config.items() if k not in _NOT_ARCHITECTURE}


def load_adapter(model: Any, folder: str, name: str, trainable: bool) -> Any:
    """Load an adapter as ``name`` (a new PeftModel for "default"); shape mismatches become ConfigError."""
    peft = require("peft", "train")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if name == "default":
                model = peft.PeftModel.from_pretrained(model, folder, is_trainable=trainable)
            else:
                model.load_adapter(folder, adapter_name=name, is_trainable=trainable)
    except Exception as exc:
        raise ConfigError(
            f"adapter {folder} does not fit this base model ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
        ) from exc
    if any("missing adapter keys" in str(w.message) for w in caught):
        raise ConfigError(f"adapter {folder} does not fit this base model (some of its weights have no module)")
    return model


def adapter_sha(model: Any, adapter: str = "default", state: dict[str, Any] | None = None) -> str:
    """SHA-256 (16 hex) of an adapter's weights, keyed as in ``adapter_model.safetensors``; ``state`` is the model's
    full state dict where its parameters are sharded (FSDP, ZeRO-3)."""
    peft = require("peft", "train")
    weights = peft.utils.get_peft_model_state_dict(
        model, state_dict=state, adapter_name=adapter, save_embedding_layers=False
    )
    return tensors_sha(weights)


def tensors_sha(state: dict[str, Any]) -> str:
    """SHA-256 (16 hex) of named tensors, as float32 bytes in key order."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + b"\0" + state[key].detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
