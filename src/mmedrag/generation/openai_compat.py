"""Generator backend for any server that speaks the OpenAI chat-completions API (vLLM, SGLang, llama.cpp, OpenAI).

Images travel inline as base64 data URLs; retries with backoff are the openai SDK's own.
"""

from __future__ import annotations

import base64
import io
import math
import os
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from mmedrag._optional import require
from mmedrag.errors import ConfigError, GenerationError
from mmedrag.generation.base import approx_token_count
from mmedrag.generation.batching import share_key
from mmedrag.types import Generation, Prompt

_MIME_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_STATUS_HINTS = {
    401: "check the API key (pass api_key or set {env})",
    403: "check the API key (pass api_key or set {env})",
    404: "check --base-url (it usually ends in /v1) and the model name ({url}/models lists them)",
    400: "the server rejected the request; check that the model accepts images and max_tokens fits its context",
    422: "the server rejected the request; check that the model accepts images and max_tokens fits its context",
}


class OpenAICompatGenerator:
    """Sends prompts to ``{base_url}/chat/completions`` concurrently and returns the answers in input order.

    Args:
        base_url: the server's OpenAI API root, e.g. ``http://localhost:8000/v1`` for ``vllm serve``.
        model: the model name the server serves.
        api_key: the bearer key; defaults to ``$api_key_env``, then to ``"EMPTY"`` (vLLM accepts any key).
        api_key_env: the environment variable read when ``api_key`` is not given.
        timeout_s: per-request timeout in seconds.
        max_retries: retries (with backoff) on 408/409/429/5xx, timeouts and connection errors.
        max_tokens: the completion length limit.
        temperature: 0 decodes greedily.
        concurrency: requests in flight at once.
        image_format: how images are encoded for the data URL: PNG (lossless), JPEG or WEBP.
        extra_body: extra JSON fields for every request (e.g. vLLM's ``{"top_k": 1}``).
        logprobs: ask for token log-probabilities (``logprobs``, ``top_logprobs=5``): P(yes)/P(no) of a yes/no
            answer's first token and the answer's mean token probability become its raw confidence; servers that
            ignore the request give none (set False for one that rejects it).

    Example:
        >>> generator = OpenAICompatGenerator("http://localhost:8000/v1", "llava-hf/llava-1.5-7b-hf")  # doctest: +SKIP
        >>> generator.generate([prompt])[0].text  # doctest: +SKIP
        'yes'
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        concurrency: int = 4,
        image_format: str = "PNG",
        extra_body: dict[str, Any] | None = None,
        logprobs: bool = True,
    ) -> None:
        openai = require("openai", "openai")
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0 or max_tokens < 1:
            raise ConfigError(
                f"OpenAICompatGenerator: need concurrency >= 1, max_retries >= 0, timeout_s > 0 and max_tokens >= 1 "
                f"(got {concurrency}, {max_retries}, {timeout_s}, {max_tokens})"
            )
        if image_format.upper() not in _MIME_TYPES:
            raise ConfigError(f"image_format {image_format!r} is not supported; use one of {sorted(_MIME_TYPES)}")
        self.name = f"openai:{model}@{base_url}"
        self.base_url, self.model = base_url, model
        self.timeout_s, self.max_retries, self.concurrency = timeout_s, max_retries, concurrency
        self.max_tokens, self.temperature = max_tokens, temperature
        self.image_format = image_format.upper()
        self.extra_body = dict(extra_body or {})
        self.logprobs = logprobs
        self._api_key_env = api_key_env
        self._errors = openai  # the SDK's exception classes, kept so that openai is imported once, here
        key = api_key or os.environ.get(api_key_env) or "EMPTY"
        self._client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries)

    def __repr__(self) -> str:
        return f"OpenAICompatGenerator({self.name!r})"  # never the key

    def count_tokens(self, text: str) -> int:
        """An approximate count: the server's tokenizer is not reachable from here."""
        return approx_token_count(text)

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        """One chat completion per prompt, ``concurrency`` at a time, sent grouped by image and returned in input
        order; raises :class:`GenerationError` on failure."""
        for index, prompt in enumerate(prompts):  # all prompts are checked before the first request goes out
            parts = sum(part.get("type") == "image" for message in prompt.messages for part in _parts(message))
            if parts != len(prompt.images):
                raise GenerationError(
                    f"prompt {index}: {parts} image part(s) but {len(prompt.images)} image(s); "
                    "build prompts with PromptBuilder, which keeps them in step"
                )
        if not prompts:
            return []
        # Requests about one image (and one reference set) go out back to back, so that a server with a prefix
        # cache (vLLM --enable-prefix-caching) still holds their shared prefix when the next one arrives.
        first: dict[Hashable, int] = {}
        keys = [first.setdefault(share_key(prompt, prompt.adapter), i) for i, prompt in enumerate(prompts)]
        order = sorted(range(len(prompts)), key=lambda i: (keys[i], i))
        with ThreadPoolExecutor(min(self.concurrency, len(prompts)), thread_name_prefix="mmedrag-openai") as pool:
            submitted = {index: pool.submit(self._complete, prompts[index]) for index in order}
            futures = [submitted[index] for index in range(len(prompts))]
            try:
                return [future.result() for future in futures]
            except BaseException:
                # One failure fails the batch; prompts not yet sent should not keep the server busy.
                for future in futures:
                    future.cancel()
                raise

    def _complete(self, prompt: Prompt) -> Generation:
        where = f"OpenAI-compatible server {self.base_url} (model {self.model!r})"
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=self._convert(prompt),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                extra_body=self.extra_body or None,
                **({"logprobs": True, "top_logprobs": 5} if self.logprobs else {}),
            )
        except self._errors.APITimeoutError as exc:
            raise GenerationError(
                f"{where}: no answer within timeout_s={self.timeout_s} s (max_retries={self.max_retries}); "
                "raise timeout_s or lower concurrency if the server is loaded"
            ) from exc
        except self._errors.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise GenerationError(
                f"{where}: cannot connect: {cause} (max_retries={self.max_retries}); "
                "is the server running? check --base-url"
            ) from exc
        except self._errors.APIStatusError as exc:
            hint = _STATUS_HINTS.get(exc.status_code, "the server is failing or overloaded; check its log, retry later")
            detail = " ".join(str(exc.message).split())[:200]
            raise GenerationError(
                f"{where}: HTTP {exc.status_code}: {detail} (max_retries={self.max_retries}); "
                + hint.format(env=self._api_key_env, url=self.base_url)
            ) from exc
        except self._errors.OpenAIError as exc:
            raise GenerationError(f"{where}: {type(exc).__name__}: {exc}; check the server's log") from exc
        choices = getattr(response, "choices", None)
        if not choices or choices[0].message.content is None:
            raise GenerationError(
                f"{where}: empty response (no choices or no message content); check that the model serves chat "
                "completions and that max_tokens leaves room for an answer"
            )
        usage = response.usage
        tokens = getattr(getattr(choices[0], "logprobs", None), "content", None) or []
        yes_probability = first_token_yes_probability(tokens) if prompt.task == "closed" else None
        return Generation(
            text=choices[0].message.content,
            prompt_tokens=(usage.prompt_tokens if usage else 0) or 0,
            completion_tokens=(usage.completion_tokens if usage else 0) or 0,
            yes_probability=yes_probability,
            confidence=None if yes_probability is not None else mean_token_probability(tokens),
            meta={"finish_reason": choices[0].finish_reason, "model": response.model, "logprobs": bool(tokens)},
        )

    def _convert(self, prompt: Prompt) -> list[dict[str, Any]]:
        """Chat messages in the OpenAI shape: image parts become data URLs (in order), other parts pass unchanged."""
        images = iter(prompt.images)
        messages: list[dict[str, Any]] = []
        for message in prompt.messages:
            content = message["content"]
            if not isinstance(content, str):
                content = [
                    {"type": "image_url", "image_url": {"url": self._data_url(next(images))}}
                    if part.get("type") == "image"
                    else dict(part)
                    for part in content
                ]
            messages.append({"role": message["role"], "content": content})
        return messages

    def _data_url(self, image: Image.Image) -> str:
        if self.image_format == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")  # JPEG has no alpha or 16-bit modes
        buffer = io.BytesIO()
        image.save(buffer, format=self.image_format)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        return f"data:{_MIME_TYPES[self.image_format]};base64,{encoded}"


def first_token_yes_probability(tokens: Sequence[Any]) -> float | None:
    """P(yes) / (P(yes) + P(no)) over the first non-blank answer token's top alternatives ("Yes", " yes", "NO" ...,
    as the local generator's one-pass reading does); None when neither word is among them."""
    first = next((t for t in tokens if str(getattr(t, "token", "")).strip()), None)
    if first is None:
        return None
    mass = {"yes": 0.0, "no": 0.0}
    for option in getattr(first, "top_logprobs", None) or [first]:
        word = str(getattr(option, "token", "")).strip().lower()
        if word in mass:
            mass[word] += math.exp(float(option.logprob))
    total = mass["yes"] + mass["no"]
    return mass["yes"] / total if total > 0 else None


def mean_token_probability(tokens: Sequence[Any]) -> float | None:
    """exp(mean log-probability) of the answer's tokens: a length-fair probability of the whole text."""
    values = [float(t.logprob) for t in tokens if getattr(t, "logprob", None) is not None]
    return math.exp(sum(values) / len(values)) if values else None


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's content as a list of parts (a string content is one text part)."""
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
