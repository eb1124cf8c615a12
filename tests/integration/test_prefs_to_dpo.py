"""End to end: pairs mined by `mmedrag prefs` train with `mmedrag train-dpo`, and the adapter loads into the
generator for its domain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import mining_setup
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.generation.hf import HFGenerator
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.training.dpo import DPOSettings, train_dpo
from mmedrag.training.preference_mining import MiningSettings, mine_preferences
from mmedrag.types import Query
from tiny_vlms import build_tiny_vlm

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::FutureWarning")]


@pytest.fixture
def setup(tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path) -> tuple[RAGPipeline, list]:
    return mining_setup(tiny_manifest, hash_encoder, tmp_path)


def test_mined_pairs_train_an_adapter_that_the_pipeline_uses_for_its_domain(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    report = mine_preferences(pipeline, questions, tmp_path / "prefs", MiningSettings(ratio=None, stage1=True))
    assert sum(report.written.values()) == 12
    base = build_tiny_vlm("qwen2_5_vl", tmp_path / "vlm")
    settings = DPOSettings(
        epochs=1, learning_rate=1e-3, per_device_batch_size=2, max_length=512, lora_r=4, lora_alpha=8
    )
    trained = train_dpo(tmp_path / "prefs" / "prefs.jsonl", base, tmp_path / "adapter", settings)
    assert Path(trained.adapter_dir, "adapter_config.json").is_file() and trained.steps > 0
    assert trained.initial_adapter_sha != trained.final_adapter_sha
    # The adapter answers for radiology only; other domains get the base model.
    mined_index = pipeline.default.retriever
    assert mined_index is not None
    tuned = RAGPipeline(
        generator=HFGenerator(base, max_new_tokens=2),
        default=Bundle(retriever=mined_index),
        bundles={"radiology": Bundle("radiology", retriever=mined_index, adapter=str(tmp_path / "adapter"))},
    )
    image = questions[0].image_path
    radiology = tuned.answer(Query(text="Is there an effusion?", image_path=image, domain="radiology"))
    other = tuned.answer(Query(text="Is there an effusion?", image_path=image, domain="dermatology"))
    assert radiology.trace["generation"]["adapter"] == str(tmp_path / "adapter")
    assert other.trace["generation"]["adapter"] is None


def test_cli_train_dpo_on_mined_pairs(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline, questions = setup
    mine_preferences(pipeline, questions, tmp_path / "prefs", MiningSettings(ratio=None))
    base = build_tiny_vlm("gemma3", tmp_path / "vlm")
    code = main(
        [
            "train-dpo",
            str(tmp_path / "prefs" / "prefs.jsonl"),
            "--base",
            str(base),
            "--out",
            str(tmp_path / "adapter"),
            "--epochs",
            "1",
            "--lora-r",
            "4",
            "--lora-alpha",
            "8",
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and Path(data["adapter_dir"]).is_dir()
