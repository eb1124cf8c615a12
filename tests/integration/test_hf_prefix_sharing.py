"""Prefix sharing and one-pass closed answers in HFGenerator, on tiny random-init Gemma3, Qwen2.5-VL and LLaVA built
from config: prompts about one image put the question last, the shared path answers exactly like the unshared one,
and a misplaced cache is caught by the same comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmedrag.generation import prefix_cache
from mmedrag.generation.hf import HFGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Generation, Prompt, Query
from tiny_vlms import ARCHS
from vlm_prompts import QUESTIONS, REPORTS, TOLERANCE, assert_same, mixed_prompts, prompt, two_images

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images() -> tuple[Image.Image, Image.Image]:
    return two_images()


def _token_ids(generator: HFGenerator, prompt: Prompt) -> list[int]:
    text = generator.processor.apply_chat_template(list(prompt.messages), add_generation_prompt=True, tokenize=False)
    bos = generator.tokenizer.bos_token
    special = not (bos and text.startswith(bos))
    inputs = generator.processor(text=[text], images=[list(prompt.images)], add_special_tokens=special)
    return list(inputs["input_ids"][0])


@pytest.mark.parametrize("arch", ARCHS)
def test_two_questions_about_one_image_share_all_but_the_question(
    arch: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """Through the real chat template and processor (image tokens expanded), the common token prefix of two prompts
    covers the image, the role, every reference and the instruction; only the question and the template's closing
    tokens differ."""
    generator = HFGenerator(tiny_vlms[arch], max_new_tokens=1)
    a, b = (_token_ids(generator, prompt(q, images[0], REPORTS)) for q in (QUESTIONS[0], QUESTIONS[3]))
    common = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    decode = generator.tokenizer.decode
    shared, rest = decode(a[:common]), decode(a[common:])

    assert all(report in shared for report in REPORTS)
    assert shared.rstrip().endswith("Question:")  # the questions start with different words: all else is shared
    assert rest.lstrip().startswith(QUESTIONS[0])
    assert generator._image_token_id in a[:common]  # every image token is inside the shared part
    assert generator._image_token_id not in a[common:]
    assert len(a) - common <= generator.count_tokens(QUESTIONS[0]) + 8  # the question plus the template's tail


def _run(model: Path, prompts: list[Prompt], **options: Any) -> list[Generation]:
    return HFGenerator(model, **{"max_new_tokens": 5, "batch_size": 6, **options}).generate(prompts)


@pytest.mark.parametrize("closed_answer", ["generate", "first_token"])
@pytest.mark.parametrize("arch", ARCHS)
def test_shared_prefix_answers_exactly_like_the_unshared_path(
    arch: str, closed_answer: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    prompts = mixed_prompts(images)

    shared = _run(tiny_vlms[arch], prompts, share_prefix=True, closed_answer=closed_answer)
    plain = _run(tiny_vlms[arch], prompts, share_prefix=False, closed_answer=closed_answer)

    assert_same(shared, plain)
    pairs = list(zip(shared, plain, strict=True))
    prefixes = [g.meta["shared_prefix_tokens"] for g in shared]
    assert max(prefixes) > 100  # sharing really happened (image + three references)
    assert all(g.meta["shared_prefix_tokens"] == 0 for g in plain)
    prefill = [(s.meta["prefill_tokens_per_question"], p.meta["prefill_tokens_per_question"]) for s, p in pairs]
    assert any(ours < theirs for ours, theirs in prefill)
    # Groups of different images and reference sets shared one batch.
    batches: dict[tuple[int, float], set[int]] = {}
    for g in shared:
        batches.setdefault((g.meta["batch_size"], g.meta["padding_fraction"]), set()).add(
            g.meta["shared_prefix_tokens"]
        )
    assert any(len(prefix_sizes) > 1 for prefix_sizes in batches.values())


MUTATIONS = [(arch, "lost_token") for arch in ARCHS] + [("qwen2_5_vl", "no_rope_offset")]


@pytest.mark.parametrize(("arch", "mutation"), MUTATIONS)
def test_the_comparison_catches_a_wrong_prefix_cache(
    arch: str,
    mutation: str,
    tiny_vlms: dict[str, Path],
    images: tuple[Image.Image, Image.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The equality test above can fail: a cache that lost its last prefix token, or (Qwen2.5-VL) mrope positions
    continued without the image's offset, moves P(yes) by far more than its tolerance."""
    import torch

    prompts = [prompt(q, images[0], REPORTS) for q in (QUESTIONS[0], QUESTIONS[2], QUESTIONS[3])]
    plain = _run(tiny_vlms[arch], prompts, share_prefix=False)
    expand, prefill = prefix_cache.expand, prefix_cache.prefill

    def lost_token(prefixes: Any, layout: prefix_cache.SharedLayout, *static: Any) -> Any:
        cache = expand(prefixes, layout, *static)
        for layer in cache.layers:
            layer.keys[:, :, -1], layer.values[:, :, -1] = 0.0, 0.0
        return cache

    def no_rope_offset(*args: Any) -> Any:
        layers, delta = prefill(*args)
        return layers, torch.zeros_like(delta)

    if mutation == "lost_token":
        monkeypatch.setattr(prefix_cache, "expand", lost_token)
    else:
        monkeypatch.setattr(prefix_cache, "prefill", no_rope_offset)
    broken = _run(tiny_vlms[arch], prompts, share_prefix=True)

    gaps = [
        abs(b.yes_probability - p.yes_probability)
        for b, p in zip(broken, plain, strict=True)
        if p.yes_probability is not None
    ]
    assert max(gaps) > 10 * TOLERANCE


