"""HFGenerator's fast paths (issue 24) answer exactly like the plain path, on tiny random-init Gemma3, Qwen2.5-VL and
LLaVA built from config: batched group prefills, processed images reused per image, and the static KV cache, with
mixed open/closed batches and LoRA adapters. Greedy tokens identical, P(yes) within 1e-6."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmedrag.generation import prefix_cache
from mmedrag.generation.hf import HFGenerator
from tiny_vlms import ARCHS
from vlm_prompts import QUESTIONS, REPORTS, TOLERANCE, assert_same, mixed_prompts, prompt, two_images

pytestmark = pytest.mark.integration

PLAIN = {"share_prefix": False, "image_cache": 0, "decode_cache": "dynamic", "prefill_batch": 1}
# Every fast path at once; "compiled" needs CUDA, so on CPU it runs (and is checked) as the static cache.
FAST = {"share_prefix": True, "image_cache": 64, "decode_cache": "compiled", "prefill_batch": 16}


@pytest.fixture(scope="module")
def images() -> tuple[Image.Image, Image.Image]:
    return two_images()


def _run(model: Path, prompts: list[Any], **options: Any) -> list[Any]:
    return HFGenerator(model, **{"max_new_tokens": 5, "batch_size": 6, **options}).generate(prompts)


# Gemma3 also decodes every row (its sliding-window layers read the full static layers through the mask).
CASES = [(arch, "first_token") for arch in ARCHS] + [("gemma3", "generate")]


@pytest.mark.parametrize(("arch", "closed_answer"), CASES)
def test_fast_paths_answer_exactly_like_the_plain_path(
    arch: str, closed_answer: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """One-pass closed answers next to decoded open ones: the batch's rows split after the first step, so both the
    static cache written from a shared prefix and the one rebuilt for the decoded rows are exercised."""
    prompts = mixed_prompts(images)

    fast = _run(tiny_vlms[arch], prompts, closed_answer=closed_answer, **FAST)
    plain = _run(tiny_vlms[arch], prompts, closed_answer=closed_answer, **PLAIN)

    assert_same(fast, plain)
    modes = {"first_token", "generate"} if closed_answer == "first_token" else {"generate"}
    assert {g.meta["closed_answer"] for g in fast} == modes
    assert {g.meta["decode"] for g in fast} == {"static"}
    assert all(g.meta["fallback"].startswith("compiled decode needs CUDA") for g in fast)  # the only fallback
    assert {g.meta["decode"] for g in plain} == {"dynamic"} and all("fallback" not in g.meta for g in plain)
    # Several groups (different images and reference sets) were prefilled in one forward.
    prefixes: dict[tuple[int, float], set[int]] = {}
    for g in fast:
        prefixes.setdefault((g.meta["batch_size"], g.meta["padding_fraction"]), set()).add(
            g.meta["shared_prefix_tokens"]
        )
        assert g.meta["prefix_prefills"] <= 1
    assert any(len({size for size in sizes if size}) > 1 for sizes in prefixes.values())


def test_a_batched_prefill_with_rows_swapped_is_caught(
    tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above can fail: a batched prefill whose rows went to the wrong groups (the first image's
    prefix under the second image's questions) moves P(yes) far beyond the tolerance."""
    first, second = images
    prompts = [prompt(q, first, REPORTS) for q in (QUESTIONS[0], QUESTIONS[2])]
    prompts += [prompt(q, second, REPORTS) for q in (QUESTIONS[0], QUESTIONS[2])]
    plain = _run(tiny_vlms["llava"], prompts, **PLAIN)
    prefill = prefix_cache.prefill

    def swapped(*args: Any) -> Any:
        layers, delta = prefill(*args)
        return layers[::-1], delta.flip(0)

    monkeypatch.setattr(prefix_cache, "prefill", swapped)
    broken = _run(tiny_vlms["llava"], prompts, **FAST)

    assert all(g.meta["shared_prefix_tokens"] > 100 for g in broken)
    gaps = [abs(b.yes_probability - p.yes_probability) for b, p in zip(broken, plain, strict=True)]
    assert max(gaps) > 10 * TOLERANCE


