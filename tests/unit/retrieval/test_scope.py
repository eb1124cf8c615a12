"""The in-scope check: the conformal threshold, its fit on a real (small) MedPix index, persistence, the pipeline's
verdict and trace, and the off switch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fakes import EchoGenerator
from mmedrag.config import load_config
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError
from mmedrag.factory import build_pipeline
from mmedrag.indexing import build_index, refit_scope
from mmedrag.io.images import load_image
from mmedrag.io.readers import read_source
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.image_stats import FEATURES, IMAGE_STATS, image_statistics
from mmedrag.retrieval.retriever import Retriever
from mmedrag.retrieval.scope import (
    SCOPE_KEY,
    ScopeModel,
    ScopeTest,
    conformal_p_value,
    conformal_threshold,
    leave_one_out_scores,
)
from mmedrag.retrieval.scope_fit import EMBEDDING, scope_of
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Query, Record

QUESTION = "Is there a pleural effusion?"


# --- the conformal threshold ----------------------------------------------------------------------------------------


def test_threshold_is_the_floor_alpha_n_plus_one_th_smallest_score() -> None:
    scores = np.arange(1.0, 100.0)  # n = 99: floor(0.05 * 100) = 5 -> the 5th smallest
    assert conformal_threshold(scores[::-1], 0.05) == 5.0
    assert conformal_threshold(np.arange(19.0), 0.05) == 0.0  # n = 19: rank 1, the least score
    assert conformal_threshold(np.arange(18.0), 0.05) is None  # n = 18: alpha * (n + 1) < 1, nothing can be flagged
    with pytest.raises(ConfigError, match="alpha"):
        conformal_threshold(scores, 0.0)


def test_p_value_at_most_alpha_exactly_when_below_the_threshold() -> None:
    rng = np.random.default_rng(0)
    scores = np.sort(rng.standard_normal(57))
    for alpha in (0.05, 0.1, 0.2):
        threshold = conformal_threshold(scores, alpha)
        assert threshold is not None
        for score in rng.standard_normal(200):
            assert (conformal_p_value(scores, score) <= alpha) == (score < threshold)


def test_in_domain_flag_rate_is_at_most_alpha_on_exchangeable_scores() -> None:
    """The finite-sample bound: over many calibration draws, a fresh in-domain score is flagged <= alpha of the time
    (floor(alpha * (n + 1)) / (n + 1) = 2/41 here), where the plain empirical quantile would flag more."""
    rng = np.random.default_rng(1)
    n, trials, alpha = 40, 4000, 0.05
    flagged = 0
    for _ in range(trials):
        threshold = conformal_threshold(rng.standard_normal(n), alpha)
        assert threshold is not None
        flagged += int(rng.standard_normal() < threshold)
    assert flagged / trials <= alpha
    assert abs(flagged / trials - 2 / 41) < 0.012


def test_leave_one_out_skips_exclusions_and_widens() -> None:
    vectors = np.eye(3, dtype=np.float32)
    table = {0: [("a", 1.0), ("b", 0.9), ("c", 0.1)], 1: [("b", 1.0), ("a", 0.5), ("c", 0.2)], 2: [("c", 1.0)]}
    asked: list[int] = []

    def search(rows: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        asked.append(k)
        return [table[int(np.argmax(row))][:k] for row in rows]

    skip = {0: {"a", "b"}, 1: {"b"}, 2: {"c"}}
    scores = leave_one_out_scores(vectors, search, lambda row: skip[row], total=3)
    assert scores[0] == pytest.approx(0.1) and scores[1] == pytest.approx(0.5)
    assert np.isnan(scores[2])  # every candidate excluded: no score (dropped by the fit)


def test_model_round_trips_and_splits_alpha_by_bonferroni() -> None:
    tests = {name: ScopeTest(name, np.arange(39.0)) for name in ("one", "two")}
    model = ScopeModel(0.1, tests, {"images": 39})
    again = ScopeModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again is not None and again.alpha == 0.1 and again.info["images"] == 39
    verdict = again.verdict({"one": 1.5, "two": 10.0})
    # alpha 0.1 over two tests: 0.05 each, rank floor(0.05 * 40) = 2 -> threshold 1.0; 1.5 is not below it
    assert verdict.status == "in_scope" and verdict.tests["one"]["threshold"] == 1.0
    assert verdict.tests["one"]["alpha"] == 0.05
    assert again.verdict({"one": 0.5, "two": 10.0}).out_of_scope
    assert ScopeModel.from_dict(None) is None and ScopeModel.from_dict({}) is None
    with pytest.raises(ConfigError, match="refit"):
        ScopeModel.from_dict({**model.to_dict(), "version": 99})


# --- a small real-data index -----------------------------------------------------------------------------------------


def chart() -> Image.Image:
    """A 'Quarterly sales' bar chart, drawn with PIL: white background, coloured bars, axes and a title."""
    image = Image.new("RGB", (480, 320), "white")
    draw = ImageDraw.Draw(image)
    draw.line((40, 280, 460, 280), fill="black", width=2)
    draw.line((40, 20, 40, 280), fill="black", width=2)
    bars = ((120, "#1f77b4"), (200, "#ff7f0e"), (160, "#2ca02c"), (240, "#d62728"))
    for n, (height, colour) in enumerate(bars):
        draw.rectangle((70 + n * 100, 280 - height, 130 + n * 100, 279), fill=colour)
    draw.text((180, 5), "Quarterly sales", fill="black")
    return image


@pytest.fixture(scope="module")
def medpix(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Record]]:
    """60 MedPix 2.0 images (about 30 cases) indexed with the hash encoder: enough for alpha/2 = 0.025 to flag."""
    records = read_source(shared_data / "medpix2").records[:60]
    folder = tmp_path_factory.mktemp("scope") / "idx"
    report = build_index(records, folder, HashEncoder(dim=64), store="exact")
    assert report.scope["fitted"] and report.scope["scored"] == 60
    return folder, records


def test_fit_is_saved_with_the_index_and_reloads_in_a_new_process(medpix: tuple[Path, list[Record]]) -> None:
    folder, _ = medpix
    model = scope_of(FolderIndex.load(folder))
    assert model is not None and set(model.tests) == {EMBEDDING, IMAGE_STATS} and model.alpha == 0.05
    assert len(model.tests[EMBEDDING].scores) == 60
    code = (
        "import json, sys\nfrom mmedrag.stores.index import FolderIndex\nfrom mmedrag.retrieval.scope_fit import "
        "scope_of\nprint(json.dumps(scope_of(FolderIndex.load(sys.argv[1])).to_dict()))"
    )
    src = str(Path(__file__).resolve().parents[3] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == json.loads(json.dumps(model.to_dict()))


def test_chart_is_flagged_and_knowledge_base_images_are_not(medpix: tuple[Path, list[Record]]) -> None:
    folder, records = medpix
    retriever = Retriever(FolderIndex.load(folder), HashEncoder(dim=64))
    own = [Query(text=QUESTION, image=load_image(r.image_paths[0])) for r in records[::6]]
    hits, verdicts = retriever.search_checked([Query(text=QUESTION, image=chart()), *own], k=3)
    assert verdicts[0].out_of_scope and hits[0] == []  # not searched: nothing to cite
    assert verdicts[0].tests[IMAGE_STATS]["flagged"]
    assert all(v.status == "in_scope" for v in verdicts[1:]) and all(hits[1:])
    text_only = retriever.search_checked([Query(text=QUESTION)], k=3)[1][0]
    assert text_only.status == "no_image"  # questions without an image are not this check's business


def test_pipeline_abstains_out_of_scope_with_the_numbers_in_the_trace(medpix: tuple[Path, list[Record]]) -> None:
    folder, records = medpix
    retriever = Retriever(FolderIndex.load(folder), HashEncoder(dim=64))
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever), answer_weak="lean")
    flagged, kept = pipeline.answer_batch(
        [Query(text=QUESTION, image=chart()), Query(text=QUESTION, image=load_image(records[0].image_paths[0]))]
    )
    assert flagged.context.hits == () and flagged.trace["domain_source"] == "out_of_scope"
    assert (flagged.grade, flagged.confidence) == ("out_of_scope", None) and "knowledge base" in flagged.note
    scope = flagged.trace["route"]["scope"]
    assert scope["status"] == "out_of_scope" and scope["alpha"] == 0.05 and "unlike" in scope["reason"]
    for name in (EMBEDDING, IMAGE_STATS):
        assert set(scope["tests"][name]) == {"score", "threshold", "p_value", "alpha", "flagged"}
    assert kept.context.hits and kept.trace["route"]["scope"]["status"] == "in_scope"
    assert kept.trace["route"]["domain"] == "radiology"


def test_off_switch_answers_the_chart(medpix: tuple[Path, list[Record]]) -> None:
    folder, _ = medpix
    config = load_config(values={"index": str(folder), "generator": "extractive", "scope_check": False})
    pipeline = build_pipeline(config)
    assert pipeline.scope_check is False and load_config().scope_check is True
    answer = pipeline.answer(Query(text=QUESTION, image=chart()))
    assert answer.trace["route"]["scope"]["status"] == "off" and answer.trace["domain_source"] == "default"
    assert answer.trace["retrieved"]  # what the check prevents: other patients' reports retrieved for a chart


def test_index_without_a_fit_is_not_flagged_until_refitted(tmp_path: Path, medpix: tuple[Path, list[Record]]) -> None:
    _, records = medpix
    folder = tmp_path / "old"
    build_index(records[:40], folder, HashEncoder(dim=64), store="exact")
    with FolderIndex.open_for_write(folder) as index:  # as an index saved before the check existed
        index.info.pop(SCOPE_KEY)
        index.save()
    retriever = Retriever(FolderIndex.load(folder), HashEncoder(dim=64))
    hits, verdicts = retriever.search_checked([Query(text=QUESTION, image=chart())], k=2)
    assert verdicts[0].status == "not_fitted" and "--refit-scope" in verdicts[0].reason and hits[0]
    summary = refit_scope(folder, alpha=0.1)
    assert summary["fitted"] and summary["alpha"] == 0.1
    again = Retriever(FolderIndex.load(folder), HashEncoder(dim=64))
    assert again.search_checked([Query(text=QUESTION, image=chart())], k=2)[1][0].out_of_scope


def test_image_statistics_tell_a_chart_from_a_grey_scan() -> None:
    scan = Image.fromarray((np.random.default_rng(0).random((96, 96)) * 120).astype(np.uint8)).convert("RGB")
    chart_stats, scan_stats = image_statistics(chart()), image_statistics(scan)
    assert chart_stats.shape == scan_stats.shape and np.isfinite(chart_stats).all()
    saturation = FEATURES.index("saturation_mean")  # a grey scan has none, the chart's bars do
    assert scan_stats[saturation] == 0.0 < chart_stats[saturation]


def test_cli_ask_off_switch_and_index_refit(
    medpix: tuple[Path, list[Record]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.cli import main

    folder, _ = medpix
    chart().save(tmp_path / "chart.png")
    ask = ["ask", "--index", str(folder), "--image", str(tmp_path / "chart.png"), "--question", QUESTION, "--json"]
    assert main(ask) == 0
    flagged = json.loads(capsys.readouterr().out)
    assert flagged["citations"] == [] and flagged["trace"]["route"]["scope"]["status"] == "out_of_scope"
    assert main([*ask, "--no-scope-check"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert answered["citations"] and answered["trace"]["route"]["scope"]["status"] == "off"
    copy = tmp_path / "copy"
    build_index(medpix[1][:40], copy, HashEncoder(dim=64), store="exact")
    assert main(["index", "--index", str(copy), "--refit-scope", "--scope-alpha", "0.2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scope"]["alpha"] == 0.2
    assert scope_of(FolderIndex.load(copy)).alpha == 0.2  # type: ignore[union-attr]


class ConfidentRouter:
    """A router sure that every image is radiology (as a weak router may be about a chart)."""

    classes: tuple[str, ...] = ("radiology", "out_of_scope")
    threshold: float = 0.5

    def predict_proba(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.tile([0.97, 0.03], (len(images), 1))

    def spec(self) -> dict[str, Any]:
        return {"kind": "confident"}

    def save(self, path: str | Path) -> Path:
        return Path(path)


def test_with_a_router_both_apply(medpix: tuple[Path, list[Record]]) -> None:
    folder, records = medpix
    retriever = Retriever(FolderIndex.load(folder), HashEncoder(dim=64))
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever), router=ConfidentRouter(), answer_weak="lean")
    flagged, kept = pipeline.answer_batch(
        [Query(text=QUESTION, image=chart()), Query(text=QUESTION, image=load_image(records[0].image_paths[0]))]
    )
    route = flagged.trace["route"]
    assert route["source"] == "out_of_scope" and route["probabilities"]["radiology"] == 0.97  # the router's, kept
    assert route["scope"]["status"] == "out_of_scope" and not flagged.context.hits
    assert kept.trace["route"]["source"] == "router" and kept.context.hits
