"""`train_retriever` / `mmedrag train-retriever` with tiny real towers built from config (open_clip, an open_clip
model with a BERT text tower shaped like BiomedCLIP, transformers CLIP) and the offline MiniLM tower, on synthetic
pairs whose image colour says which text is right."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch", reason="retriever training needs torch: pip install 'mmedrag[torch]'")

from mmedrag.encoders import create_encoder
from mmedrag.encoders.base import fingerprint_of
from mmedrag.errors import ConfigError
from mmedrag.io.images import load_image
from mmedrag.training import checkpoints
from mmedrag.training.loop import TrainingLoop
from mmedrag.training.recall import Gallery, held_out_recall
from mmedrag.training.retriever import RetrieverGotWorseError, RetrieverSettings, train_retriever
from mmedrag.training.retriever_pairs import Pair

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:only .* training pairs:UserWarning")]

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 60),
    "blue": (40, 60, 230),
    "yellow": (240, 230, 40),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
    "purple": (140, 40, 170),
    "orange": (250, 140, 20),
}
TINY_VIT = {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16}
TINY_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """The towers here are tiny: with two threads on a busy 2-core machine, OpenMP's waits cost 100x the work."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def colour_pairs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Pair], list[Pair]]:
    """6 noisy images per colour; 4 per colour train, 2 held out (the held-out texts also occur in training)."""
    folder = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    train, held = [], []
    for colour, rgb in COLOURS.items():
        for n in range(6):
            pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
            path = folder / f"{colour}-{n}.png"
            Image.fromarray(pixels).save(path)
            pair = Pair(str(path), f"a {colour} image", f"{colour}-{n}")
            (train if n < 4 else held).append(pair)
    return train, held


def _open_clip_dir(folder: Path, model_cfg: dict[str, Any], tokenizer: Any = None) -> Path:
    """A local-dir open_clip folder with randomly initialised weights saved as if pretrained."""
    import open_clip
    import safetensors.torch
    import torch

    folder.mkdir(parents=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    model = open_clip.create_model(f"local-dir:{folder}", pretrained_text=False)
    safetensors.torch.save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _open_clip_dir(
        tmp_path_factory.mktemp("oc") / "tiny", {"embed_dim": 32, "vision_cfg": TINY_VIT, "text_cfg": TINY_TEXT}
    )


def _wordpiece(folder: Path) -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizer

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        [f"a {c} image" for c in COLOURS] * 4, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials)
    )
    tok.post_processor = processors.BertProcessing(
        ("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]"))
    )
    return BertTokenizer(tokenizer_object=tok)


@pytest.fixture(scope="module")
def tiny_bert_open_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BiomedCLIP's shape (open_clip image tower + HF BERT text tower, offline.md §4), a few thousand parameters."""
    from transformers import BertConfig

    root = tmp_path_factory.mktemp("bmc")
    tokenizer = _wordpiece(root)
    bert_dir = root / "bert"
    BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    ).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    text_cfg = {
        "hf_model_name": str(bert_dir),
        "hf_tokenizer_name": str(bert_dir),
        "hf_proj_type": "mlp",
        "hf_pooler_type": "cls_last_hidden_state_pooler",
        "context_length": 16,
    }
    return _open_clip_dir(root / "model", {"embed_dim": 32, "vision_cfg": TINY_VIT, "text_cfg": text_cfg}, tokenizer)