def test_fast_paths_under_a_lora_adapter_match_the_plain_path(
    tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image], tmp_path: Path
) -> None:
    """Two groups per adapter (two images) share one prefill forward with the adapter active, and the static cache
    decodes under it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(7)
    adapter = tmp_path / "lora"
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_vlms["qwen2_5_vl"]), config).save_pretrained(
        adapter
    )
    base = [prompt(q, image, REPORTS[:2]) for image in images for q in (QUESTIONS[0], QUESTIONS[1])]
    prompts = base + [dataclasses.replace(p, adapter=str(adapter)) for p in base]

    fast = _run(tiny_vlms["qwen2_5_vl"], prompts, closed_answer="first_token", **FAST)
    plain = _run(tiny_vlms["qwen2_5_vl"], prompts, closed_answer="first_token", **PLAIN)

    assert_same(fast, plain)
    assert all(g.meta["shared_prefix_tokens"] > 50 and g.meta["prefix_prefills"] == 1 for g in fast)
    assert [g.meta["adapter"] for g in fast] == [None] * 4 + [str(adapter)] * 4
    assert fast[0].yes_probability != pytest.approx(fast[4].yes_probability, abs=TOLERANCE)  # the adapter acts


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_image_processing_gives_the_processors_own_tensors(
    arch: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """A batch of prompts about two images (one of them asked three times) processed through the cache: every
    tensor equals the uncached processor's, and each distinct image was processed once, in this call and the next."""
    import torch

    cached, uncached = HFGenerator(tiny_vlms[arch], image_cache=8), HFGenerator(tiny_vlms[arch], image_cache=0)
    first, second = images
    prompts = [prompt(q, first, REPORTS) for q in QUESTIONS[:3]] + [prompt(QUESTIONS[0], second, REPORTS[:1])]
    texts = [cached._render(p) for p in prompts]

    got = cached._encode(texts, prompts)
    want = uncached._encode(texts, prompts)
    again = cached._encode(texts[::-1], prompts[::-1])

    assert uncached.image_cache is None and cached.image_cache is not None
    assert sorted(got) == sorted(want)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    assert (cached.image_cache.misses, cached.image_cache.hits) == (2, 2 + 4)
    assert torch.equal(again["input_ids"], uncached._encode(texts[::-1], prompts[::-1])["input_ids"])

    # The next batch's images, processed on the worker thread before the batch asks for them: the same tensors.
    upcoming = [prompt(QUESTIONS[0], image.rotate(90, expand=True), REPORTS) for image in images]
    cached.image_cache.prefetch([p.images[0] for p in upcoming])
    texts = [cached._render(p) for p in upcoming]
    got, want = cached._encode(texts, upcoming), uncached._encode(texts, upcoming)
    assert all(torch.equal(got[key], want[key]) for key in want)
    assert (cached.image_cache.misses, cached.image_cache.hits) == (2, 6 + 2)


def test_batches_of_one_shape_decode_from_one_kept_static_cache(
    tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """The compiled decode step needs its KV cache at fixed addresses: the second batch of the same shape reuses the
    first one's static cache (reset), and still answers like the plain path."""
    first, second = images
    batches = [[prompt(q, image, REPORTS[:2]) for q in QUESTIONS] for image in (first, second)]
    fast = HFGenerator(tiny_vlms["llava"], max_new_tokens=5, batch_size=4, **FAST)
    plain = HFGenerator(tiny_vlms["llava"], max_new_tokens=5, batch_size=4, **PLAIN)

    answers = [fast.generate(batches[0])]
    kept = fast._static._kept
    answers.append(fast.generate(batches[1]))

    assert kept is not None and fast._static._kept is kept
    for got, batch in zip(answers, batches, strict=True):
        assert_same(got, plain.generate(batch))


@pytest.mark.gpu
@pytest.mark.parametrize("arch", ARCHS)
def test_compiled_decode_on_cuda_answers_like_the_plain_path(
    arch: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """On CUDA, the static cache with a torch.compile-d decode step (CUDA graphs), in float32 so that rounding stays
    at the CPU tests' level: the proof the compiled path still owes (run with ``pytest -m gpu``)."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    prompts = mixed_prompts(images)
    cuda = {"device": "cuda", "dtype": "float32"}

    fast = _run(tiny_vlms[arch], prompts, closed_answer="generate", **cuda, **FAST)
    again = _run(tiny_vlms[arch], prompts, closed_answer="generate", **cuda, **FAST)  # the captured graphs replayed
    plain = _run(tiny_vlms[arch], prompts, closed_answer="generate", **cuda, **PLAIN)

    assert {g.meta["decode"] for g in fast} == {"compiled"} and all("fallback" not in g.meta for g in fast)
    assert_same(fast, plain)
    assert_same(again, plain)
