"""OpenAICompatGenerator against a real HTTP server (the stdlib stub): wire format, order, retries and failures."""

from __future__ import annotations

import base64
import io
import math
import random
import re
import socket
import sys
import time
from typing import Any

import pytest
from PIL import Image

from mmedrag.errors import GenerationError, MissingExtraError
from mmedrag.generation.base import Generator
from mmedrag.generation.openai_compat import OpenAICompatGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Prompt, Query
from stub_openai_server import StubOpenAIServer, last_text

pytestmark = pytest.mark.integration

MODEL = "stub/vlm-7b"


def _image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), bytes(rng.randrange(256) for _ in range(width * height * 3)))


def _prompt(question: str, image: Image.Image | None = None) -> Prompt:
    return PromptBuilder().build(Query(text=question, image=image), Context(), "radiology")


def _decode(url: str) -> Image.Image:
    header, _, payload = url.partition(",")
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_request_carries_model_settings_image_and_verbatim_text() -> None:
    images = [_image(31, 17, seed=1), _image(8, 40, seed=2)]
    prompts = [_prompt("Is there a pleural effusion?", images[0]), _prompt("Is the heart enlarged?", images[1])]
    with StubOpenAIServer() as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, max_tokens=7, concurrency=1)
        results = generator.generate(prompts)
    assert isinstance(generator, Generator)
    assert generator.name == f"openai:{MODEL}@{server.base_url}"
    assert [r.text for r in results] == ["yes", "no"]
    assert results[0].prompt_tokens > 0 and results[0].completion_tokens == 1
    assert results[0].yes_probability is None
    assert results[0].meta == {"finish_reason": "stop", "model": MODEL, "logprobs": False}
    assert len(server.requests) == 2
    for request, prompt, image in zip(server.requests, prompts, images, strict=True):
        body = request.body
        assert request.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer EMPTY"  # vLLM's placeholder when no key is set
        assert (body["model"], body["temperature"], body["max_tokens"]) == (MODEL, 0.0, 7)
        [message] = body["messages"]
        assert message["role"] == "user"
        image_part, text_part = message["content"]
        assert image_part["type"] == "image_url"
        decoded = _decode(image_part["image_url"]["url"])
        assert decoded.size == image.size
        assert decoded.convert("RGB").tobytes() == image.tobytes()  # PNG is lossless
        assert text_part == prompt.messages[0]["content"][1]  # {"type": "text", "text": ...} unchanged


def test_log_probabilities_give_p_yes_and_a_graded_confidence() -> None:
    prompts = [_prompt("Is there a pleural effusion?"), _prompt("What is shown?")]
    alternatives = {"Yes": -0.2, " yes": -2.5, "No": -1.9, "Maybe": -4.0}
    with StubOpenAIServer(reply=lambda body: "yes", top_logprobs=alternatives) as server:
        results = OpenAICompatGenerator(server.base_url, MODEL).generate(prompts)
        plain = OpenAICompatGenerator(server.base_url, MODEL, logprobs=False).generate(prompts[:1])
    yes, no = math.exp(-0.2) + math.exp(-2.5), math.exp(-1.9)
    assert results[0].yes_probability == pytest.approx(yes / (yes + no))
    assert results[1].yes_probability is None and results[1].confidence == pytest.approx(math.exp(-0.2))
    assert server.requests[0].body["logprobs"] is True and server.requests[0].body["top_logprobs"] == 5
    assert "logprobs" not in server.requests[2].body and plain[0].yes_probability is None


def test_text_only_prompt_sends_no_image_part() -> None:
    prompt = _prompt("Is there a pleural effusion?")
    with StubOpenAIServer() as server:
        [result] = OpenAICompatGenerator(server.base_url, MODEL).generate([prompt])
    assert result.text == "yes"
    [body] = server.bodies
    assert body["messages"][0]["content"] == [{"type": "text", "text": prompt.text}]


def test_results_keep_input_order_under_concurrency() -> None:
    questions = [f"What is shown? [q{i:02d}]" for i in range(16)]

    def echo_id(body: dict[str, Any]) -> str:
        match = re.search(r"\[(q\d+)\]", last_text(body))
        assert match is not None
        return match.group(1)

    with StubOpenAIServer(reply=echo_id, jitter_s=0.05) as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, concurrency=8)
        results = generator.generate([_prompt(q) for q in questions])
    assert [r.text for r in results] == [f"q{i:02d}" for i in range(16)]
    assert 1 < server.max_in_flight <= 8  # really concurrent, and bounded by the pool
    arrival = [echo_id(body) for body in server.bodies]
    assert sorted(arrival) == [r.text for r in results]  # one request per prompt, none repeated


@pytest.mark.parametrize(("status", "retry_after_ms"), [(500, None), (429, 1)])
def test_transient_failures_are_retried_by_the_sdk(status: int, retry_after_ms: int | None) -> None:
    # Without retry-after the SDK backs off about 0.5 s then 1 s; with it, the SDK waits what the server says.
    with StubOpenAIServer(fail_first=2, fail_status=status, retry_after_ms=retry_after_ms) as server:
        [result] = OpenAICompatGenerator(server.base_url, MODEL, max_retries=2).generate([_prompt("Any effusion?")])
    assert result.text == "yes"
    assert len(server.requests) == 3


