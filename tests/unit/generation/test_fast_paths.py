"""Which fast paths a model gets: each only where equality was proven, every refusal with its reason."""

from __future__ import annotations

import pytest

from mmedrag.generation.fast_paths import PROVEN_MODEL_TYPES, PROVEN_PROCESSORS, FastPaths, plan


@pytest.mark.parametrize("decode", ["static", "compiled"])
def test_an_unproven_architecture_runs_every_path_plain_and_says_why(decode: str) -> None:
    granted = plan("mllama", "MllamaProcessor", 16, 64, decode, "cuda")

    assert (granted.prefill_batch, granted.image_cache, granted.decode_cache) == (1, 0, "dynamic")
    assert set(granted.fallbacks) == {"prefill", "image_cache", "decode"}
    assert "mllama" in granted.fallbacks["prefill"] and "MllamaProcessor" in granted.fallbacks["image_cache"]
    assert decode in granted.fallbacks["decode"]


def test_compiled_decoding_needs_cuda_and_falls_back_to_the_static_cache() -> None:
    assert plan("llava", "LlavaProcessor", 16, 64, "compiled", "cuda") == FastPaths(16, 64, "compiled")
    granted = plan("llava", "LlavaProcessor", 16, 64, "compiled", "cpu")
    assert granted.decode_cache == "static" and list(granted.fallbacks) == ["decode"]
    assert "CUDA" in granted.fallbacks["decode"]


def test_proven_models_get_what_they_ask_and_the_plain_path_is_never_refused() -> None:
    assert {"gemma3", "qwen2_5_vl", "llava"} <= PROVEN_MODEL_TYPES
    assert {"Gemma3Processor", "Qwen2_5_VLProcessor", "LlavaProcessor"} <= PROVEN_PROCESSORS
    for model_type in PROVEN_MODEL_TYPES:
        assert plan(model_type, "LlavaProcessor", 8, 32, "static", "cpu") == FastPaths(8, 32, "static")
    assert plan("mllama", "MllamaProcessor", 1, 0, "dynamic", "cpu") == FastPaths(1, 0, "dynamic")
