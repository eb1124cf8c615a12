"""The near-duplicate leakage guard is on by default: re-encodes, resizes and small crops of an indexed real image
never come back, unrelated images are not excluded, and a flag turns the guard off; the same on every index backend
(an index folder, exact and FAISS, Milvus Lite and a Milvus server): one guard over the KnowledgeIndex protocol."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mmedrag.cli import main
from mmedrag.config import load_config
from mmedrag.io.images import load_image

N_INDEXED = 12


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.fixture(
    scope="module",
    params=[
        "exact",
        pytest.param("faiss:Flat", marks=pytest.mark.skipif(not _installed("faiss"), reason="needs faiss")),
        pytest.param("lite", marks=pytest.mark.skipif(not _installed("pymilvus"), reason="needs pymilvus")),
        pytest.param("server", marks=pytest.mark.integration),
    ],
)
def real_corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Path], list[Path]]:
    """A manifest of 12 real MedPix images (paths inside ../shared/data) indexed with the hash encoder on one
    backend, plus 4 held-out real images that are not in the index."""
    from conftest import SHARED_DATA

    images = sorted((SHARED_DATA / "medpix2" / "images").glob("*.png"))
    if len(images) < N_INDEXED + 4:
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    folder = tmp_path_factory.mktemp("neardup")
    indexed, held_out = images[:N_INDEXED], images[N_INDEXED : N_INDEXED + 4]
    manifest = folder / "corpus.jsonl"
    lines = [{"id": f"m{n}", "text": f"case {n} report", "image_paths": [str(p)]} for n, p in enumerate(indexed)]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    index = folder / "idx"
    store = request.param
    if store == "lite":
        store = f"milvus:{folder / 'lite'}"
    elif store == "server":
        store = f"milvus:{request.getfixturevalue('milvus_uri')}|collection=neardup_{folder.name.replace('-', '_')}"
    argv = ["index", str(manifest), "--index", str(index), "--encoder", "hash:32", "--store", store]
    assert main([*argv, "--data-root", str(SHARED_DATA)]) == 0
    return index, indexed, held_out


def variants(image: Image.Image) -> dict[str, Image.Image]:
    out = {}
    for quality in (60, 90):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        out[f"jpeg{quality}"] = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    out["resize50"] = image.resize((image.width // 2, image.height // 2))
    out["resize150"] = image.resize((image.width * 3 // 2, image.height * 3 // 2))
    for percent in (2, 3, 5):
        dx, dy = image.width * percent // 100, image.height * percent // 100
        out[f"crop{percent}"] = image.crop((dx // 2, dy, image.width - (dx - dx // 2), image.height))
    return out


def search_ids(capsys: pytest.CaptureFixture[str], index: Path, image: Path, *flags: str) -> list[str]:
    argv = ["search", "--index", str(index), "--image", str(image), "-k", "50", "--mode", "image2image", "--json"]
    assert main([*argv, *flags]) == 0
    return [hit["id"] for hit in json.loads(capsys.readouterr().out)["hits"]]


@pytest.mark.parametrize("which", [0, 5, 11])
def test_near_copies_of_an_indexed_image_never_come_back(
    which: int, real_corpus: tuple[Path, list[Path], list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, indexed, _ = real_corpus
    for name, copy in variants(load_image(indexed[which])).items():
        path = tmp_path / f"{name}.png"
        copy.save(path)
        guarded = search_ids(capsys, index, path)
        assert f"m{which}" not in guarded, f"{name} of m{which} leaked"
        assert len(guarded) == N_INDEXED - 1, f"{name}: the guard excluded more than the copy: {guarded}"
        # Without the guard the copy's own record is the best image-to-image match: the guard is what removed it.
        assert search_ids(capsys, index, path, "--no-near-duplicate-guard")[0] == f"m{which}", name


def test_unrelated_real_images_exclude_nothing(
    real_corpus: tuple[Path, list[Path], list[Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    index, _, held_out = real_corpus
    for image in held_out:
        assert len(search_ids(capsys, index, image)) == N_INDEXED


def test_the_guard_is_the_default_for_ask_and_evaluate_and_a_flag_turns_it_off() -> None:
    from mmedrag.cli import build_parser
    from mmedrag.cli.pipeline_args import config_from_args

    assert load_config().retrieval.near_duplicate_guard is True
    parser = build_parser()
    for argv in (["evaluate"], ["calibrate", "--alpha", "0.2"], ["prefs"]):
        args = parser.parse_args([*argv, "--questions", "q.jsonl", "--out", "o"])
        assert config_from_args(args).retrieval.near_duplicate_guard is True
        args = parser.parse_args([*argv, "--questions", "q.jsonl", "--out", "o", "--no-near-duplicate-guard"])
        assert config_from_args(args).retrieval.near_duplicate_guard is False
    assert parser.parse_args(["ask", "--no-near-duplicate-guard"]).no_near_duplicate_guard is True


def test_ask_never_cites_a_near_copy_of_its_image(
    real_corpus: tuple[Path, list[Path], list[Path]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index, indexed, _ = real_corpus
    crop = tmp_path / "crop.jpg"
    image = load_image(indexed[3])
    image.crop((image.width // 25, 0, image.width, image.height)).save(crop, quality=80)  # 4% crop, re-encoded
    argv = ["ask", "--index", str(index), "--image", str(crop), "--question", "finding?", "-k", "50"]
    argv += ["--set", "retrieval.fetch_k=50", "--json"]
    for flags, expect_copy in (([], False), (["--no-near-duplicate-guard"], True)):
        assert main([*argv, *flags]) == 0
        cited = [c["id"] for c in json.loads(capsys.readouterr().out)["trace"]["retrieved"]]
        assert ("m3" in cited) is expect_copy and len(cited) == N_INDEXED - (0 if expect_copy else 1)