@pytest.fixture(scope="module")
def tiny_hf_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    folder = tmp_path_factory.mktemp("hfclip") / "clip"
    tokenizer = _wordpiece(folder)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "image_size": 32, "patch_size": 8}
    config = CLIPConfig(
        text_config={**text, "num_attention_heads": 2, "max_position_embeddings": 32, "pad_token_id": 0},
        vision_config={**vision, "num_attention_heads": 2},
        projection_dim=32,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _weights(folder: Path, name: str) -> dict[str, np.ndarray]:
    import safetensors.numpy

    return safetensors.numpy.load_file(str(folder / name))


def _recall_through_encoder(spec: str, held: list[Pair]) -> dict[str, Any]:
    """Held-out recall measured with the saved model loaded the way `mmedrag index` loads it."""
    encoder = create_encoder(spec, device="cpu")
    gallery = Gallery.from_pairs(held)
    images = encoder.encode_images([load_image(p) for p in gallery.image_paths])
    return held_out_recall(gallery, images, encoder.encode_texts(gallery.texts))["pair"]


def test_offline_tower_learns_and_loads_through_create_encoder(
    colour_pairs: tuple[list[Pair], list[Pair]], tmp_path: Path
) -> None:
    train, held = colour_pairs
    with pytest.warns(UserWarning, match="32 training pairs"):
        report = train_retriever(
            train, held, tmp_path / "t", RetrieverSettings(base="tower", epochs=6, batch_size=16, image_size=32, seed=1)
        )
    assert report.after_mean > report.before_mean + 0.1
    assert report.after["pair"]["image_to_text"]["R@1"] > 2 * report.chance["pair"]["image_to_text"]["R@1"]
    assert report.encoder == f"tower:{tmp_path / 't'}" and report.encoder_spec["kind"] == "tower"
    measured = _recall_through_encoder(report.encoder, held)
    assert measured["image_to_text"] == pytest.approx(report.after["pair"]["image_to_text"], abs=1e-3)
    # A saved tower is also a base: training continues from its weights.
    more = train_retriever(
        train,
        held,
        tmp_path / "t2",
        RetrieverSettings(base=f"tower:{tmp_path / 't'}", epochs=1, batch_size=16, allow_worse=True),
    )
    assert more.before == report.after


def test_open_clip_same_seed_same_weights_and_resume_continues_exactly(
    colour_pairs: tuple[list[Pair], list[Pair]], tiny_open_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, held = colour_pairs
    kwargs: dict[str, Any] = {
        "base": f"open_clip:{tiny_open_clip}",
        "train_text": True,
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "seed": 3,
        "allow_worse": True,
    }
    first = train_retriever(train, held, tmp_path / "a", RetrieverSettings(**kwargs))
    second = train_retriever(train, held, tmp_path / "b", RetrieverSettings(**kwargs))
    weights_a, weights_b = (_weights(tmp_path / d, "open_clip_model.safetensors") for d in "ab")
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert first.losses == second.losses

    real_save = checkpoints.save_checkpoint

    def save_then_stop(out: Path, epoch: int, meta: dict[str, Any], state: dict[str, Any]) -> Path:
        path = real_save(out, epoch, meta, state)
        if epoch == 1:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(checkpoints, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train_retriever(train, held, tmp_path / "c", RetrieverSettings(**kwargs))
    monkeypatch.undo()
    resumed = train_retriever(train, held, tmp_path / "c", RetrieverSettings(**kwargs))
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_run == 2
    assert resumed.losses == first.losses and resumed.before == first.before
    weights_c = _weights(tmp_path / "c", "open_clip_model.safetensors")
    assert all(np.array_equal(weights_a[k], weights_c[k]) for k in weights_a)
    assert sorted(p.name for p in (tmp_path / "c" / "checkpoints").iterdir()) == ["epoch-2", "epoch-3"]


def test_open_clip_improves_and_its_fingerprint_differs_from_the_base(
    colour_pairs: tuple[list[Pair], list[Pair]], tiny_open_clip: Path, tmp_path: Path
) -> None:
    train, held = colour_pairs
    report = train_retriever(
        train,
        held,
        tmp_path,
        RetrieverSettings(base=f"open_clip:{tiny_open_clip}", train_text=True, epochs=8, batch_size=8, lr=3e-3),
    )
    assert report.after_mean > report.before_mean
    base, trained = create_encoder(f"open_clip:{tiny_open_clip}"), create_encoder(report.encoder)
    assert fingerprint_of(base).mismatch(fingerprint_of(trained)) is not None
    measured = _recall_through_encoder(report.encoder, held)
    assert measured["text_to_image"] == pytest.approx(report.after["pair"]["text_to_image"], abs=1e-3)


def test_biomedclip_shaped_model_saves_a_folder_that_loads_offline(
    colour_pairs: tuple[list[Pair], list[Pair]], tiny_bert_open_clip: Path, tmp_path: Path
) -> None:
    train, held = colour_pairs
    report = train_retriever(
        train,
        held,
        tmp_path / "out",
        RetrieverSettings(
            base=f"open_clip:{tiny_bert_open_clip}", train_text=True, epochs=2, batch_size=16, lr=1e-3, allow_worse=True
        ),
    )
    saved = json.loads((tmp_path / "out" / "open_clip_config.json").read_text())
    assert saved["model_cfg"]["text_cfg"]["hf_model_name"] == str(tmp_path / "out")  # not the base's folder
    measured = _recall_through_encoder(report.encoder, held)
    assert measured["image_to_text"] == pytest.approx(report.after["pair"]["image_to_text"], abs=1e-3)


def test_hf_clip_with_a_frozen_image_tower(
    colour_pairs: tuple[list[Pair], list[Pair]], tiny_hf_clip: Path, tmp_path: Path
) -> None:
    train, held = colour_pairs
    report = train_retriever(
        train,
        held,
        tmp_path,
        RetrieverSettings(
            base=f"hf_clip:{tiny_hf_clip}",
            train_image=False,
            train_text=True,
            epochs=2,
            batch_size=16,
            lr=1e-3,
            allow_worse=True,
        ),
    )
    base, trained = _weights(tiny_hf_clip, "model.safetensors"), _weights(tmp_path, "model.safetensors")
    vision = [k for k in base if k.startswith("vision_model.")]
    assert vision and all(np.array_equal(base[k], trained[k]) for k in vision)
    assert any(not np.array_equal(base[k], trained[k]) for k in base if k.startswith("text_model."))
    measured = _recall_through_encoder(report.encoder, held)
    assert measured["text_to_image"] == pytest.approx(report.after["pair"]["text_to_image"], abs=1e-3)


def test_worse_recall_stops_without_saving_and_allow_worse_keeps_it(
    colour_pairs: tuple[list[Pair], list[Pair]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, held = colour_pairs
    real_evaluate = TrainingLoop.evaluate
    calls: list[int] = []

    def worse_after(self: TrainingLoop, gallery: Gallery) -> Any:
        calls.append(1)
        recall = real_evaluate(self, gallery)
        if len(calls) == 1:
            return recall
        return {p: {d: {k: 0.0 for k in ks} for d, ks in dirs.items()} for p, dirs in recall.items()}

    monkeypatch.setattr(TrainingLoop, "evaluate", worse_after)
    kwargs: dict[str, Any] = {"base": "tower", "epochs": 1, "batch_size": 16, "image_size": 32}
    with pytest.raises(RetrieverGotWorseError, match=r"worse: .* 0\.\d+ before, 0\.0000 after") as caught:
        train_retriever(train, held, tmp_path, RetrieverSettings(**kwargs))
    assert caught.value.report.after_mean == 0.0 and caught.value.report.before_mean > 0
    assert not (tmp_path / "mmedrag_tower.json").exists() and (tmp_path / "checkpoints" / "epoch-1").is_dir()
    report = train_retriever(
        train, held, tmp_path, RetrieverSettings(allow_worse=True, **kwargs)
    )  # resumes at the end: nothing to retrain
    assert report.resumed_from_epoch == 1 and report.epochs_run == 0
    assert (tmp_path / "mmedrag_tower.json").is_file()


def test_checkpoint_or_base_of_another_architecture_is_refused(
    colour_pairs: tuple[list[Pair], list[Pair]], tiny_open_clip: Path, tiny_bert_open_clip: Path, tmp_path: Path
) -> None:
    train, held = colour_pairs
    small = {"epochs": 1, "batch_size": 16, "allow_worse": True}
    train_retriever(train, held, tmp_path / "a", RetrieverSettings(base=f"open_clip:{tiny_open_clip}", **small))
    with pytest.raises(ConfigError, match=r"checkpoint of open_clip tiny .* this run trains open_clip model"):
        train_retriever(
            train, held, tmp_path / "a", RetrieverSettings(base=f"open_clip:{tiny_bert_open_clip}", **small)
        )
    with pytest.raises(ConfigError, match=r"other settings \(epochs 1 -> 2\)"):
        train_retriever(
            train, held, tmp_path / "a", RetrieverSettings(base=f"open_clip:{tiny_open_clip}", **{**small, "epochs": 2})
        )
    # A base folder whose weights belong to another architecture.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "open_clip_config.json").write_text((tiny_open_clip / "open_clip_config.json").read_text())
    (mixed / "open_clip_model.safetensors").write_bytes(
        (tiny_bert_open_clip / "open_clip_model.safetensors").read_bytes()
    )
    with pytest.raises(ConfigError, match="cannot load open_clip base"):
        train_retriever(train, held, tmp_path / "b", RetrieverSettings(base=f"open_clip:{mixed}", **small))


def test_cli_prints_the_recall_table_and_the_encoder_spec(
    colour_pairs: tuple[list[Pair], list[Pair]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.cli.train_retriever import TrainRetrieverCommand

    train, held = colour_pairs
    manifest = tmp_path / "pairs.jsonl"
    lines = [
        {"id": Path(p.image_path).stem, "text": p.text, "image_paths": [p.image_path], "patient_id": p.group}
        for p in train + held
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    command = TrainRetrieverCommand()
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    argv = [str(manifest), "--out", str(tmp_path / "m"), "--epochs", "2", "--batch-size", "16", "--image-size", "32"]
    # The images lie outside the manifest's folder: name their root, as a user must (paths are confined by default).
    argv += ["--data-root", os.path.commonpath([p.image_path for p in train + held])]
    assert command.run(parser.parse_args([*argv, "--heldout", "0.3", "--allow-worse"])) == 0
    out = capsys.readouterr().out
    assert "image->text R@1" in out and "text->image R@10" in out
    assert f"--encoder tower:{tmp_path / 'm'}" in out
    assert command.run(parser.parse_args([*argv, "--heldout", "0.3", "--allow-worse", "--json"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["resumed_from_epoch"] == 2 and data["encoder_spec"] == {"kind": "tower", "path": str(tmp_path / "m")}