def test_failures_without_retries_raise_generation_error_naming_the_server() -> None:
    with StubOpenAIServer(fail_first=2, fail_status=500) as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, max_retries=0)
        with pytest.raises(GenerationError) as info:
            generator.generate([_prompt("Any effusion?")])
    message = str(info.value)
    assert server.base_url in message and MODEL in message and "HTTP 500" in message
    assert "\n" not in message
    assert len(server.requests) == 1


def test_slow_server_raises_timeout_error() -> None:
    with StubOpenAIServer(delay_s=5.0) as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, timeout_s=0.3, max_retries=0)
        started = time.perf_counter()
        with pytest.raises(GenerationError, match="timeout_s") as info:
            generator.generate([_prompt("Any effusion?")])
        assert time.perf_counter() - started < 3.0
    assert server.base_url in str(info.value)


def test_connection_refused_raises_generation_error() -> None:
    base_url = f"http://127.0.0.1:{_free_port()}/v1"  # bound then released: nothing listens there
    generator = OpenAICompatGenerator(base_url, MODEL, max_retries=0)
    with pytest.raises(GenerationError, match="is the server running") as info:
        generator.generate([_prompt("Any effusion?")])
    assert base_url in str(info.value)


def test_empty_response_raises_generation_error() -> None:
    with StubOpenAIServer(empty=True) as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, max_retries=0)
        with pytest.raises(GenerationError, match="empty response"):
            generator.generate([_prompt("Any effusion?")])


def test_wrong_path_hints_at_base_url() -> None:
    with StubOpenAIServer() as server:
        generator = OpenAICompatGenerator(server.base_url.removesuffix("/v1"), MODEL, max_retries=0)
        with pytest.raises(GenerationError, match=r"HTTP 404.*/v1"):
            generator.generate([_prompt("Any effusion?")])


def test_image_count_mismatch_fails_before_any_request() -> None:
    good = _prompt("Any effusion?", _image(4, 4))
    broken = Prompt(messages=good.messages, images=(), task=good.task, question=good.question, domain=good.domain)
    with StubOpenAIServer() as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL)
        with pytest.raises(GenerationError, match="1 image part"):
            generator.generate([good, broken])
    assert server.requests == []


def test_api_key_comes_from_env_and_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_KEY", "sk-secret-123")
    with StubOpenAIServer() as server:
        generator = OpenAICompatGenerator(server.base_url, MODEL, api_key_env="STUB_KEY", extra_body={"top_k": 1})
        generator.generate([_prompt("Any effusion?")])
    [request] = server.requests
    assert request.headers["authorization"] == "Bearer sk-secret-123"
    assert request.body["top_k"] == 1
    assert "sk-secret" not in repr(generator) and "sk-secret" not in generator.name


def test_count_tokens_and_empty_batch() -> None:
    generator = OpenAICompatGenerator("http://127.0.0.1:9/v1", MODEL)
    assert generator.count_tokens("Small left pleural effusion.") == 5
    assert generator.generate([]) == []


def test_missing_openai_raises_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingExtraError) as info:
        OpenAICompatGenerator("http://127.0.0.1:9/v1", MODEL)
    assert "pip install" in str(info.value) and "mmedrag[openai]" in str(info.value)


def test_requests_about_one_image_go_out_together_at_the_configured_concurrency() -> None:
    """Interleaved questions about three images: sent grouped by image (so a server's prefix cache can hit), with
    exactly ``concurrency`` requests in flight while the server is slow, and answered in the input order."""
    images = [_image(24, 24, seed) for seed in range(3)]
    plan = [(i % 3, f"Is there an effusion? [q{i:02d}]") for i in range(12)]
    prompts = [_prompt(question, images[image]) for image, question in plan]

    def echo_id(body: dict[str, Any]) -> str:
        match = re.search(r"\[(q\d+)\]", last_text(body))
        assert match is not None
        return match.group(1)

    with StubOpenAIServer(reply=echo_id) as server:
        results = OpenAICompatGenerator(server.base_url, MODEL, concurrency=1).generate(prompts)
    arrival = [int(echo_id(body)[1:]) for body in server.bodies]
    assert [plan[i][0] for i in arrival] == [0] * 4 + [1] * 4 + [2] * 4  # adjacent by image, input order within
    assert [r.text for r in results] == [f"q{i:02d}" for i in range(12)]

    with StubOpenAIServer(reply=echo_id, delay_s=0.2) as server:
        results = OpenAICompatGenerator(server.base_url, MODEL, concurrency=4).generate(prompts)
    assert server.max_in_flight == 4  # the pool fills up to the configured concurrency, never beyond
    assert [r.text for r in results] == [f"q{i:02d}" for i in range(12)]
