"""One contract for every generator backend: same prompts in, one Generation per prompt out, in order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import make_image
from fakes import EchoGenerator
from mmedrag.backends import GENERATORS
from mmedrag.generation.base import Generator, create_generator
from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Generation, Hit, Query, Record

CONTEXT = Context(hits=(Hit(Record(id="c1", text="Small left pleural effusion. Heart normal."), 0.7, 1),))


def prompts() -> list:
    builder = PromptBuilder()
    return [
        builder.build(Query(text="Is there a pleural effusion?", image=make_image(1)), CONTEXT, "radiology"),
        builder.build(Query(text="Where is the effusion?", image=make_image(2)), Context(), "radiology"),
        builder.build(Query(text="", image=make_image(3)), CONTEXT, "radiology"),
    ]


def _hf(tmp: Path) -> Iterator[Generator]:
    pytest.importorskip("transformers")
    from tiny_vlms import build_tiny_vlm

    yield create_generator(
        {"kind": "hf", "model": str(build_tiny_vlm("qwen2_5_vl", tmp / "vlm")), "max_new_tokens": 8, "batch_size": 2}
    )


def _openai(tmp: Path) -> Iterator[Generator]:
    pytest.importorskip("openai")
    from stub_openai_server import StubOpenAIServer

    with StubOpenAIServer() as server:
        yield create_generator(f"openai:stub@{server.base_url}")


BACKENDS: dict[str, Callable[[Path], Iterator[Generator]]] = {
    "extractive": lambda tmp: iter([ExtractiveGenerator()]),
    "echo": lambda tmp: iter([EchoGenerator()]),
    "hf": _hf,
    "openai": _openai,
}


def test_every_registered_generator_kind_has_a_contract_case() -> None:
    missing = set(GENERATORS.names()) - set(BACKENDS)
    assert not missing, f"add {sorted(missing)} to BACKENDS so the contract runs on it"


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def generator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Generator]:
    if request.param in {"hf", "openai"}:
        request.applymarker(pytest.mark.integration)
    yield from BACKENDS[request.param](tmp_path)


def test_one_generation_per_prompt_in_order(generator: Generator) -> None:
    batch = prompts()
    outputs = generator.generate(batch)
    assert len(outputs) == len(batch) and all(isinstance(o, Generation) and isinstance(o.text, str) for o in outputs)
    assert [o.text for o in generator.generate(batch[1:2])] == [outputs[1].text]  # deterministic, order kept
    assert isinstance(generator, Generator) and generator.name


def test_count_tokens_grows_with_text(generator: Generator) -> None:
    short, long = generator.count_tokens("No effusion."), generator.count_tokens("No effusion. " * 20)
    assert 0 < short < long


def test_empty_batch_gives_no_generations(generator: Generator) -> None:
    assert generator.generate([]) == []
