"""Retriever training pieces that need no model: case-level splits, recall protocols and chance, the loss, the
schedule, base specs, checkpoint compatibility and the input checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="retriever training needs torch: pip install 'mmedrag[torch]'")

from mmedrag.errors import ConfigError
from mmedrag.training.checkpoints import check_resumable
from mmedrag.training.contrastive import PairImages, collate, contrastive_loss, warmup_cosine
from mmedrag.training.recall import Gallery, chance_recall, held_out_recall, mean_recall
from mmedrag.training.retriever import RetrieverSettings, train_retriever
from mmedrag.training.retriever_pairs import Pair, pairs_from_records
from mmedrag.training.towers import parse_base
from mmedrag.types import Record


def _records() -> list[Record]:
    records = []
    for case in range(20):
        views = 2 if case % 2 else 1
        paths = tuple(f"/img/{case}-{v}.png" for v in range(views))
        records += [
            Record(id=f"r{case}-{v}", text=f"case {case} view {v}", image_paths=(p,), patient_id=f"p{case}")
            for v, p in enumerate(paths)
        ]
    records.append(Record(id="no-text", text=" ", image_paths=("/img/x.png",), patient_id="p99"))
    records.append(Record(id="no-image", text="lonely", patient_id="p98"))
    return records


def test_split_holds_out_whole_cases_one_pair_per_image() -> None:
    train, held = pairs_from_records(_records(), heldout_fraction=0.25, seed=3)
    assert len(train) + len(held) == 30  # 10 one-view + 10 two-view cases; no-text and no-image skipped
    assert len({p.group for p in held}) == 5
    assert not {p.group for p in train} & {p.group for p in held}
    assert pairs_from_records(_records(), 0.25, seed=3) == (train, held)
    assert pairs_from_records(_records(), 0.25, seed=4) != (train, held)


def test_split_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="heldout fraction"):
        pairs_from_records(_records(), 1.0)
    with pytest.raises(ConfigError, match="cannot group by 'case'"):
        pairs_from_records(_records(), 0.2, group_by="case")


def _gallery() -> Gallery:
    # Case A has two images with different texts, case B two images sharing one text, case C one image.
    return Gallery.from_pairs(
        [
            Pair("a1", "ta1", "A"),
            Pair("a2", "ta2", "A"),
            Pair("b1", "tb", "B"),
            Pair("b2", "tb", "B"),
            Pair("c", "tc", "C"),
        ]
    )


def test_gallery_keeps_each_text_once_and_knows_cases() -> None:
    gallery = _gallery()
    assert gallery.texts == ["ta1", "ta2", "tb", "tc"]
    assert gallery.positives("pair").sum() == 5 and gallery.positives("case").sum() == 7


def test_recall_protocols_on_a_known_ranking() -> None:
    gallery = _gallery()
    text_vectors = np.eye(4, dtype=np.float32)
    # a1 leans to its case-mate's text ta2; b1 leans a little to ta1; everyone else matches their own text.
    image_vectors = np.array(
        [[0.1, 0.9, 0, 0], [0, 1, 0, 0], [0.5, 0, 0.8, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32
    )
    recall = held_out_recall(gallery, image_vectors, text_vectors, ks=(1, 2))
    assert recall["pair"]["image_to_text"]["R@1"] == pytest.approx(4 / 5)
    assert recall["case"]["image_to_text"]["R@1"] == 1.0  # ta2 belongs to a1's case
    assert recall["pair"]["text_to_image"]["R@1"] == pytest.approx(3 / 4)  # ta1 finds b1 first
    assert recall["pair"]["text_to_image"]["R@2"] == 1.0
    assert recall["case_mean"]["text_to_image"]["R@1"] == pytest.approx((0.5 + 1 + 1) / 3)  # case A: 1 of 2 texts
    assert 0 < mean_recall(recall) < 1


def test_chance_is_the_expected_recall_of_a_random_ranking() -> None:
    chance = chance_recall(_gallery(), ks=(1, 2))
    assert chance["pair"]["image_to_text"]["R@1"] == pytest.approx(1 / 4)
    assert chance["pair"]["image_to_text"]["R@2"] == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))
    # Case A's images each have 2 positive texts out of 4.
    expected = (2 * (2 / 4) + 2 * (1 / 4) + 1 / 4) / 5
    assert chance["case"]["image_to_text"]["R@1"] == pytest.approx(expected)
    rng = np.random.default_rng(0)
    draws = [
        held_out_recall(_gallery(), rng.normal(size=(5, 8)), rng.normal(size=(4, 8)), ks=(1,))["case"]["image_to_text"][
            "R@1"
        ]
        for _ in range(3000)
    ]
    assert np.mean(draws) == pytest.approx(expected, abs=0.02)


def test_loss_is_clip_loss_for_distinct_texts_and_shares_targets_for_repeated_ones() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(4, 8), torch.randn(4, 8)
    scale = torch.tensor(math.log(10.0))
    logits = 10.0 * torch.nn.functional.normalize(image, dim=1) @ torch.nn.functional.normalize(text, dim=1).T
    labels = torch.arange(4)
    clip = (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
    assert contrastive_loss(image, text, scale, torch.tensor([0, 1, 2, 3])) == pytest.approx(float(clip), rel=1e-5)
    # Rows 0 and 1 carry the same text: swapping their text vectors changes nothing.
    same = torch.tensor([0, 0, 2, 3])
    swapped = text[[1, 0, 2, 3]]
    assert contrastive_loss(image, text, scale, same) == pytest.approx(
        float(contrastive_loss(image, swapped, scale, same))
    )


def test_schedule_warms_up_within_the_run_then_decays_to_zero() -> None:
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup_steps=10_000, total_steps=100)  # the reference recipe's mistake
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(1.0)  # the peak LR is reached (warm-up capped at half the run)
    assert rates.index(max(rates)) == 49 and rates[-1] < 0.01


def test_base_specs() -> None:
    assert parse_base("tower") == parse_base("minilm") == {"kind": "tower", "text_encoder": "minilm"}
    assert parse_base("sentence:/models/st")["text_encoder"] == {"kind": "sentence", "model": "/models/st"}
    assert parse_base("open_clip:ViT-B-16") == {"kind": "open_clip", "model": "ViT-B-16"}
    assert parse_base({"kind": "hf_clip", "model": "/m", "device": "cuda"}) == {"kind": "hf_clip", "model": "/m"}
    with pytest.raises(ConfigError, match="cannot train a 'hash' encoder"):
        parse_base("hash:32")


def test_checkpoint_of_another_base_or_settings_is_refused_naming_both(tmp_path: Path) -> None:
    saved = {"base": {"kind": "tower"}, "architecture": "tower SmallCNN", "signature": "aa", "epochs": 3, "lr": 0.002}
    current = {**saved, "base": {"kind": "open_clip", "model": "/x"}, "architecture": "open_clip x", "signature": "bb"}
    with pytest.raises(ConfigError, match=r"checkpoint of tower SmallCNN .* this run trains open_clip x"):
        check_resumable(tmp_path, saved, current)
    with pytest.raises(ConfigError, match=r"epochs 3 -> 5, lr 0.002 -> 0.001"):
        check_resumable(tmp_path, saved, {**saved, "epochs": 5, "lr": 0.001})
    check_resumable(tmp_path, saved, dict(saved))


def test_too_few_pairs_warns_and_bad_inputs_fail_before_any_model_loads(tmp_path: Path) -> None:
    pairs = [Pair(f"/img/{i}.png", f"text {i}", str(i)) for i in range(12)]
    with pytest.warns(UserWarning, match="only 10 training pairs"), pytest.raises(ConfigError, match="'hash'"):
        train_retriever(pairs[:10], pairs[10:], tmp_path, RetrieverSettings(base="hash:8"))
    with pytest.raises(ConfigError, match="at least 2 held-out pairs"):
        train_retriever(pairs[:10], pairs[10:11], tmp_path, RetrieverSettings())
    with pytest.raises(ConfigError, match="nothing to train"), pytest.warns(UserWarning):
        train_retriever(pairs[:10], pairs[10:], tmp_path, RetrieverSettings(train_image=False))


def test_unreadable_images_are_skipped_not_fatal(tmp_path: Path) -> None:
    from PIL import Image

    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8), "red").save(good)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    dataset = PairImages([str(good), str(tmp_path / "bad.png")], lambda im: torch.zeros(3, 4, 4))
    with pytest.warns(UserWarning, match="unreadable training image"):
        pixels, indices = collate([dataset[0], dataset[1]])
    assert pixels is not None and pixels.shape == (1, 3, 4, 4) and indices.tolist() == [0]
    assert list(dataset.failed) == [str(tmp_path / "bad.png")]
