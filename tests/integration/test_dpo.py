"""DPO training (``train_dpo``) on tiny random-init VLMs: it learns (loss below ln 2, held-out margin up, the
generator's answers move), the rejected forward sees the noise image, two-stage training continues one adapter, and
bad input fails cleanly without leaving a folder behind."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mmedrag.errors import ConfigError, DataError, GenerationError
from mmedrag.evaluation.reliance import noise_image
from mmedrag.generation.hf import HFGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.training.adapters import tensors_sha
from mmedrag.training.dpo import ADAPTER_INFO, DPOReport, DPOSettings, train_dpo
from mmedrag.types import Context, Query
from tiny_vlms import ARCHS

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]

VQA_RAD = Path(__file__).resolve().parents[3] / "shared" / "data" / "vqa_rad" / "images"
QUESTIONS = ("Is there a pleural effusion?", "Is the heart enlarged?", "Are the lungs clear?", "Is there a mass?")
LEARNING_ARCH = "qwen2_5_vl"


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models train several times faster on one thread when other tests share the two cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(count: int) -> list[Image.Image]:
    """Real VQA-RAD images (downscaled: the tiny processors resize to 28-112 px anyway), else structured synthetics."""
    files = sorted(VQA_RAD.glob("*.jpg"))[:count] if VQA_RAD.is_dir() else []
    if len(files) == count:
        return [Image.open(f).convert("RGB").resize((64, 64)) for f in files]
    return [Image.linear_gradient("L").rotate(15 * i).resize((64, 64)).convert("RGB") for i in range(count)]


def _pair(number: int, image: str, noise: str | None, chosen: str = "yes", rejected: str = "no") -> dict[str, Any]:
    return {
        "id": f"q{number}:cross_modality",
        "pair_type": "cross_modality",
        "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[number % 4]}]}],
        "chosen": [{"role": "assistant", "content": [{"type": "text", "text": chosen}]}],
        "rejected": [{"role": "assistant", "content": [{"type": "text", "text": rejected}]}],
        "images": [image],
        "rejected_images": [noise] if noise else None,
        "question_id": f"q{number}",
        "domain": "radiology",
        "meta": {},
    }


def _write(path: Path, pairs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prefs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """16 training + 6 held-out pairs: real image -> "yes", pure-noise image (method.md §5.1.4) -> "no"."""
    root = tmp_path_factory.mktemp("dpo_prefs")
    (root / "noise").mkdir()
    pairs = []
    for number, image in enumerate(_images(22)):
        image.save(root / f"img{number}.png")
        noise_image(image.size, number).save(root / "noise" / f"q{number}.png")
        pairs.append(_pair(number, f"img{number}.png", f"noise/q{number}.png"))
    return {"train": _write(root / "train.jsonl", pairs[:16]), "heldout": _write(root / "heldout.jsonl", pairs[16:])}


FAST: dict[str, Any] = {"per_device_batch_size": 2, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0}


@pytest.fixture(scope="module")
def learned(tiny_vlms: dict[str, Path], prefs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> DPOReport:
    settings = DPOSettings(learning_rate=2e-3, epochs=3, **{**FAST, "per_device_batch_size": 4})
    out = tmp_path_factory.mktemp("adapters") / "stage1"
    return train_dpo(prefs["train"], tiny_vlms[LEARNING_ARCH], out, settings, heldout=prefs["heldout"])


def test_dpo_learns_loss_falls_and_heldout_margin_grows(learned: DPOReport) -> None:
    print(f"losses {learned.losses}; held-out before {learned.before} after {learned.after}; {learned.seconds} s")
    assert learned.steps == 12 and len(learned.losses) == 12
    assert learned.losses[0] == pytest.approx(math.log(2), abs=1e-3)  # a fresh LoRA (B = 0) is the reference
    assert max(learned.losses[-3:]) < math.log(2) - 0.05
    assert learned.before["margin"] == pytest.approx(0.0, abs=1e-5)
    assert learned.after["margin"] > 0.1
    assert learned.after["accuracy"] == 1.0
    assert learned.after["loss"] < learned.before["loss"] - 0.05
    assert learned.initial_adapter_sha != learned.final_adapter_sha


def test_saved_adapter_loads_into_the_generator_and_moves_its_answers(
    learned: DPOReport, tiny_vlms: dict[str, Path]
) -> None:
    folder = Path(learned.adapter_dir)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_vlms[LEARNING_ARCH].resolve())
    assert "language_model" in config["target_modules"]  # the vision tower and projector stay frozen (§5.4)
    info = json.loads((folder / ADAPTER_INFO).read_text())
    assert info["report"]["final_adapter_sha"] == learned.final_adapter_sha
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind

    image = _images(1)[0]
    prompts = [
        PromptBuilder().build(Query(text=q, image=image, task="closed"), Context(), "radiology") for q in QUESTIONS
    ]
    base = HFGenerator(tiny_vlms[LEARNING_ARCH], max_new_tokens=1).generate(prompts)
    tuned = HFGenerator(tiny_vlms[LEARNING_ARCH], adapter=folder, max_new_tokens=1).generate(prompts)
    print("P(yes) base", [g.yes_probability for g in base], "tuned", [g.yes_probability for g in tuned])
    for before, after in zip(base, tuned, strict=True):
        assert before.yes_probability is not None and after.yes_probability is not None
        assert after.yes_probability > before.yes_probability  # trained toward "yes" over "no"


def _vision_inputs(model: Any, seen: list[Any]) -> None:
    """Record the pixel values every forward hands the vision tower (PEFT calls ``forward`` on the outer model
    directly, so the hook sits on the tower)."""
    tower = getattr(model.model, "vision_tower", None) or model.model.visual

    def hook(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        value: Any = args[0] if args else kwargs.get("pixel_values", kwargs.get("hidden_states"))
        seen.append(value.detach().clone())

    tower.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("arch", ARCHS)
def test_each_architecture_trains_and_the_rejected_forward_sees_the_noise_image(
    arch: str, tiny_vlms: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    import transformers

    images = _images(2)
    pairs = []
    for number, image in enumerate(images):
        image.save(tmp_path / f"img{number}.png")
        noise_image(image.size, 100 + number).save(tmp_path / f"noise{number}.png")
        pairs.append(_pair(number, f"img{number}.png", f"noise{number}.png"))
    pairs.append({**_pair(9, "img0.png", None, chosen="no"), "id": "same"})  # identical sides: dropped, warned
    seen: list[Any] = []
    load = transformers.AutoModelForImageTextToText.from_pretrained

    def spy(*args: Any, **kwargs: Any) -> Any:
        model = load(*args, **kwargs)
        _vision_inputs(model, seen)
        return model

    monkeypatch.setattr(transformers.AutoModelForImageTextToText, "from_pretrained", spy)
    with pytest.warns(UserWarning, match="dropped 1 of 3"):
        report = train_dpo(
            _write(tmp_path / "prefs.jsonl", pairs),
            tiny_vlms[arch],
            tmp_path / "adapter",
            DPOSettings(learning_rate=1e-3, trl_args={"max_steps": 1}, **FAST),
        )
    assert report.steps == 1 and report.train_pairs == 2 and report.dropped_identical == 1
    assert report.architecture == json.loads((tiny_vlms[arch] / "config.json").read_text())["model_type"]
    assert {"adapter_config.json", "adapter_model.safetensors", ADAPTER_INFO} <= {
        p.name for p in (tmp_path / "adapter").iterdir()
    }

    # Expected inputs, processed independently of the collator: one chunk per image.
    processor = transformers.AutoProcessor.from_pretrained(tiny_vlms[arch])
    chosen = [processor.image_processor(images=[i], return_tensors="pt")["pixel_values"] for i in images]
    noise = [
        processor.image_processor(images=[Image.open(tmp_path / f"noise{n}.png").convert("RGB")], return_tensors="pt")[
            "pixel_values"
        ]
        for n in range(2)
    ]
    assert len(seen) == 2  # one policy and one reference forward, each over [chosen; rejected]
    for pixel_values in seen:
        rows = pixel_values.reshape(4, -1)  # pairs a, b: chosen a, chosen b, rejected a, rejected b (equal sizes)
        for row in range(2):
            pair = next(j for j in range(2) if torch.allclose(rows[row], chosen[j].reshape(-1), atol=1e-5))
            assert torch.allclose(rows[row + 2], noise[pair].reshape(-1), atol=1e-5)  # its own noise image
            assert not torch.allclose(rows[row + 2], chosen[pair].reshape(-1), atol=1e-2)


def _stage_two(
    learned: DPOReport, tiny_vlms: dict[str, Path], prefs: dict[str, Path], out: Path, reference: str
) -> DPOReport:
    settings = DPOSettings(
        learning_rate=1e-3, init_adapter=learned.adapter_dir, reference=reference, trl_args={"max_steps": 1}, **FAST
    )
    return train_dpo(prefs["heldout"], tiny_vlms[LEARNING_ARCH], out, settings, heldout=prefs["heldout"])


def test_two_stage_training_continues_the_stage_one_adapter(
    learned: DPOReport, tiny_vlms: dict[str, Path], prefs: dict[str, Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    saved = tensors_sha(load_file(Path(learned.adapter_dir) / "adapter_model.safetensors"))
    assert saved == learned.final_adapter_sha

    # Reference = the base model (adapters off), as the reference recipe did in both stages (§5.2, §5.4).
    stage2 = _stage_two(learned, tiny_vlms, prefs, tmp_path / "stage2", "base")
    assert stage2.initial_adapter_sha == learned.final_adapter_sha
    assert stage2.final_adapter_sha != learned.final_adapter_sha
    assert stage2.before["margin"] == pytest.approx(learned.after["margin"], abs=1e-4)  # what stage 1 learned
    assert stage2.lora["r"] == 8 and stage2.reference == "base"
    assert stage2.trainable_parameters == learned.trainable_parameters  # only the continued adapter trains

    # Reference = the stage-1 adapter, frozen: policy and reference start equal, so the margin starts at zero.
    anchored = _stage_two(learned, tiny_vlms, prefs, tmp_path / "anchored", learned.adapter_dir)
    assert anchored.initial_adapter_sha == learned.final_adapter_sha
    assert anchored.before["margin"] == pytest.approx(0.0, abs=1e-5)
    assert anchored.after["margin"] > 0.0
    assert anchored.reference == str(Path(learned.adapter_dir).resolve())
    assert anchored.trainable_parameters == learned.trainable_parameters  # the reference adapter stays frozen


def test_missing_image_fails_before_anything_is_written(
    tiny_vlms: dict[str, Path], prefs: dict[str, Path], tmp_path: Path
) -> None:
    pairs = [json.loads(line) for line in prefs["train"].read_text().splitlines()]
    pairs[3]["rejected_images"] = [str(tmp_path / "gone.png")]
    bad = _write(prefs["train"].parent / "missing.jsonl", pairs)
    out = tmp_path / "runs" / "adapter"
    with pytest.raises(DataError, match=r"q3:cross_modality.*rejected_images\[0\].*gone\.png"):
        train_dpo(bad, tiny_vlms["llava"], out, DPOSettings(**FAST))
    assert not out.parent.exists()


def test_a_crash_mid_training_keeps_the_previous_adapter_whole_and_leaves_no_staging(
    learned: DPOReport,
    tiny_vlms: dict[str, Path],
    prefs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import transformers

    out = tmp_path / "adapter"
    shutil.copytree(learned.adapter_dir, out)
    files = {p.name: p.read_bytes() for p in out.iterdir()}

    def power_cut(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(transformers.Trainer, "train", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        train_dpo(prefs["heldout"], tiny_vlms[LEARNING_ARCH], out, DPOSettings(**FAST))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not an adapter")
    with pytest.raises(ConfigError, match="not written by train-dpo"):
        train_dpo(prefs["heldout"], tiny_vlms[LEARNING_ARCH], tmp_path / "mine", DPOSettings(**FAST))


def test_adapters_of_another_base_model_are_refused(
    learned: DPOReport, tiny_vlms: dict[str, Path], prefs: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(GenerationError, match="trained on"):
        HFGenerator(tiny_vlms["llava"], adapter=learned.adapter_dir)
    for key in ("init_adapter", "reference"):
        option: dict[str, Any] = {key: learned.adapter_dir}
        with pytest.raises(ConfigError, match=f"{key.replace('_', ' ')} .*qwen2_5_vl"):
            train_dpo(prefs["heldout"], tiny_vlms["gemma3"], tmp_path / key, DPOSettings(**option, **FAST))
        assert not (tmp_path / key).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_holds_out_questions_and_prints_the_report_as_json(
    tiny_vlms: dict[str, Path], prefs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from mmedrag.cli.train_dpo import TrainDPOCommand, parse_trl_options

    command = TrainDPOCommand()
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    argv = [str(prefs["train"]), "--base", str(tiny_vlms["gemma3"]), "--out", str(tmp_path / "cli"), "--json"]
    argv += ["--heldout-fraction", "0.25", "--lr", "1e-3", "--lora-r", "4", "--lora-targets", "q_proj,v_proj"]
    argv += ["--batch-size", "2", "--trl", "max_steps=2", "--trl", "lr_scheduler_type=constant"]
    assert command.run(parser.parse_args(argv)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["steps"] == 2 and data["train_pairs"] == 12 and data["heldout_pairs"] == 4
    assert data["lora"]["r"] == 4 and data["lora"]["targets"].endswith("(q_proj|v_proj)")
    assert data["settings"]["trl_args"] == {"max_steps": 2, "lr_scheduler_type": "constant"}
    assert (tmp_path / "cli" / "adapter_config.json").is_file()
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_trl_options(["max_steps"])
