"""`train-retriever` and `train-dpo` under `accelerate launch` with 2 CPU processes (gloo), on tiny models built from
config: they train on what one process trains on, only the main process prints and saves, and an interrupted run
(every process killed after a checkpoint) continues where it stopped."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("accelerate", reason="multi-process training needs accelerate: pip install 'mmedrag[hf]'")
pytest.importorskip("open_clip", reason="needs open_clip: pip install 'mmedrag[openclip]'")
psutil = pytest.importorskip("psutil", reason="needs psutil (installed with accelerate)")

from mmedrag.cli import main
from mmedrag.evaluation.reliance import noise_image

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:only .* training pairs:UserWarning"),
]

CONFIG = Path(__file__).parents[2] / "configs" / "accelerate" / "cpu.yaml"
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 230), "black": (10, 10, 10)}
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
QUESTIONS = ("Is there an effusion?", "Is the heart enlarged?", "Is there a fracture?", "Is the lung clear?")


def _launch(args: list[str], until: Path | None = None, processes: int = 2) -> subprocess.CompletedProcess[str] | None:
    """`accelerate launch` 2 processes running `mmedrag ARGS` (or `python -m mmedrag ARGS` for 1); with ``until``,
    kill every process of the run (as a lost machine would) as soon as that file exists, and return None."""
    with socket.socket() as probe:  # a free rendezvous port: other runs may hold the config's
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(CONFIG)]
    launcher += ["--main_process_port", str(port)]
    argv = [*(launcher if processes == 2 else [sys.executable]), "-m", "mmedrag", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if until is None:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)
    run = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 600
    while not until.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run.poll() is None, f"the run ended before {until} appeared"
    parent = psutil.Process(run.pid)
    for process in [*parent.children(recursive=True), parent]:
        process.kill()
    run.wait()
    return None


def _report(result: subprocess.CompletedProcess[str] | None) -> dict[str, Any]:
    """The one JSON report a run printed: a second process printing too would make this fail."""
    assert result is not None and result.returncode == 0, result.stderr[-3000:] if result else "killed"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a manifest of 8 noisy images per colour, each its own case."""
    folder = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    lines = []
    for colour, rgb in COLOURS.items():
        for n in range(8):
            path = folder / f"{colour}-{n}.png"
            Image.fromarray(np.clip(np.array(rgb) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)).save(path)
            lines.append(
                {"id": path.stem, "text": f"a {colour} image", "image_paths": [str(path)], "patient_id": path.stem}
            )
    (folder / "pairs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An open_clip model with LayerNorm only: no batch statistics, so n processes compute exactly one's loss."""
    import open_clip
    import safetensors.torch
    import torch

    folder = tmp_path_factory.mktemp("clip")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}}))
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}", pretrained_text=False)
    safetensors.torch.save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


def test_two_processes_train_the_retriever_one_process_trains_and_resume_after_being_killed(
    colours: Path, tiny_clip: Path, tmp_path: Path
) -> None:
    folder = colours
    args = ["train-retriever", str(folder / "pairs.jsonl"), "--data-root", str(folder), "--json", "--allow-worse"]
    args += ["--base", f"open_clip:{tiny_clip}", "--train-text", "--epochs", "4", "--batch-size", "8"]
    one = _report(_launch([*args, "--out", str(tmp_path / "one")], processes=1))

    args += ["--out", str(tmp_path / "two")]
    # Killed early (after epoch 1 of 4), so that a fast machine cannot finish the run before the kill lands.
    _launch(args, until=tmp_path / "two" / "checkpoints" / "epoch-1" / "checkpoint.json")
    assert not (tmp_path / "two" / "mmedrag_training.json").exists()
    two = _report(_launch(args))

    # The processes split every batch and gather its features: the same loss, to float rounding, and the same model.
    assert two["resumed_from_epoch"] == 1 and two["train_pairs"] == one["train_pairs"]
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-4) and one["losses"][-1] < one["losses"][0]
    assert two["after_mean"] == pytest.approx(one["after_mean"], abs=1e-4)
    saved = json.loads((tmp_path / "two" / "mmedrag_training.json").read_text())
    assert saved["losses"] == two["losses"] and two["encoder_spec"] == saved["encoder_spec"] == {
        "kind": "open_clip",
        "model": str(tmp_path / "two"),
    }