@pytest.mark.parametrize("arch", ARCHS)
def test_first_token_answers_closed_questions_in_one_pass(
    arch: str, tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    prompts = mixed_prompts(images)
    one_pass = _run(tiny_vlms[arch], prompts, closed_answer="first_token")
    decoded = _run(tiny_vlms[arch], prompts, closed_answer="generate")

    for fast, slow in zip(one_pass, decoded, strict=True):
        if slow.yes_probability is None:  # open questions are decoded the same way in both modes
            assert (fast.text, fast.meta["closed_answer"]) == (slow.text, "generate")
            continue
        assert fast.yes_probability == pytest.approx(slow.yes_probability, abs=TOLERANCE)  # kept for AUROC
        assert fast.text == ("yes" if fast.yes_probability >= 0.5 else "no")
        assert (fast.completion_tokens, fast.meta["finish_reason"]) == (1, "first_token")
    # The first image's group (three closed questions, one open) ran as one group: one prefix for both modes.
    group = [g for p, g in zip(prompts, one_pass, strict=True) if p.images[0] is images[0] and len(p.references) == 3]
    assert {g.meta["closed_answer"] for g in group} == {"first_token", "generate"}
    assert len({g.meta["shared_prefix_tokens"] for g in group}) == 1 and group[0].meta["shared_prefix_tokens"] > 100


def test_a_batch_whose_image_would_fall_outside_the_prefix_runs_unshared(
    tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image]
) -> None:
    """Fallback: when one row's uncached chunk would have to hold image tokens (here: a long question next to a
    prompt whose image sits right before a short text), the batch runs unshared and says so."""
    long_question = "Is there " + " ".join(["a pleural effusion or"] * 40) + " a pneumothorax?"
    prompts = [
        PromptBuilder().build(Query(text=q, image=images[0]), Context(), "radiology")
        for q in (long_question, "Is it?", "Is there a pleural effusion?")
    ]
    prompts.append(prompt("Is it?", images[1], REPORTS[:1]))
    prompts.append(prompt("Is the heart enlarged?", images[1], REPORTS[:1]))

    shared = _run(tiny_vlms["llava"], prompts, share_prefix=True, sort_window=1)
    plain = _run(tiny_vlms["llava"], prompts, share_prefix=False, sort_window=1)

    assert_same(shared, plain)
    assert all(g.meta["shared_prefix_tokens"] == 0 for g in shared)


def test_sharing_under_a_lora_adapter_matches_the_unshared_path(
    tiny_vlms: dict[str, Path], images: tuple[Image.Image, Image.Image], tmp_path: Path
) -> None:
    """Groups are formed per adapter, and the prefix is prefilled with that adapter active."""
    import dataclasses

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(5)
    adapter = tmp_path / "lora"
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_vlms["qwen2_5_vl"]), config).save_pretrained(
        adapter
    )
    base = [prompt(q, images[0], REPORTS[:2]) for q in QUESTIONS]
    prompts = base + [dataclasses.replace(p, adapter=str(adapter)) for p in base]

    shared = _run(tiny_vlms["qwen2_5_vl"], prompts, share_prefix=True, batch_size=8)
    plain = _run(tiny_vlms["qwen2_5_vl"], prompts, share_prefix=False, batch_size=8)

    assert_same(shared, plain)
    assert all(g.meta["shared_prefix_tokens"] > 50 for g in shared)
    assert [g.meta["adapter"] for g in shared] == [None] * 4 + [str(adapter)] * 4
    assert shared[0].yes_probability != pytest.approx(shared[4].yes_probability, abs=TOLERANCE)  # the adapter acts
