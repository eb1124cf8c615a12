"""HFGenerator on tiny random-init VLMs (Gemma3 = MedGemma's architecture, Qwen2.5-VL, LLaVA) saved to disk and loaded
back through the Auto classes: batching, token accounting, yes-probability, load failures and LoRA adapters."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmedrag.errors import ConfigError, GenerationError, MissingExtraError
from mmedrag.generation.base import Generator
from mmedrag.generation.hf import HFGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Prompt, Query
from tiny_vlms import ARCHS

pytestmark = pytest.mark.integration

REAL_IMAGE = Path(__file__).resolve().parents[3] / "shared" / "data" / "vqa_rad" / "images" / "synpic54610.jpg"
MODEL_CLASSES = {
    "gemma3": "Gemma3ForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration",
}
QUESTIONS = (
    "Is there a pleural effusion?",
    "Where is the lesion located in this image of the chest?",
    "Is the heart enlarged?",
)


@pytest.fixture(scope="session")
def image() -> Image.Image:
    if REAL_IMAGE.is_file():
        with Image.open(REAL_IMAGE) as img:
            return img.convert("RGB")
    rng = random.Random(0)
    return Image.frombytes("RGB", (96, 80), bytes(rng.randrange(256) for _ in range(96 * 80 * 3)))


def _prompt(question: str, image: Image.Image | None = None) -> Prompt:
    return PromptBuilder().build(Query(text=question, image=image), Context(), "radiology")


def _official_inputs(generator: HFGenerator, prompt: Prompt) -> Any:
    """Inputs from transformers' own one-step path (images inside the messages), independent of HFGenerator's code."""
    images = iter(prompt.images)
    messages = [
        {
            "role": message["role"],
            "content": [
                {**part, "image": next(images)} if part["type"] == "image" else part for part in message["content"]
            ],
        }
        for message in prompt.messages
    ]
    return generator.processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )


def _first_piece_ids(tokenizer: Any, spellings: tuple[str, ...]) -> set[int]:
    return {tokenizer(s, add_special_tokens=False)["input_ids"][0] for s in spellings}


@pytest.mark.parametrize("arch", ARCHS)
def test_loads_through_auto_classes_and_batches_like_single_prompts(
    arch: str, tiny_vlms: dict[str, Path], image: Image.Image
) -> None:
    generator = HFGenerator(tiny_vlms[arch], max_new_tokens=6, batch_size=3)
    prompts = [_prompt(q, image) for q in QUESTIONS]

    batched = generator.generate(prompts)
    generator.batch_size = 1
    single = generator.generate(prompts)

    assert isinstance(generator, Generator)
    assert generator.name == f"hf:{tiny_vlms[arch]}"
    assert type(generator.model).__name__ == MODEL_CLASSES[arch]
    assert len(batched) == 3
    for result in batched:
        assert isinstance(result.text, str)
        assert 0 < result.completion_tokens <= 6
        assert result.meta["model"] == str(tiny_vlms[arch])
    # Prompts differ in length, so the batch is left-padded; greedy answers must not depend on the padding.
    assert [r.text for r in batched] == [r.text for r in single]
    assert [r.completion_tokens for r in batched] == [r.completion_tokens for r in single]
    # prompt_tokens counts exactly what transformers' own chat-template path feeds the model (one BOS, no padding).
    expected = [int(_official_inputs(generator, p)["attention_mask"].sum()) for p in prompts]
    assert [r.prompt_tokens for r in batched] == expected
    assert len(set(expected)) > 1


@pytest.mark.parametrize("arch", ARCHS)
def test_yes_probability_only_for_closed_prompts(arch: str, tiny_vlms: dict[str, Path], image: Image.Image) -> None:
    generator = HFGenerator(tiny_vlms[arch], max_new_tokens=2)
    closed, open_, text_only = _prompt(QUESTIONS[0], image), _prompt(QUESTIONS[1], image), _prompt(QUESTIONS[2])
    assert (closed.task, open_.task, text_only.task) == ("closed", "open", "closed")

    results = generator.generate([closed, open_, text_only])

    assert results[0].yes_probability is not None and 0.0 <= results[0].yes_probability <= 1.0
    assert results[1].yes_probability is None
    assert results[2].yes_probability is not None and 0.0 <= results[2].yes_probability <= 1.0


def test_yes_probability_comes_from_first_step_logits(tiny_vlms: dict[str, Path], image: Image.Image) -> None:
    import torch

    generator = HFGenerator(tiny_vlms["gemma3"], max_new_tokens=3)
    prompt = _prompt(QUESTIONS[0], image)
    tokenizer = generator.processor.tokenizer
    yes = _first_piece_ids(tokenizer, ("yes", "Yes", " yes", " Yes"))
    no = _first_piece_ids(tokenizer, ("no", "No", " no", " No"))
    assert len(yes) == len(no) == 4 and not yes & no

    with torch.no_grad():
        logits = generator.model(**_official_inputs(generator, prompt)).logits[0, -1]
    probabilities = logits.float().softmax(dim=-1)
    p_yes, p_no = float(probabilities[sorted(yes)].sum()), float(probabilities[sorted(no)].sum())

    result = generator.generate([prompt])[0]
    assert result.yes_probability == pytest.approx(p_yes / (p_yes + p_no), abs=1e-5)


def test_max_new_tokens_bounds_completion_and_greedy_extends_the_same_answer(
    tiny_vlms: dict[str, Path], image: Image.Image
) -> None:
    prompts = [_prompt(QUESTIONS[1], image), _prompt(QUESTIONS[1])]
    short = HFGenerator(tiny_vlms["qwen2_5_vl"], max_new_tokens=1).generate(prompts)
    longer = HFGenerator(tiny_vlms["qwen2_5_vl"], max_new_tokens=4).generate(prompts)

    assert all(r.completion_tokens == 1 for r in short)  # a random model never emits EOS first, so exactly 1
    assert all(r.completion_tokens <= 4 for r in longer)
    assert all(r.meta["finish_reason"] == "length" for r in short)
    for first, extended in zip(short, longer, strict=True):
        assert extended.text.startswith(first.text)


def test_completion_stops_at_eos_and_counts_it(tiny_vlms: dict[str, Path], image: Image.Image, tmp_path: Path) -> None:
    """Make one prompt's first greedy token an EOS (via generation_config.json): in a batch, that row ends right there
    (its padding is not counted) while the other row runs on."""
    import shutil

    import torch

    prompts = [_prompt(QUESTIONS[0], image), _prompt(QUESTIONS[1], image)]
    probe = HFGenerator(tiny_vlms["gemma3"], max_new_tokens=5)
    with torch.no_grad():
        firsts = [int(probe.model(**_official_inputs(probe, p)).logits[0, -1].argmax()) for p in prompts]
    assert firsts[0] != firsts[1]
    folder = shutil.copytree(tiny_vlms["gemma3"], tmp_path / "gemma-early-eos")
    generation_config = json.loads((folder / "generation_config.json").read_text())
    generation_config["eos_token_id"] = [firsts[1]]
    (folder / "generation_config.json").write_text(json.dumps(generation_config))

    runs_on, stops = HFGenerator(folder, max_new_tokens=5, batch_size=2).generate(prompts)

    assert (stops.completion_tokens, stops.meta["finish_reason"]) == (1, "stop")
    assert stops.text == probe.processor.tokenizer.decode([firsts[1]], skip_special_tokens=True).strip()
    assert runs_on.completion_tokens > 1


def test_mixed_batch_keeps_order_and_matches_single_calls(tiny_vlms: dict[str, Path], image: Image.Image) -> None:
    generator = HFGenerator(tiny_vlms["gemma3"], max_new_tokens=4, batch_size=4)
    prompts = [_prompt(QUESTIONS[0], image), _prompt(QUESTIONS[1]), _prompt(QUESTIONS[2], image), _prompt("Is it?")]

    together = generator.generate(prompts)
    alone = [generator.generate([p])[0] for p in prompts]

    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.prompt_tokens for r in together] == [r.prompt_tokens for r in alone]
    assert together[1].prompt_tokens < together[0].prompt_tokens  # no image tokens in the text-only prompt
    assert generator.generate([]) == []


@pytest.mark.parametrize("arch", ARCHS)
def test_count_tokens_uses_the_model_tokenizer(arch: str, tiny_vlms: dict[str, Path]) -> None:
    generator = HFGenerator(tiny_vlms[arch])
    tokenizer = generator.processor.tokenizer
    text = "Small left pleural effusion. Heart size is normal; lungs are clear."

    assert generator.count_tokens(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert generator.count_tokens("") == 0


def test_missing_model_folder_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(GenerationError, match="no-such-model") as info:
        HFGenerator(missing)
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)


def test_folder_that_is_not_a_vlm_fails_clearly(tmp_path: Path, tiny_vlms: dict[str, Path]) -> None:
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = tmp_path / "text-only-llama"
    tokenizer = AutoTokenizer.from_pretrained(tiny_vlms["llava"])
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    with pytest.raises(GenerationError, match="AutoModelForImageTextToText") as info:
        HFGenerator(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)


def test_unreachable_hub_id_says_to_download_it() -> None:
    with pytest.raises(GenerationError, match="download it where the hub is reachable") as info:
        HFGenerator("mmedrag-tests/no-such-vlm")
    assert "mmedrag-tests/no-such-vlm" in str(info.value)


def test_invalid_device_or_dtype_is_a_config_error(tiny_vlms: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="dtype"):
        HFGenerator(tiny_vlms["llava"], dtype="int3")
    with pytest.raises(ConfigError, match="device"):
        HFGenerator(tiny_vlms["llava"], device="not-a-device")
    with pytest.raises(ConfigError):
        HFGenerator(tiny_vlms["llava"], batch_size=0)


@pytest.fixture(scope="session")
def gemma_adapter(tiny_vlms: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter trained (well, randomly initialised: both A and B non-zero) on the tiny Gemma3."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(1)
    base = AutoModelForImageTextToText.from_pretrained(tiny_vlms["gemma3"])
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapters") / "gemma3-lora"
    get_peft_model(base, config).save_pretrained(folder)
    return folder


def test_adapter_loads_and_changes_the_model(
    tiny_vlms: dict[str, Path], gemma_adapter: Path, image: Image.Image
) -> None:
    base = HFGenerator(tiny_vlms["gemma3"], max_new_tokens=3)
    tuned = HFGenerator(tiny_vlms["gemma3"], adapter=gemma_adapter, max_new_tokens=3)
    prompt = _prompt(QUESTIONS[0], image)

    result, reference = tuned.generate([prompt])[0], base.generate([prompt])[0]

    assert type(tuned.model).__name__.startswith("PeftModel")
    assert tuned.name == f"hf:{tiny_vlms['gemma3']}+{gemma_adapter}"
    assert result.meta["adapter"] == str(gemma_adapter)
    assert result.yes_probability is not None and reference.yes_probability is not None
    assert result.yes_probability != pytest.approx(reference.yes_probability, abs=1e-6)


def test_adapter_on_another_architecture_names_both(tiny_vlms: dict[str, Path], gemma_adapter: Path) -> None:
    with pytest.raises(GenerationError) as info:
        HFGenerator(tiny_vlms["llava"], adapter=gemma_adapter)
    message = str(info.value)
    assert str(gemma_adapter) in message and str(tiny_vlms["llava"]) in message


def test_adapter_that_would_load_silently_on_another_architecture_is_refused(
    tiny_vlms: dict[str, Path], tmp_path: Path
) -> None:
    """Gemma3's SigLIP and LLaVA's CLIP towers share module names and (here) shapes: PEFT alone would accept it."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForImageTextToText

    vision_only = LoraConfig(r=2, target_modules=r".*vision_tower.*\.(q_proj|v_proj)", init_lora_weights=False)
    base = AutoModelForImageTextToText.from_pretrained(tiny_vlms["gemma3"])
    get_peft_model(base, vision_only).save_pretrained(tmp_path / "siglip-lora")
    llava = AutoModelForImageTextToText.from_pretrained(tiny_vlms["llava"])
    PeftModel.from_pretrained(llava, tmp_path / "siglip-lora")  # the trap: no error, no warning

    with pytest.raises(GenerationError, match="trained on a gemma3 model and this is llava") as info:
        HFGenerator(tiny_vlms["llava"], adapter=tmp_path / "siglip-lora")
    assert str(tmp_path / "siglip-lora") in str(info.value) and str(tiny_vlms["llava"]) in str(info.value)


