"""Local transformers backend: any image-text-to-text checkpoint (MedGemma, Qwen2.5-VL, LLaVA, ...) loaded through the
Auto classes, optionally with a PEFT LoRA adapter, generating batched and greedy by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError, GenerationError
from mmedrag.types import Generation, Prompt

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_YES = ("yes", "Yes", " yes", " Yes")
_NO = ("no", "No", " no", " No")


def _reason(exc: BaseException) -> str:
    """The first line of an exception, short enough to sit inside a one-line error message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class HFGenerator:
    """Generates answers with a local vision-language model through ``AutoModelForImageTextToText``.

    Args:
        model: local checkpoint folder or Hugging Face hub id (the hub needs network; offline, pass a folder).
        adapter: folder of a PEFT LoRA adapter trained on ``model`` (needs the ``train`` extra).
        device: ``"auto"`` (CUDA when available, else CPU) or any torch device string.
        dtype: ``"auto"`` (bfloat16 on CUDA, float32 on CPU), ``"float32"``, ``"float16"`` or ``"bfloat16"``.
        max_new_tokens: upper bound on generated tokens per prompt.
        batch_size: prompts per forward pass.
        do_sample: sample instead of greedy decoding.
        temperature: sampling temperature (ignored when greedy).
        trust_remote_code: allow checkpoints that ship their own modelling code.

    Raises:
        ConfigError: an argument is invalid.
        GenerationError: the model or the adapter cannot be loaded.
        MissingExtraError: transformers/torch (``hf`` extra) or peft (``train`` extra) is missing.

    Example:
        >>> generator = HFGenerator("google/medgemma-4b-it", max_new_tokens=64)  # doctest: +SKIP
        >>> generator.generate([prompt])[0].text  # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Path,
        *,
        adapter: str | Path | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: int = 128,
        batch_size: int = 4,
        do_sample: bool = False,
        temperature: float = 1.0,
        trust_remote_code: bool = False,
    ) -> None:
        if max_new_tokens < 1 or batch_size < 1:
            raise ConfigError(f"max_new_tokens ({max_new_tokens}) and batch_size ({batch_size}) must be at least 1")
        if do_sample and temperature <= 0:
            raise ConfigError(f"temperature must be positive when sampling, got {temperature}")
        torch = require("torch", "hf")
        transformers = require("transformers", "hf")
        self.model_id = str(model)
        self.adapter = str(adapter) if adapter is not None else None
        self.name = f"hf:{self.model_id}" + (f"+{self.adapter}" if self.adapter else "")
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.do_sample = do_sample
        self.temperature = temperature
        self.device = _resolve_device(torch, device)
        self.dtype = _resolve_dtype(torch, dtype, self.device)
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(
                self.model_id, trust_remote_code=trust_remote_code
            )
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                self.model_id, dtype=self.dtype, trust_remote_code=trust_remote_code
            )
        except Exception as exc:
            raise _load_error(self.model_id, exc) from exc
        self._adapters: dict[str, str] = {}  # adapter folder -> PEFT adapter name
        if self.adapter is not None:
            self._use_adapter(self.adapter)
        self.model.to(self.device).eval()
        tokenizer: Any = getattr(self.processor, "tokenizer", None)
        if tokenizer is None:
            raise GenerationError(f"{self.model_id} has a processor without a tokenizer; pass a vision-language model")
        self.tokenizer: Any = tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batching: prompts must end where generation starts
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.model.generation_config.eos_token_id
        eos = eos if eos is not None else self.tokenizer.eos_token_id
        self._eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}
        yes, no = _first_token_ids(self.tokenizer, _YES), _first_token_ids(self.tokenizer, _NO)
        self._yes_ids, self._no_ids = sorted(yes - no), sorted(no - yes)  # a shared first piece tells nothing

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer, without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        """Answer ``prompts`` in batches of ``batch_size``; the output order matches the input order.

        Prompts with and without images go to separate batches: not every processor accepts a mix (Gemma3's rejects
        a flat image list), and grouping costs at most one extra partial batch.
        """
        groups: dict[tuple[bool, str | None], list[int]] = {}
        for index, prompt in enumerate(prompts):
            groups.setdefault((bool(prompt.images), prompt.adapter or self.adapter), []).append(index)
        results: list[Generation | None] = [None] * len(prompts)
        for (_, adapter), indices in groups.items():
            with self._adapter_active(adapter):
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    batch = self._generate_batch([prompts[i] for i in chunk], adapter)
                    for index, generation in zip(chunk, batch, strict=True):
                        results[index] = generation
        return [generation for generation in results if generation is not None]

    def _use_adapter(self, folder: str) -> str:
        """Load the adapter in ``folder`` once (validated against the base model); return its PEFT name."""
        if folder not in self._adapters:
            name = "a" + hashlib.sha1(folder.encode()).hexdigest()[:10]  # PEFT names become module keys: no dots
            self.model = _attach_adapter(self.model, folder, self.model_id, name)
            self.model.to(self.device).eval()
            self._adapters[folder] = name
        return self._adapters[folder]

    @contextlib.contextmanager
    def _adapter_active(self, folder: str | None) -> Iterator[None]:
        """Run with the adapter of ``folder`` active (a domain's LoRA), or with every adapter off for None."""
        if folder is not None:
            name = self._use_adapter(folder)  # first: loading may wrap self.model in a PeftModel
            self.model.set_adapter(name)
            yield
        elif self._adapters:
            with self.model.disable_adapter():
                yield
        else:
            yield

    def _generate_batch(self, prompts: list[Prompt], adapter: str | None) -> list[Generation]:
        torch = require("torch", "hf")
        texts = [
            self.processor.apply_chat_template(list(p.messages), add_generation_prompt=True, tokenize=False)
            for p in prompts
        ]
        kwargs: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt"}
        if prompts[0].images:
            kwargs["images"] = [list(p.images) for p in prompts]
        bos = self.tokenizer.bos_token
        if bos and all(text.startswith(bos) for text in texts):
            # Templates such as Gemma's write BOS themselves; letting the tokenizer add another shifts every answer.
            kwargs["add_special_tokens"] = False
        try:
            inputs = self.processor(**kwargs)
        except Exception as exc:
            raise GenerationError(
                f"{self.name}: the processor rejected a batch of {len(prompts)} prompt(s) ({_reason(exc)}); "
                "check that each prompt has one image part per image"
            ) from exc
        inputs = {
            key: value.to(self.device, dtype=self.dtype) if value.is_floating_point() else value.to(self.device)
            for key, value in inputs.items()
            if isinstance(value, torch.Tensor)
        }
        want_yes = any(p.task == "closed" for p in prompts)
        options: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            options["temperature"] = self.temperature
        try:
            with torch.inference_mode():
                # Raw logits, not scores: scores come after the checkpoint's repetition penalty / top-k, which would
                # push "yes" or "no" (both in the instruction) toward zero.
                output = self.model.generate(
                    **inputs,
                    **options,
                    pad_token_id=self.tokenizer.pad_token_id,
                    return_dict_in_generate=True,
                    output_logits=want_yes,
                )
        except Exception as exc:
            raise GenerationError(f"{self.name}: generation failed ({_reason(exc)})") from exc
        new_tokens = output.sequences[:, inputs["input_ids"].shape[1] :].tolist()
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        first_step = output.logits[0].float().softmax(dim=-1) if want_yes else None
        generations = []
        for row, (prompt, tokens) in enumerate(zip(prompts, new_tokens, strict=True)):
            stop = next((i for i, token in enumerate(tokens) if token in self._eos_ids), None)
            kept = tokens if stop is None else tokens[: stop + 1]  # the EOS counts: it was generated
            yes_probability = None
            if first_step is not None and prompt.task == "closed":
                yes_probability = self._yes_share(first_step[row])
            generations.append(
                Generation(
                    text=self.tokenizer.decode(kept, skip_special_tokens=True).strip(),
                    prompt_tokens=int(prompt_tokens[row]),
                    completion_tokens=len(kept),
                    yes_probability=yes_probability,
                    meta={
                        "backend": "hf",
                        "model": self.model_id,
                        "adapter": adapter,
                        "finish_reason": "length" if stop is None else "stop",
                    },
                )
            )
        return generations

    def _yes_share(self, probabilities: Any) -> float | None:
        """P(yes) / (P(yes) + P(no)) from one row of first-step probabilities; None when both are zero."""
        p_yes = float(probabilities[self._yes_ids].sum()) if self._yes_ids else 0.0
        p_no = float(probabilities[self._no_ids].sum()) if self._no_ids else 0.0
        total = p_yes + p_no
        return p_yes / total if total > 0 else None


def _resolve_device(torch: Any, device: str) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {device!r} is not a torch device; pass 'auto', 'cpu' or 'cuda[:N]'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asks for CUDA, which is not available here; pass 'auto' or 'cpu'")
    return resolved


def _resolve_dtype(torch: Any, dtype: str, device: Any) -> Any:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; pass 'auto', 'float32', 'float16' or 'bfloat16'")
    return getattr(torch, _DTYPES[dtype])


def _load_error(model: str, exc: BaseException) -> GenerationError:
    """One line saying which of the three usual causes (no folder, not a VLM, no hub) stopped the load."""
    path = Path(model).expanduser()
    if path.exists():
        return GenerationError(
            f"cannot load {model} with AutoProcessor + AutoModelForImageTextToText ({_reason(exc)}); pass the folder "
            "of a vision-language checkpoint (config.json, weights and processor files)"
        )
    if not _HUB_ID.match(model):
        return GenerationError(
            f"model folder {model} does not exist; pass the folder holding config.json and the weights, or a hub id"
        )
    return GenerationError(
        f"cannot load {model}: no such local folder, and the Hugging Face hub failed ({_reason(exc)}); download it "
        f"where the hub is reachable (hf download {model} --local-dir DIR) and pass its local folder"
    )


def _first_token_ids(tokenizer: Any, spellings: Sequence[str]) -> set[int]:
    """The first sub-token of each spelling, skipping pieces that are only whitespace (they begin any word)."""
    ids: set[int] = set()
    for spelling in spellings:
        pieces = tokenizer(spelling, add_special_tokens=False)["input_ids"]
        if pieces and tokenizer.decode(pieces[:1]).strip():
            ids.add(pieces[0])
    return ids


def _attach_adapter(model: Any, adapter: str, model_id: str, name: str = "default") -> Any:
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
        raise GenerationError(f"{mismatch} ({_reason(exc)}); pass the base model the adapter was trained on") from exc
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
