"""Loading helpers of the transformers backend: option checks, device and dtype resolution, one-line load errors,
yes/no token ids and LoRA adapters checked against the base model."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError, GenerationError
from mmedrag.generation.fast_paths import DECODE_CACHES

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
CLOSED_ANSWERS = ("generate", "first_token")


def check_options(counts: tuple[int, int, int, int, int], closed_answer: str, decode_cache: str) -> None:
    """ConfigError naming the first invalid option (counts: max_new_tokens, batch_size, sort_window, prefill_batch,
    image_cache)."""
    max_new_tokens, batch_size, sort_window, prefill_batch, image_cache = counts
    if min(max_new_tokens, batch_size, sort_window, prefill_batch) < 1 or image_cache < 0:
        raise ConfigError(
            f"max_new_tokens ({max_new_tokens}), batch_size ({batch_size}), sort_window ({sort_window}) and "
            f"prefill_batch ({prefill_batch}) must be at least 1, image_cache ({image_cache}) at least 0"
        )
    if closed_answer not in CLOSED_ANSWERS:
        raise ConfigError(f"closed_answer {closed_answer!r} is not supported; use one of {', '.join(CLOSED_ANSWERS)}")
    if decode_cache not in DECODE_CACHES:
        raise ConfigError(f"decode_cache {decode_cache!r} is not supported; use one of {', '.join(DECODE_CACHES)}")


def reason(exc: BaseException) -> str:
    """The first line of an exception, short enough to sit inside a one-line error message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def resolve_device(torch: Any, device: str) -> Any:
    """The torch device for ``device`` (``"auto"``: CUDA when available, else CPU); ConfigError if unusable."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device; pass 'auto', 'cpu' or 'cuda[:N]'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asks for CUDA, which is not available here; pass 'auto' or 'cpu'")
    return resolved


def resolve_dtype(torch: Any, dtype: str, device: Any) -> Any:
    """The torch dtype for ``dtype`` (``"auto"``: bfloat16 on CUDA, float32 elsewhere); ConfigError if unknown."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; pass 'auto', 'float32', 'float16' or 'bfloat16'")
    return getattr(torch, _DTYPES[dtype])


def load_error(model: str, exc: BaseException) -> GenerationError:
    """One line saying which of the three usual causes (no folder, not a VLM, no hub) stopped the load."""
    path = Path(model).expanduser()
    if path.exists():
        return GenerationError(
            f"cannot load {model} with AutoProcessor + AutoModelForImageTextToText ({reason(exc)}); pass the folder "
            "of a vision-language checkpoint (config.json, weights and processor files)"
        )
    if not _HUB_ID.match(model):
        return GenerationError(
            f"model folder {model} does not exist; pass the folder holding config.json and the weights, or a hub id"
        )
    return GenerationError(
        f"cannot load {model}: no such local folder, and the Hugging Face hub failed ({reason(exc)}); download it "
        f"where the hub is reachable (hf download {model} --local-dir DIR) and pass its local folder"
    )


def first_token_ids(tokenizer: Any, spellings: Sequence[str]) -> set[int]:
    """The first sub-token of each spelling, skipping pieces that are only whitespace (they begin any word)."""
    ids: set[int] = set()
    for spelling in spellings:
        pieces = tokenizer(spelling, add_special_tokens=False)["input_ids"]
        if pieces and tokenizer.decode(pieces[:1]).strip():
            ids.add(pieces[0])
    return ids


def attach_adapter(model: Any, adapter: str, model_id: str, name: str = "default") -> Any:
    """Add the LoRA adapter in ``adapter`` under ``name`` (wrapping ``model`` in a PeftModel the first time),
    refusing one that was trained on another architecture."""
    peft = require("peft", "train")
    transformers = require("transformers", "hf")
    config_file = Path(adapter).expanduser() / "adapter_config.json"
    if not config_file.is_file():
        raise GenerationError(f"adapter folder {adapter} has no adapter_config.json; pass a saved PEFT adapter folder")
    trained_on = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path") or "unknown"
    mismatch = f"adapter {adapter} (trained on {trained_on}) does not fit model {model_id}"
    try:
        # Only local folders and cached hub ids are checked; an unknown base is left to the weight check below.
        base_type = transformers.AutoConfig.from_pretrained(trained_on, local_files_only=True).model_type
    except Exception:
        base_type = None
    if base_type is not None and base_type != model.config.model_type:
        raise GenerationError(
            f"{mismatch}: it was trained on a {base_type} model and this is {model.config.model_type}; "
            "pass the base model the adapter was trained on"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if isinstance(model, peft.PeftModel):
                model.load_adapter(str(config_file.parent), adapter_name=name)
                wrapped = model
            else:
                wrapped = peft.PeftModel.from_pretrained(model, str(config_file.parent), adapter_name=name)
    except Exception as exc:
        raise GenerationError(f"{mismatch} ({reason(exc)}); pass the base model the adapter was trained on") from exc
    missing = [w for w in caught if "missing adapter keys" in str(w.message)]
    for w in caught:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # PEFT silently drops saved weights that have no matching module, so compare the LoRA weight counts as well
    # (counts, not names: PEFT renames keys of adapters saved under older transformers module layouts).
    saved = sum("lora_" in key for key in peft.utils.load_peft_weights(str(config_file.parent), device="cpu"))
    # save_embedding_layers=False: "auto" would query the hub about the base model.
    state = peft.utils.get_peft_model_state_dict(wrapped, adapter_name=name, save_embedding_layers=False)
    loaded = sum("lora_" in key for key in state)
    if missing or saved != loaded:
        raise GenerationError(
            f"{mismatch}: {saved} saved adapter weights vs {loaded} adapter slots in the model; "
            "pass the base model the adapter was trained on"
        )
    return wrapped
