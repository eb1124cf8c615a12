"""Which decode cache a model gets: the static path only where equality was proven, and the reason otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mmedrag.generation.static_decode import PROVEN, plan


def _model(model_type: str) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(model_type=model_type))


CPU, CUDA = SimpleNamespace(type="cpu"), SimpleNamespace(type="cuda")


@pytest.mark.parametrize("requested", ["static", "compiled"])
def test_an_unproven_architecture_decodes_dynamically_and_says_why(requested: str) -> None:
    cache, note = plan(_model("mllama"), requested, CUDA)
    assert cache == "dynamic"
    assert note is not None and "mllama" in note and requested in note


def test_compiled_decoding_needs_cuda_and_falls_back_to_the_static_cache() -> None:
    assert plan(_model("llava"), "compiled", CUDA) == ("compiled", None)
    cache, note = plan(_model("llava"), "compiled", CPU)
    assert cache == "static" and note is not None and "CUDA" in note


def test_the_dynamic_cache_and_proven_static_caches_are_used_as_asked() -> None:
    assert plan(_model("mllama"), "dynamic", CPU) == ("dynamic", None)
    assert {"gemma3", "qwen2_5_vl", "llava"} <= PROVEN
    assert all(plan(_model(kind), "static", CPU) == ("static", None) for kind in PROVEN)
