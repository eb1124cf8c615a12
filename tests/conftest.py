"""Shared fixtures: tiny images and manifests made in the test, the hash encoder, and the real shared data."""

from __future__ import annotations

import os

# Tests never touch the network: the hub is off before anything imports transformers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from milvus_server import milvus_uri  # noqa: F401  (session fixture: a real Milvus server, started on demand)
from mmedrag.encoders.hashing import HashEncoder


def needs(module: str, extra: str) -> pytest.MarkDecorator:
    """Skip a test on an install without ``module``, naming the extra that provides it."""
    from mmedrag._optional import available

    return pytest.mark.skipif(not available(module), reason=f"needs {module}: pip install 'mmedrag[{extra}]'")


SHARED_DATA = Path(os.environ.get("MMEDRAG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's development data set in ../shared/data (read-only); tests that need it skip when it is absent.

    Its index.jsonl marks it: a data folder filled by `mmedrag data fetch` (which MMEDRAG_DATA may point at for the
    demo) holds only the public datasets, without the derived files these tests read, so they skip there too.
    """
    if not (SHARED_DATA / "medpix2").is_dir() or not (SHARED_DATA / "index.jsonl").is_file():
        pytest.skip(f"the development data set (with index.jsonl) is not at {SHARED_DATA} (set MMEDRAG_DATA)")
    return SHARED_DATA


def make_image(seed: int, size: tuple[int, int] = (48, 40), mode: str = "RGB") -> Image.Image:
    """A distinct synthetic image per seed: blurred noise with structure, so hashes and encoders tell them apart."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
    image = Image.fromarray(base, mode="L").resize(size, Image.Resampling.BICUBIC)
    return image.convert(mode)


def low_rank(n: int, seed: int, dim: int = 24) -> np.ndarray:
    """Unit vectors with structure (an 8-d mixture projected to ``dim``): ANN recall is meaningful on them, unlike
    i.i.d. noise. The store contracts use them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, 8))
    points = centres[rng.integers(0, 12, n)] + 0.3 * rng.normal(size=(n, 8))
    vectors = points @ np.random.default_rng(99).normal(size=(8, dim)) + 0.05 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


CORPUS = [
    ("r1", "No pleural effusion. The lungs are clear.", "radiology", "xray", "p1", "s1", "train"),
    ("r2", "Large left pleural effusion with compressive atelectasis.", "radiology", "xray", "p2", "s2", "train"),
    ("r3", "Mild cardiomegaly. No pneumothorax.", "radiology", "xray", "p3", "s3", "train"),
    ("r4", "Ring-enhancing lesion in the right frontal lobe.", "radiology", "mri", "p4", "s4", "train"),
    ("r5", "Optic disc cupping consistent with glaucoma.", "ophthalmology", "fundus", "p5", "s5", "val"),
    ("r6", "Follow-up study: effusion unchanged.", "radiology", "xray", "p2", "s6", "test"),
]


def write_corpus(root: Path, source: str | None = "unit") -> Path:
    """The six CORPUS records with one small PNG each (relative paths), as ``root/corpus.jsonl``."""
    (root / "images").mkdir(exist_ok=True)
    lines = []
    for number, (rid, text, domain, modality, patient, study, split) in enumerate(CORPUS):
        make_image(number).save(root / "images" / f"{rid}.png")
        line = {
            "id": rid,
            "text": text,
            "image_paths": [f"images/{rid}.png"],
            "domain": domain,
            "modality": modality,
            "patient_id": patient,
            "study_id": study,
            "split": split,
        }
        lines.append({**line, "source": source} if source else line)
    manifest = root / "corpus.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return manifest


@pytest.fixture
def tiny_manifest(tmp_path: Path) -> Path:
    """Six records with one small PNG each (relative paths), written as a JSONL manifest."""
    return write_corpus(tmp_path)


@pytest.fixture(scope="session")
def tiny_vlms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny Gemma3, Qwen2.5-VL and LLaVA checkpoints built from config once per session (tests must not change them)."""
    pytest.importorskip("transformers", reason="tiny VLMs need the hf extra: pip install 'mmedrag[hf]'")
    from tiny_vlms import ARCHS, build_tiny_vlm

    root = tmp_path_factory.mktemp("tiny_vlms")
    return {arch: build_tiny_vlm(arch, root / arch) for arch in ARCHS}


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder(dim=32)