@pytest.mark.parametrize("edit", ["extra_weight", "missing_weight", "unknown_base_other_arch"])
def test_adapter_whose_weights_do_not_fit_is_refused(
    edit: str, tiny_vlms: dict[str, Path], gemma_adapter: Path, tmp_path: Path
) -> None:
    """Without a resolvable base model the weights themselves must reveal the mismatch (PEFT alone ignores some)."""
    from safetensors.torch import load_file, save_file

    folder = tmp_path / f"adapter-{edit}"
    folder.mkdir()
    config = json.loads((gemma_adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "mmedrag-tests/not-cached-base"  # hub id not in the cache: no config check
    (folder / "adapter_config.json").write_text(json.dumps(config))
    weights = load_file(gemma_adapter / "adapter_model.safetensors")
    layer0 = next(key for key in weights if ".language_model.layers.0.self_attn.q_proj.lora_A" in key)
    if edit == "extra_weight":  # as if trained on a deeper model: a layer this model does not have
        weights[layer0.replace("layers.0.", "layers.7.")] = weights[layer0].clone()
    elif edit == "missing_weight":
        del weights[layer0]
    save_file(weights, folder / "adapter_model.safetensors")
    model = tiny_vlms["qwen2_5_vl" if edit == "unknown_base_other_arch" else "gemma3"]

    with pytest.raises(GenerationError) as info:
        HFGenerator(model, adapter=folder)
    assert str(folder) in str(info.value) and str(model) in str(info.value)


def test_adapter_folder_without_config_is_refused(tiny_vlms: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(GenerationError, match="adapter_config.json"):
        HFGenerator(tiny_vlms["gemma3"], adapter=tmp_path)


def test_missing_peft_names_the_train_extra(
    tiny_vlms: dict[str, Path], gemma_adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(MissingExtraError, match=r"mmedrag\[train\]"):
        HFGenerator(tiny_vlms["gemma3"], adapter=gemma_adapter)


def test_module_imports_without_torch() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None\n"
        "from mmedrag.errors import MissingExtraError\n"
        "from mmedrag.generation.hf import HFGenerator\n"
        "try:\n    HFGenerator('x')\nexcept MissingExtraError as e:\n    print('hint', 'mmedrag[hf]' in str(e))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "hint True"


def test_each_prompt_runs_with_its_own_adapter_or_the_base(
    tiny_vlms: dict[str, Path], gemma_adapter: Path, image: Image.Image, tmp_path: Path
) -> None:
    """Per-domain adapters: one generator, prompts naming different LoRA folders, answers as if each were alone."""
    import dataclasses

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(7)
    other = tmp_path / "other-lora"
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(AutoModelForImageTextToText.from_pretrained(tiny_vlms["gemma3"]), config).save_pretrained(other)
    prompt = _prompt(QUESTIONS[0], image)
    mixed = HFGenerator(tiny_vlms["gemma3"], max_new_tokens=2)
    results = mixed.generate(
        [
            dataclasses.replace(prompt, adapter=str(gemma_adapter)),
            prompt,
            dataclasses.replace(prompt, adapter=str(other)),
        ]
    )
    alone = [
        HFGenerator(tiny_vlms["gemma3"], adapter=gemma_adapter, max_new_tokens=2).generate([prompt])[0],
        HFGenerator(tiny_vlms["gemma3"], max_new_tokens=2).generate([prompt])[0],
        HFGenerator(tiny_vlms["gemma3"], adapter=other, max_new_tokens=2).generate([prompt])[0],
    ]
    for got, want in zip(results, alone, strict=True):
        assert got.yes_probability == pytest.approx(want.yes_probability, abs=1e-5)
    assert [r.meta["adapter"] for r in results] == [str(gemma_adapter), None, str(other)]
    assert len({round(r.yes_probability, 6) for r in results}) == 3


def test_a_vlm_answer_is_graded_with_its_probability_as_confidence(
    tiny_vlms: dict[str, Path], image: Image.Image
) -> None:
    from mmedrag.pipeline import RAGPipeline

    generator = HFGenerator(tiny_vlms["gemma3"], closed_answer="first_token")
    lean = RAGPipeline(generator, answer_weak="lean").answer(Query(text=QUESTIONS[0], image=image))
    # No reference states anything: the model's own reading of the image, weak, with P(its answer) as confidence.
    assert lean.grade == "weak" and lean.text in ("yes", "no") and lean.yes_probability is not None
    assert lean.confidence == pytest.approx(lean.yes_probability if lean.text == "yes" else 1 - lean.yes_probability)
    assert "model's own reading of the image" in lean.note
    withheld = RAGPipeline(generator).answer(Query(text=QUESTIONS[0], image=image))
    assert (withheld.text, withheld.grade) == ("unknown", "abstained") and withheld.trace["withheld"][
        "answer"
    ] == lean.text
