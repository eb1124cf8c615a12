"""Local transformers backend: any image-text-to-text checkpoint (MedGemma, Qwen2.5-VL, LLaVA, ...) loaded through the
Auto classes, optionally with a PEFT LoRA adapter, generating batched and greedy by default.

Evaluation speed: questions about one image with one reference set share their prompt prefix, which is prefilled once
(:mod:`mmedrag.generation.prefix_cache`); batches are cut by :mod:`mmedrag.generation.batching` (groups kept together,
sorted by length inside a bounded window); closed questions can be answered in one forward pass
(``closed_answer="first_token"``). Near the GPU's limit (issue 24): the groups' prefixes of a batch are prefilled in
a few padded forwards, each image is processed once (:mod:`mmedrag.generation.image_cache`), and decoding can run
from a static KV cache with a compiled step (:mod:`mmedrag.generation.static_decode`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mmedrag._optional import require
from mmedrag.errors import ConfigError, GenerationError
from mmedrag.generation import fast_paths, prefix_cache, static_decode
from mmedrag.generation import image_cache as image_cache_module
from mmedrag.generation.batching import padding_fraction, plan_batches, share_key
from mmedrag.generation.hf_loading import (
    attach_adapter,
    check_options,
    first_token_ids,
    load_error,
    reason,
    resolve_device,
    resolve_dtype,
)
from mmedrag.types import Generation, Prompt

_YES = ("yes", "Yes", " yes", " Yes")
_NO = ("no", "No", " no", " No")


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
        share_prefix: prefill the common prefix of prompts about one image and one reference set once per batch
            (same answers as without; see :mod:`mmedrag.generation.prefix_cache`).
        closed_answer: ``"generate"`` decodes closed questions like any other; ``"first_token"`` answers them in
            one forward pass with the larger of P(yes) and P(no) over the first answer token.
        sort_window: prompts (in input order) inside which batches are sorted by prompt length; 1 keeps input order.
        prefill_batch: share groups whose prefixes are prefilled in one padded forward (1: one forward per group).
        image_cache: processed images kept for reuse (each image of a batch or a later batch is resized and
            normalised once; :mod:`mmedrag.generation.image_cache`); 0 processes every prompt's image anew.
        decode_cache: ``"dynamic"`` (a growing KV cache), ``"static"`` (pre-allocated, written in place) or
            ``"compiled"`` (static plus a ``torch.compile``-d decode step, CUDA graphs; CUDA only, else static).
            A path not proven equal on the model's architecture (:mod:`mmedrag.generation.fast_paths`) falls back to
            the plain one, and ``meta["fallback"]`` says why.
        preloaded: ``(model, processor)`` already in memory; ``model`` then only names them.

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
        share_prefix: bool = True,
        closed_answer: str = "generate",
        sort_window: int = 256,
        prefill_batch: int = 16,
        image_cache: int = 64,
        decode_cache: str = "dynamic",
        preloaded: tuple[Any, Any] | None = None,
    ) -> None:
        check_options(
            (max_new_tokens, batch_size, sort_window, prefill_batch, image_cache), closed_answer, decode_cache
        )
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
        self.share_prefix = share_prefix
        self.closed_answer = closed_answer
        self.sort_window = sort_window
        self.device = resolve_device(torch, device)
        self.dtype = resolve_dtype(torch, dtype, self.device)
        if preloaded is not None:  # model and processor already in memory (a benchmark's random-weight model)
            self.model, self.processor = preloaded
            self.model.to(dtype=self.dtype)
        else:
            try:
                self.processor = transformers.AutoProcessor.from_pretrained(
                    self.model_id, trust_remote_code=trust_remote_code
                )
                self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                    self.model_id, dtype=self.dtype, trust_remote_code=trust_remote_code
                )
            except Exception as exc:
                raise load_error(self.model_id, exc) from exc
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
        yes, no = first_token_ids(self.tokenizer, _YES), first_token_ids(self.tokenizer, _NO)
        self._yes_ids, self._no_ids = sorted(yes - no), sorted(no - yes)  # a shared first piece tells nothing
        config = self.model.config
        self._image_token_id = getattr(config, "image_token_id", getattr(config, "image_token_index", None))
        self._rope_holder = prefix_cache.rope_holder(self.model)
        granted = fast_paths.plan(
            config.model_type, type(self.processor).__name__, prefill_batch, image_cache, decode_cache, self.device.type
        )
        self.prefill_batch, self.decode_cache = granted.prefill_batch, granted.decode_cache
        self.fallbacks = dict(granted.fallbacks)  # path -> why it runs plain; the trace carries them
        self.image_cache = image_cache_module.install(self.processor, granted.image_cache)
        self._static = static_decode.StaticCaches(config.get_text_config(decoder=True).num_hidden_layers)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer, without special tokens."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        """Answer ``prompts`` in batches of at most ``batch_size``; the output order matches the input order.

        Prompts with and without images go to separate batches: not every processor accepts a mix (Gemma3's rejects
        a flat image list), and grouping costs at most one extra partial batch.
        """
        if not prompts:
            return []
        texts = [self._render(p) for p in prompts]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        buckets: dict[tuple[bool, str | None], list[int]] = {}
        for index, prompt in enumerate(prompts):
            buckets.setdefault((bool(prompt.images), prompt.adapter or self.adapter), []).append(index)
        keys = [share_key(p, p.adapter or self.adapter) for p in prompts] if self.share_prefix else None
        results: list[Generation | None] = [None] * len(prompts)
        plans = [
            (adapter, planned)
            for (_, adapter), indices in buckets.items()
            for planned in plan_batches(indices, lengths, keys, self.batch_size, self.sort_window)
        ]
        for number, (adapter, planned) in enumerate(plans):
            if self.image_cache is not None and number + 1 < len(plans):  # resized while this batch runs
                self.image_cache.prefetch([image for i in plans[number + 1][1].indices for image in prompts[i].images])
            where = {index: row for row, index in enumerate(planned.indices)}
            groups = [[where[index] for index in group] for group in planned.groups]
            with self._adapter_active(adapter):
                batch = self._generate_batch(
                    [prompts[i] for i in planned.indices], [texts[i] for i in planned.indices], groups
                )
            for index, generation in zip(planned.indices, batch, strict=True):
                results[index] = generation
        return [generation for generation in results if generation is not None]

    def _render(self, prompt: Prompt) -> str:
        return str(
            self.processor.apply_chat_template(list(prompt.messages), add_generation_prompt=True, tokenize=False)
        )

    def _use_adapter(self, folder: str) -> str:
        """Load the adapter in ``folder`` once (validated against the base model); return its PEFT name."""
        if folder not in self._adapters:
            name = "a" + hashlib.sha1(folder.encode()).hexdigest()[:10]  # PEFT names become module keys: no dots
            self.model = attach_adapter(self.model, folder, self.model_id, name)
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

    def _encode(self, texts: list[str], prompts: list[Prompt]) -> dict[str, Any]:
        """The processor's tensors for ``texts`` (left-padded), on the model's device and dtype."""
        torch = require("torch", "hf")
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
                f"{self.name}: the processor rejected a batch of {len(prompts)} prompt(s) ({reason(exc)}); "
                "check that each prompt has one image part per image"
            ) from exc
        return {
            key: value.to(self.device, dtype=self.dtype) if value.is_floating_point() else value.to(self.device)
            for key, value in inputs.items()
            if isinstance(value, torch.Tensor)
        }

    def _shared_inputs(
        self,
        inputs: dict[str, Any],
        texts: list[str],
        prompts: list[Prompt],
        groups: list[list[int]],
        decode_all: bool,
    ) -> tuple[dict[str, Any], prefix_cache.SharedLayout | None]:
        """``generate`` arguments that start from each group's prefilled prefix, or ``inputs`` unchanged (and None)
        when sharing is off or would not hold for this batch (``decode_all``: no row is answered in one pass)."""
        layout = prefix_cache.plan_layout(inputs, groups, self._image_token_id) if self.share_prefix else None
        if layout is None:
            return inputs, None
        torch = require("torch", "hf")
        count = len(layout.groups)
        prefixes: list[Any] = [None] * count
        deltas: list[Any] = [None] * count
        # Groups of similar prefix length share a forward, so that little of it is padding.
        order = sorted(range(count), key=lambda g: layout.prefix_lengths[g])
        for start in range(0, count, self.prefill_batch):
            chunk = order[start : start + self.prefill_batch]
            firsts = [layout.groups[g][0] for g in chunk]
            leaders = self._encode([texts[i] for i in firsts], [prompts[i] for i in firsts])
            for row, first in enumerate(firsts):
                mine = leaders["input_ids"][row][leaders["attention_mask"][row].bool()]
                if not torch.equal(mine, inputs["input_ids"][first][inputs["attention_mask"][first].bool()]):
                    return inputs, None  # tokenisation depends on the batch: do not share
            lengths = [layout.prefix_lengths[g] for g in chunk]
            layers, delta = prefix_cache.prefill(self.model, leaders, lengths, self._rope_holder)
            for row, group in enumerate(chunk):
                prefixes[group], deltas[group] = layers[row], delta[row : row + 1]
        if self._rope_holder is not None:
            # generate() continues mrope positions from this per-row offset (each row's image fixes its own).
            self._rope_holder.rope_deltas = torch.cat([deltas[g] for g in layout.row_groups], dim=0)
        # A batch that decodes every row from a static cache gets it built here, layer by layer: no dynamic copy
        # beside it. A batch with one-pass rows prefills dynamically and keeps only its decoded rows (in _decode).
        static = self._static if self.decode_cache != "dynamic" and decode_all and self.max_new_tokens > 1 else None
        slots = int(inputs["input_ids"].shape[1]) + self.max_new_tokens
        cache = prefix_cache.expand(prefixes, layout, static, slots)
        arguments = {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]}
        return {**arguments, prefix_cache.cache_keyword(self.model): cache}, layout

    def _generate_batch(self, prompts: list[Prompt], texts: list[str], groups: list[list[int]]) -> list[Generation]:
        inputs = self._encode(texts, prompts)
        one_pass = [self.closed_answer == "first_token" and p.task == "closed" for p in prompts]
        arguments, layout = self._shared_inputs(inputs, texts, prompts, groups, not any(one_pass))
        try:
            new_tokens, first_step = self._decode(arguments, one_pass, any(p.task == "closed" for p in prompts))
        except Exception as exc:
            raise GenerationError(f"{self.name}: generation failed ({reason(exc)})") from exc
        finally:
            if self._rope_holder is not None:
                self._rope_holder.rope_deltas = None
        lengths = [int(n) for n in inputs["attention_mask"].sum(dim=1).tolist()]
        batch_meta = {
            "backend": "hf",
            "model": self.model_id,
            "adapter": prompts[0].adapter or self.adapter,
            "batch_size": len(prompts),
            "padding_fraction": round(padding_fraction(lengths), 4),
            "prefill_tokens_per_question": round(
                (layout.prefill_tokens if layout else len(lengths) * max(lengths)) / len(lengths), 1
            ),
            "prefix_prefills": -(-len(layout.groups) // self.prefill_batch) if layout else 0,
            "decode": self.decode_cache,
        }
        if self.fallbacks:
            batch_meta["fallback"] = "; ".join(self.fallbacks.values())
        generations = []
        for row, (prompt, tokens) in enumerate(zip(prompts, new_tokens, strict=True)):
            stop = next((i for i, token in enumerate(tokens) if token in self._eos_ids), None)
            kept = tokens if stop is None else tokens[: stop + 1]  # the EOS counts: it was generated
            yes_probability = None
            if first_step is not None and prompt.task == "closed":
                yes_probability = self._yes_share(first_step[row])
            text = self.tokenizer.decode(kept, skip_special_tokens=True).strip()
            finish = "length" if stop is None else "stop"
            if one_pass[row] and yes_probability is not None:
                text, finish = ("yes" if yes_probability >= 0.5 else "no"), "first_token"
            shared = layout.prefix_lengths[layout.row_groups[row]] if layout else 0
            meta = {"closed_answer": "first_token" if one_pass[row] else "generate", "finish_reason": finish}
            generations.append(
                Generation(
                    text=text,
                    prompt_tokens=lengths[row],
                    completion_tokens=len(kept),
                    yes_probability=yes_probability,
                    meta={**batch_meta, **meta, "shared_prefix_tokens": shared},
                )
            )
        return generations

    def _generate(self, arguments: dict[str, Any], max_new_tokens: int, want_logits: bool, sample: bool) -> Any:
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample}
        if sample:
            options["temperature"] = self.temperature
        if self.decode_cache != "dynamic" and max_new_tokens > 1:  # one step is a prefill: nothing to decode
            keyword = prefix_cache.cache_keyword(self.model)
            rows, width = (int(n) for n in arguments["input_ids"].shape)
            cache = self._static.ensure(arguments.get(keyword), rows, width + max_new_tokens)
            arguments = {**arguments, keyword: cache}
            options["disable_compile"] = self.decode_cache != "compiled"
        # Raw logits, not scores: scores come after the checkpoint's repetition penalty / top-k, which would push
        # "yes" or "no" (both in the instruction) toward zero.
        return self.model.generate(
            **arguments,
            **options,
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=want_logits,
        )

    def _decode(self, arguments: dict[str, Any], one_pass: list[bool], want_yes: bool) -> tuple[list[list[int]], Any]:
        """New tokens per row and first-step probabilities (None unless a row is closed).

        One-pass rows stop after the first forward; the other rows of the batch continue from its KV cache, so a
        batch mixing one-pass closed questions and decoded ones runs the prompt (and any shared prefix) once.
        """
        torch = require("torch", "hf")
        width = int(arguments["input_ids"].shape[1])
        with torch.inference_mode():
            if not any(one_pass) or all(one_pass):
                steps = 1 if all(one_pass) else self.max_new_tokens
                output = self._generate(arguments, steps, want_yes, self.do_sample and not all(one_pass))
                first = output.logits[0].float().softmax(dim=-1) if want_yes else None
                return output.sequences[:, width:].tolist(), first
            output = self._generate(arguments, 1, True, self.do_sample)
            first = output.logits[0].float().softmax(dim=-1)
            tokens = output.sequences[:, width:].tolist()
            rows = [i for i, done in enumerate(one_pass) if not done and tokens[i][0] not in self._eos_ids]
            if not rows or self.max_new_tokens == 1:
                return tokens, first
            select = torch.tensor(rows, device=output.sequences.device)
            cache = prefix_cache.returned_cache(output)  # dynamic: the first step prefilled, it did not decode
            cache.batch_select_indices(select)
            if self._rope_holder is not None and self._rope_holder.rope_deltas is not None:
                self._rope_holder.rope_deltas = self._rope_holder.rope_deltas[select]
            mask = arguments["attention_mask"][select]
            rest = {
                "input_ids": output.sequences[select],
                "attention_mask": torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1),
                prefix_cache.cache_keyword(self.model): cache,
            }
            more = self._generate(rest, self.max_new_tokens - 1, False, self.do_sample)
            for row, continued in zip(rows, more.sequences[:, width:].tolist(), strict=True):
                tokens[row] = continued
            return tokens, first

    def _yes_share(self, probabilities: Any) -> float | None:
        """P(yes) / (P(yes) + P(no)) from one row of first-step probabilities; None when both are zero."""
        p_yes = float(probabilities[self._yes_ids].sum()) if self._yes_ids else 0.0
        p_no = float(probabilities[self._no_ids].sum()) if self._no_ids else 0.0
        total = p_yes + p_no
        return p_yes / total if total > 0 else None
