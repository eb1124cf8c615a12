from __future__ import annotations

from pathlib import Path

from conftest import make_image
from fakes import EchoGenerator
from mmedrag.generation.cache import CachedGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Hit, Query, Record


def prompt(question: str, image_seed: int, reference: str = "No effusion."):
    context = Context(hits=(Hit(Record(id="c1", text=reference), 0.5, 1),))
    return PromptBuilder().build(Query(text=question, image=make_image(image_seed)), context, "radiology")


def test_cached_answers_are_returned_without_calling_the_model_again(tmp_path: Path) -> None:
    inner = EchoGenerator()
    cached = CachedGenerator(inner, tmp_path / "cache.sqlite")
    batch = [prompt("Is there an effusion?", 1), prompt("Is there an effusion?", 2)]
    first = cached.generate(batch)
    again = CachedGenerator(EchoGenerator(), tmp_path / "cache.sqlite").generate(batch)  # a new process, same file
    assert [g.text for g in again] == [g.text for g in first]
    assert len(inner.calls) == 1 and (cached.hits, cached.misses) == (0, 2)


def test_only_misses_are_generated_and_order_is_kept(tmp_path: Path) -> None:
    inner = EchoGenerator()
    cached = CachedGenerator(inner, tmp_path / "c.sqlite")
    cached.generate([prompt("A?", 1)])
    out = cached.generate([prompt("B?", 1), prompt("A?", 1), prompt("C?", 1)])
    assert [o.text.split("|")[1] for o in out] == ["B?", "A?", "C?"]
    assert [p.question for p in inner.calls[-1]] == ["B?", "C?"]


def test_anything_the_model_sees_or_its_settings_change_the_key(tmp_path: Path) -> None:
    inner = EchoGenerator()
    cached = CachedGenerator(inner, tmp_path / "c.sqlite", settings={"max_new_tokens": 8})
    cached.generate([prompt("A?", 1)])
    cached.generate([prompt("A?", 2)])  # other pixels
    cached.generate([prompt("A?", 1, reference="Large effusion.")])  # other reference
    assert cached.misses == 3
    other = CachedGenerator(inner, tmp_path / "c.sqlite", settings={"max_new_tokens": 16})
    other.generate([prompt("A?", 1)])
    assert other.misses == 1