def test_a_batch_that_does_not_split_over_the_processes_is_one_line(colours: Path, tmp_path: Path) -> None:
    folder = colours
    args = ["train-retriever", str(folder / "pairs.jsonl"), "--data-root", str(folder), "--out", str(tmp_path / "r")]
    result = _launch([*args, "--batch-size", "7", "--epochs", "1", "--image-size", "32"])
    assert result is not None and result.returncode != 0
    assert "error: batch size 7 does not split over 2 processes" in result.stderr
    assert "mmedrag/training" not in result.stderr  # the launcher reports the exit; no traceback of ours


@pytest.fixture(scope="module")
def dpo_prefs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 pairs: a gradient image -> "yes", its noise image (method.md §5.1.4) on the rejected side -> "no"."""
    root = tmp_path_factory.mktemp("prefs")
    (root / "noise").mkdir()
    lines = []
    for n in range(16):
        image = Image.linear_gradient("L").rotate(15 * n).resize((64, 64)).convert("RGB")
        image.save(root / f"img{n}.png")
        noise_image(image.size, n).save(root / "noise" / f"q{n}.png")
        lines.append(
            {
                "id": f"q{n}:cross_modality",
                "pair_type": "cross_modality",
                "prompt": [
                    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTIONS[n % 4]}]}
                ],
                "chosen": [{"role": "assistant", "content": [{"type": "text", "text": "yes"}]}],
                "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "no"}]}],
                "images": [f"img{n}.png"],
                "rejected_images": [f"noise/q{n}.png"],
                "question_id": f"q{n}",
                "domain": "radiology",
            }
        )
    (root / "prefs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root / "prefs.jsonl"


def test_dpo_under_two_processes_follows_the_one_process_curve_saves_once_and_resumes(
    tiny_vlms: dict[str, Path], dpo_prefs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train-dpo", str(dpo_prefs), "--base", str(tiny_vlms["gemma3"]), "--json", "--heldout-fraction", "0.25"]
    args += ["--lr", "2e-3", "--epochs", "2", "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0"]
    # One process with 2 pairs per step sees the global batch that 2 processes with 1 pair each see.
    assert main([*args, "--batch-size", "2", "--out", str(tmp_path / "one")]) == 0
    one = json.loads(capsys.readouterr().out)

    out = tmp_path / "two"
    args += ["--batch-size", "1", "--save-steps", "4", "--out", str(out)]
    _launch(args, until=out.with_name("two.checkpoints") / "checkpoint-4" / "trainer_state.json")
    assert not out.exists()
    # Held-out pairs are scored before training too: that must not cost the processes their shared gradients (an
    # evaluation before `train` once made Trainer skip its DDP wrap; the run now refuses replicas that differ).
    two = _report(_launch(args))

    assert two["processes"] == 2 and two["resumed_from_step"] == 4 and two["steps"] == one["steps"] == 12
    # The gradients are averaged over the processes: the same curve as one process, to float rounding (the logged
    # values are rounded to 5 decimals; the curves of a run whose processes trained alone were 3.6% apart).
    assert two["losses"] == pytest.approx(one["losses"], rel=1e-3)
    assert two["losses"][0] == pytest.approx(math.log(2), abs=1e-3) and max(two["losses"][-3:]) < math.log(2) - 0.1
    assert two["before"]["margin"] == pytest.approx(0.0, abs=1e-5) == one["before"]["margin"]
    assert two["after"] == pytest.approx(one["after"], rel=1e-3) and two["after"]["margin"] > 0.1
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "mmedrag_dpo.json",
    ]
    assert not out.with_name("two.checkpoints").exists() and not (tmp_path / ".two.staging").exists()
