"""Domain routing: the written order, abstention, calibration, the trained and zero-shot routers, and bad input."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import make_image, needs
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError, DataError
from mmedrag.routing import (
    DEFAULT_PROMPTS,
    OUT_OF_SCOPE,
    DomainRouter,
    ZeroShotRouter,
    load_router,
    route,
    route_batch,
)
from mmedrag.routing.temperature import expected_calibration_error, fit_temperature, nll, softmax
from mmedrag.types import Record

COLOURS = {"radiology": (128, 128, 128), "ophthalmology": (205, 90, 30), "pathology": (150, 60, 200)}
# One torch thread: on a shared two-core machine it is several times faster than two (routing.models.torch_threads).
TINY_CNN: dict[str, Any] = {"image_size": 16, "widths": (8, 16), "negatives": 0, "epochs": 15, "threads": 1}


class FixedRouter:
    """Returns the same probabilities for every image and counts its calls."""

    kind = "fixed"

    def __init__(self, probabilities: Sequence[float], classes: Sequence[str], threshold: float = 0.5) -> None:
        self.row, self.classes, self.threshold = np.asarray(probabilities), tuple(classes), threshold
        self.calls: list[int] = []

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls.append(len(images))
        return np.tile(self.row, (len(images), 1))

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def save(self, path: str | Path) -> Path:
        return Path(path)


CLASSES = ("radiology", "pathology", OUT_OF_SCOPE)


def colour_image(domain: str, seed: int, size: tuple[int, int] = (40, 48)) -> Image.Image:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 25, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.array(COLOURS[domain]) + noise, 0, 255).astype(np.uint8))


def colour_set(per_class: int, offset: int = 0) -> tuple[list[Image.Image], list[str]]:
    images, labels = [], []
    for number in range(per_class):
        for index, domain in enumerate(COLOURS):
            images.append(colour_image(domain, 1000 * index + number + offset))
            labels.append(domain)
    return images, labels


def write_manifest(folder: Path, per_class: int, with_domain: bool = True) -> Path:
    images, labels = colour_set(per_class)
    lines = []
    for number, (image, label) in enumerate(zip(images, labels, strict=True)):
        image.save(folder / f"im{number}.png")
        line = {"id": f"c{number}", "image_paths": [f"im{number}.png"], "source": "unit"}
        if with_domain:
            line["domain"] = label
        lines.append(json.dumps(line))
    manifest = folder / "router.jsonl"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


@pytest.fixture(scope="module")
def cnn_router(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from mmedrag.training.router import RouterSettings, fit_router

    images, labels = colour_set(24)
    out = tmp_path_factory.mktemp("router") / "cnn"
    report = fit_router(images, labels, out, RouterSettings(min_per_class=0, **TINY_CNN))
    return report, out


# --- the routing order -------------------------------------------------------------------------------------------


def test_fixed_router_satisfies_the_protocol() -> None:
    assert isinstance(FixedRouter([1.0, 0.0, 0.0], CLASSES), DomainRouter)


def test_explicit_query_domain_wins_and_the_router_is_not_asked() -> None:
    router = FixedRouter([0.9, 0.05, 0.05], CLASSES)
    decision = route("Pathology", make_image(1), router, default="radiology")
    assert (decision.domain, decision.source, decision.probability) == ("pathology", "query", None)
    assert router.calls == []


def test_router_decides_when_there_is_an_image_and_no_explicit_domain() -> None:
    router = FixedRouter([0.1, 0.8, 0.1], CLASSES)
    decision = route(None, make_image(1), router, default="radiology")
    assert (decision.domain, decision.source) == ("pathology", "router")
    assert decision.probability == pytest.approx(0.8)
    assert set(decision.probabilities) == set(CLASSES)


def test_default_applies_without_router_or_without_image() -> None:
    router = FixedRouter([0.1, 0.8, 0.1], CLASSES)
    assert route(None, None, router, default="dermatology").source == "default"
    assert route(None, make_image(1), None, default="dermatology").domain == "dermatology"
    assert router.calls == []


def test_abstains_below_threshold_and_does_not_fall_back_to_the_default() -> None:
    decision = route(None, make_image(1), FixedRouter([0.45, 0.35, 0.2], CLASSES, threshold=0.5), "radiology")
    assert decision.domain is None and decision.source == "out_of_scope" and decision.out_of_scope
    assert decision.probability == pytest.approx(0.45)


def test_top_class_out_of_scope_abstains_even_when_confident() -> None:
    decision = route(None, make_image(1), FixedRouter([0.01, 0.01, 0.98], CLASSES, threshold=0.1), "radiology")
    assert decision.domain is None and decision.source == "out_of_scope"


def test_unknown_domain_names_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown domain 'cardiology'"):
        route("cardiology", None, None, default="radiology")
    with pytest.raises(ConfigError, match="unknown domain"):
        route(None, None, None, default="xray")


def test_no_way_to_choose_a_domain_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cannot choose a domain"):
        route(None, make_image(1), None, default=None)


def test_route_batch_calls_the_router_once_for_the_images_that_need_it() -> None:
    router = FixedRouter([0.2, 0.7, 0.1], CLASSES)
    decisions = route_batch(
        ["radiology", None, None, None], [make_image(1), make_image(2), None, make_image(3)], router, "dermatology"
    )
    assert [d.source for d in decisions] == ["query", "router", "default", "router"]
    assert router.calls == [2]
    json.dumps([d.to_dict() for d in decisions])


# --- calibration ---------------------------------------------------------------------------------------------------


def test_fit_temperature_recovers_the_temperature_that_generated_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4000, 4))
    probabilities = softmax(logits, 2.5)
    labels = np.array([rng.choice(4, p=row) for row in probabilities])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)
    fitted = fit_temperature(logits, labels)
    assert nll(softmax(logits, fitted), labels) <= nll(softmax(logits), labels)
    assert expected_calibration_error(softmax(logits, fitted), labels) < expected_calibration_error(
        softmax(logits), labels
    )


def test_fit_temperature_respects_bounds_on_a_perfectly_separated_set() -> None:
    logits = np.array([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(logits, [0, 1], bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-3)
    assert fit_temperature(logits, [0, 0]) == 1.0  # one class only: no evidence


# --- the trained router --------------------------------------------------------------------------------------------


@needs("torch", "torch")
def test_trained_cnn_router_is_accurate_on_held_out_colours_and_reloads_identically(cnn_router: Any) -> None:
    from mmedrag.routing.trained import TrainedRouter

    report, out = cnn_router
    assert report.accuracy is not None and report.accuracy >= 0.9
    assert report.nll_after <= report.nll_before + 1e-9
    assert set(report.classes) == set(COLOURS)
    fresh, labels = colour_set(5, offset=500)
    loaded = load_router(out)
    assert isinstance(loaded, TrainedRouter)
    probabilities = loaded.predict_proba(fresh)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.mean([loaded.classes[i] == label for i, label in zip(probabilities.argmax(1), labels, strict=True)]) > 0.9
    again = TrainedRouter.load(out).predict_proba(fresh)
    assert np.array_equal(probabilities, again)
    saved = json.loads((out / "router.json").read_text())
    assert saved["kind"] == "trained" and saved["encoder"] is None and saved["architecture"]["type"] == "cnn"


@needs("torch", "torch")
def test_training_is_deterministic_given_the_seed(tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router

    images, labels = colour_set(6)
    options = {**TINY_CNN, "epochs": 2, "min_per_class": 0}
    fit_router(images, labels, tmp_path / "a", RouterSettings(seed=3, **options))
    fit_router(images, labels, tmp_path / "b", RouterSettings(seed=3, **options))
    assert (tmp_path / "a" / "router.safetensors").read_bytes() == (tmp_path / "b" / "router.safetensors").read_bytes()


@needs("torch", "torch")
def test_head_router_on_encoder_embeddings_rebuilds_its_encoder_from_the_spec(tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router

    images = [make_image(seed).point(lambda v, s=seed: v // 3 + 170 * (s % 2)) for seed in range(60)]
    labels = ["radiology" if seed % 2 == 0 else "dermatology" for seed in range(60)]
    report = fit_router(
        images, labels, tmp_path / "head", RouterSettings(negatives=0, min_per_class=0, threads=1), encoder="hash:32"
    )
    assert report.architecture == "linear" and report.classes == ["radiology", "dermatology"]
    assert report.accuracy is not None and report.accuracy >= 0.9
    assert json.loads((tmp_path / "head" / "router.json").read_text())["encoder"] == {
        "kind": "hash",
        "dim": 32,
        "seed": 0,
    }
    router = load_router(tmp_path / "head")
    assert router.predict_proba(images[:4]).shape == (4, len(report.classes))


@needs("torch", "torch")
def test_out_of_scope_class_from_synthetic_negatives(tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router
    from mmedrag.training.router_negatives import synthetic_negatives

    images, labels = colour_set(20)
    settings = RouterSettings(image_size=32, widths=(8, 16), negatives=42, epochs=6, threads=1)
    report = fit_router(images, labels, tmp_path / "oos", settings)
    assert report.classes[-1] == OUT_OF_SCOPE
    charts = synthetic_negatives(7, seed=99)
    decisions = route_batch([None] * 7, charts, load_router(tmp_path / "oos"), "radiology")
    assert sum(d.out_of_scope for d in decisions) >= 5


def test_records_without_domain_are_a_data_error_naming_count_and_ids(tmp_path: Path) -> None:
    from mmedrag.training.router import train_router

    records = [Record(id="a", image_paths=("x.png",), domain="radiology"), Record(id="b", image_paths=("y.png",))]
    with pytest.raises(DataError, match=r"needs records with a domain label: 1 of 2 .*\(b\)"):
        train_router(records, tmp_path / "r")


@needs("torch", "torch")
def test_too_few_images_per_class_warns_naming_class_and_count(tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router

    images, labels = colour_set(4)
    with pytest.warns(UserWarning) as caught:
        report = fit_router(images, labels, tmp_path / "small", RouterSettings(**{**TINY_CNN, "epochs": 1}))
    assert any(str(w.message).startswith("class 'pathology' has only 4 training image(s)") for w in caught)
    assert any("pathology" in message for message in report.warnings)


@needs("torch", "torch")
def test_weights_of_another_architecture_are_a_config_error(cnn_router: Any, tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, fit_router

    _, out = cnn_router
    images, labels = colour_set(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit_router(
            images, labels, tmp_path / "wide", RouterSettings(**{**TINY_CNN, "widths": (8, 16, 32), "epochs": 1})
        )
    mixed = tmp_path / "mixed"
    shutil.copytree(out, mixed)
    shutil.copy(tmp_path / "wide" / "router.safetensors", mixed / "router.safetensors")
    with pytest.raises(ConfigError, match="another architecture"):
        load_router(mixed)
    (tmp_path / "tower").mkdir()
    with pytest.raises(ConfigError, match="not a router folder"):
        load_router(tmp_path / "tower")


@needs("torch", "torch")
def test_train_router_reads_images_and_skips_unreadable_ones(tmp_path: Path) -> None:
    from mmedrag.training.router import RouterSettings, train_router

    images, labels = colour_set(8)
    records = []
    for number, (image, label) in enumerate(zip(images, labels, strict=True)):
        image.save(tmp_path / f"{number}.png")
        records.append(Record(id=str(number), image_paths=(str(tmp_path / f"{number}.png"),), domain=label))
    records.append(Record(id="gone", image_paths=(str(tmp_path / "missing.png"),), domain="radiology"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        report = train_router(
            records, tmp_path / "r", RouterSettings(epochs=1, image_size=16, widths=(8, 16), negatives=0)
        )
    assert len(report.skipped) == 1 and report.skipped[0].startswith("gone:")


# --- the zero-shot router ------------------------------------------------------------------------------------------


def test_zero_shot_router_with_hash_encoder_gives_probabilities(hash_encoder: HashEncoder, tmp_path: Path) -> None:
    router = ZeroShotRouter(hash_encoder)
    assert router.classes == tuple(DEFAULT_PROMPTS) and OUT_OF_SCOPE in router.classes
    probabilities = router.predict_proba([make_image(seed) for seed in range(5)])
    assert probabilities.shape == (5, len(router.classes))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    router.save(tmp_path / "zs")
    again = load_router(tmp_path / "zs")
    assert np.allclose(again.predict_proba([make_image(0)]), probabilities[:1])
    assert load_router("zero_shot:hash:32").classes == router.classes


def test_zero_shot_fit_temperature_lowers_nll(hash_encoder: HashEncoder) -> None:
    router = ZeroShotRouter(hash_encoder, prompts={"radiology": ["dark"], "pathology": ["bright"]}, temperature=1.0)
    images = [make_image(seed) for seed in range(20)]
    scores = router.similarities(images)
    labels = ["radiology" if row[0] >= row[1] else "pathology" for row in scores]
    index = [router.classes.index(label) for label in labels]
    before = nll(router.predict_proba(images), index)
    router.fit_temperature(images, labels)
    assert nll(router.predict_proba(images), index) <= before
    with pytest.raises(ConfigError, match="not router classes"):
        router.fit_temperature(images[:1], ["cardiology"])


def test_zero_shot_rejects_bad_prompts_and_text_only_encoders(hash_encoder: HashEncoder) -> None:
    with pytest.raises(ConfigError, match="unknown router class"):
        ZeroShotRouter(hash_encoder, prompts={"radiology": ["x"], "cardiology": ["y"]})
    with pytest.raises(ConfigError, match="empty"):
        ZeroShotRouter(hash_encoder, prompts={"radiology": ["x"], "pathology": []})
    text_only = HashEncoder(dim=8)
    text_only.modalities = frozenset({"text"})  # type: ignore[misc]
    with pytest.raises(ConfigError, match="image-text encoder"):
        ZeroShotRouter(text_only)


# --- the CLI verbs and the import boundary -------------------------------------------------------------------------


def _run(command: Any, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return int(command.run(parser.parse_args(argv)))


@needs("torch", "torch")
def test_train_router_and_route_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmedrag.cli.route import RouteCommand
    from mmedrag.cli.train_router import TrainRouterCommand

    manifest = write_manifest(tmp_path, 8)
    argv = [
        str(manifest),
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--negatives",
        "7",
        "--threads",
        "1",
        "--json",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert _run(TrainRouterCommand(), argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"][-1] == OUT_OF_SCOPE and "ece_after" in report
    assert _run(RouteCommand(), ["--router", str(tmp_path / "r"), "--image", str(tmp_path / "im0.png"), "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["source"] in {"router", "out_of_scope"} and len(decision["probabilities"]) == 4


def test_train_router_command_names_the_manifest_without_labels(tmp_path: Path) -> None:
    from mmedrag.cli.train_router import TrainRouterCommand

    manifest = write_manifest(tmp_path, 2, with_domain=False)
    with pytest.raises(DataError, match=rf"6 of 6 in {manifest}"):
        _run(TrainRouterCommand(), [str(manifest), "--out", str(tmp_path / "r")])


def test_routing_imports_without_torch() -> None:
    code = "import sys, mmedrag.routing, mmedrag.routing.trained; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
