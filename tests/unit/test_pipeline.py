from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import make_image
from fakes import EchoGenerator
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError, ImageError
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.context import MinScore, TopK
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Hit, Query, Record


@pytest.fixture
def retriever(tiny_manifest: Path, hash_encoder: HashEncoder) -> Retriever:
    build_index(read_manifest(tiny_manifest), tiny_manifest.parent / "idx", hash_encoder, store="exact")
    return Retriever(FolderIndex.load(tiny_manifest.parent / "idx"), hash_encoder)


def test_answer_cites_the_selected_cases_and_traces_every_stage(retriever: Retriever) -> None:
    generator = EchoGenerator()  # its answers are neither yes nor no: "lean" shows them, graded weak
    pipeline = RAGPipeline(generator, Bundle(retriever=retriever, selector=TopK(2), fetch_k=5), answer_weak="lean")
    answer = pipeline.answer(Query(text="Is there a pleural effusion?", image=make_image(9)))
    shown = [r.record_id for r in generator.calls[0][0].references]
    assert answer.text == "closed|Is there a pleural effusion?|" + ",".join(shown)
    assert [c["id"] for c in answer.citations] == shown and answer.context.k == 2
    # the fundus case (r5) is about the eye, the question about the chest: set aside, with its reason
    assert [h["id"] for h in answer.trace["inconsistent"]] == ["r5"]
    assert len(answer.trace["retrieved"]) == 4 and answer.trace["selector"]["cut"] == 2
    assert answer.domain == "radiology" and answer.trace["domain_source"] == "default"
    assert set(answer.timings_ms) == {"route", "retrieve", "select", "prompt", "generate", "total"}
    assert answer.prompt_tokens > 0
    data = answer.to_dict()
    assert {"answer", "domain", "citations", "k", "prompt_tokens", "timings_ms"} <= set(data)


def test_without_a_retriever_the_generator_sees_no_references() -> None:
    answer = RAGPipeline(generator=EchoGenerator()).answer(Query(text="What organ is this?"))
    assert answer.text == "open|What organ is this?|" and answer.citations == [] and answer.trace["retrieved"] == []


def test_the_query_domain_wins_and_unknown_domains_fail(retriever: Retriever) -> None:
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever))
    answer = pipeline.answer(Query(text="Is the disc cupped?", domain="Ophthalmology"))
    assert (answer.domain, answer.trace["domain_source"]) == ("ophthalmology", "query")
    with pytest.raises(ConfigError, match="unknown domain 'cardiology'"):
        pipeline.answer(Query(text="x", domain="cardiology"))


def test_references_cut_by_the_token_budget_are_not_cited(retriever: Retriever) -> None:
    prompts = PromptBuilder(max_reference_tokens=12, min_reference_tokens=8)
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever, selector=TopK(3), prompts=prompts))
    answer = pipeline.answer(Query(text="effusion"))
    statuses = [entry["status"] for entry in answer.trace["prompt"]["references"]]
    assert statuses.count("dropped") >= 1
    assert len(answer.citations) == 3 - statuses.count("dropped")


def test_batched_answers_equal_single_answers(retriever: Retriever) -> None:
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever))
    queries = [
        Query(text="cardiomegaly?"),
        Query(text="Is there glaucoma?", image=make_image(3)),
        Query(text="", image=make_image(4)),
    ]
    batched = pipeline.answer_batch(queries, batch_size=2)
    assert [a.text for a in batched] == [pipeline.answer(q).text for q in queries]


def test_an_unreadable_query_image_names_the_file(retriever: Retriever, tmp_path: Path) -> None:
    (tmp_path / "q.png").write_bytes(b"garbage")
    with pytest.raises(ImageError, match=r"q\.png: not a readable image"):
        RAGPipeline(EchoGenerator(), Bundle(retriever=retriever)).answer(Query(image_path=str(tmp_path / "q.png")))


@pytest.mark.parametrize(
    ("selector", "scores", "kept"),
    [
        (TopK(2), [0.9, 0.8, 0.7], 2),
        (TopK(0), [0.9, 0.8], 0),
        (TopK(5), [0.9], 1),
        (MinScore(0.75, k=5), [0.9, 0.8, 0.7], 2),
        (MinScore(0.95, k=5), [0.9, 0.8], 0),
        (MinScore(-1.0, k=2), [-0.1, -0.2, -0.3], 2),
    ],
)
def test_selectors_cut_where_expected_and_trace_the_scores(selector, scores: list[float], kept: int) -> None:
    hits = [Hit(Record(id=str(i), text="x"), s, i) for i, s in enumerate(scores)]
    context = selector.select(Query(text="q"), hits)
    assert context.k == kept and context.trace["scores"] == scores and context.trace["cut"] == kept


def test_negative_k_is_refused() -> None:
    with pytest.raises(ConfigError):
        TopK(-1)


class FixedRouter:
    """A fake router: probabilities chosen per image width (so a test can steer each query)."""

    classes = ("radiology", "ophthalmology", "out_of_scope")
    threshold = 0.5

    def __init__(self, by_width: dict[int, list[float]]) -> None:
        self.by_width = by_width

    def predict_proba(self, images):
        import numpy as np

        return np.array([self.by_width[image.width] for image in images])

    def spec(self) -> dict:
        return {"kind": "fixed"}

    def save(self, path):
        return path


def test_router_picks_the_bundle_and_out_of_scope_is_not_answered(tiny_manifest: Path, hash_encoder) -> None:
    from mmedrag.pipeline import Bundle

    build_index(read_manifest(tiny_manifest), tiny_manifest.parent / "idx", hash_encoder, store="exact")
    eye = Retriever(FolderIndex.load(tiny_manifest.parent / "idx"), hash_encoder)
    generator = EchoGenerator()
    router = FixedRouter({48: [0.1, 0.85, 0.05], 50: [0.2, 0.1, 0.7], 52: [0.45, 0.4, 0.15], 54: [0.9, 0.05, 0.05]})
    pipeline = RAGPipeline(
        generator=generator,
        router=router,
        bundles={"ophthalmology": Bundle("ophthalmology", retriever=eye, selector=TopK(1))},
        answer_weak="lean",
    )
    queries = [Query(text="Is the disc cupped?", image=make_image(1, size=(w, 40))) for w in (48, 50, 52, 54)]
    eye_answer, chart, unsure, xray = pipeline.answer_batch(queries)
    assert (eye_answer.domain, eye_answer.trace["bundle"], eye_answer.context.k) == (
        "ophthalmology",
        "ophthalmology",
        1,
    )
    assert eye_answer.trace["route"]["probability"] == 0.85 and eye_answer.trace["domain_source"] == "router"
    assert chart.domain == "out_of_scope" and chart.text == "unknown" and chart.citations == []
    assert (chart.grade, unsure.grade, chart.confidence) == ("out_of_scope", "out_of_scope", None)
    assert unsure.domain == "out_of_scope"  # 0.45 is below the threshold: abstain, never fall back to the default
    assert (xray.domain, xray.trace["bundle"], xray.context.k) == ("radiology", "default", 0)
    assert len(generator.calls[0]) == 2  # the two out-of-scope queries never reach the generator


def test_an_explicit_domain_beats_the_router(tiny_manifest: Path) -> None:
    router = FixedRouter({48: [0.05, 0.05, 0.9]})
    answer = RAGPipeline(generator=EchoGenerator(), router=router).answer(
        Query(text="Is there an effusion?", image=make_image(2), domain="radiology")
    )
    assert (answer.domain, answer.trace["domain_source"]) == ("radiology", "query")


def test_without_router_or_default_the_pipeline_refuses_to_guess() -> None:
    with pytest.raises(ConfigError, match="cannot choose a domain"):
        RAGPipeline(generator=EchoGenerator(), default_domain=None).answer(Query(text="x?"))


def test_config_builds_bundles_per_domain(tiny_manifest: Path, hash_encoder, tmp_path: Path) -> None:
    from mmedrag.config import load_config
    from mmedrag.factory import build_pipeline

    build_index(read_manifest(tiny_manifest), tmp_path / "rad", hash_encoder, store="exact")
    build_index(read_manifest(tiny_manifest)[4:5], tmp_path / "eye", hash_encoder, store="exact")
    config = load_config(
        None,
        # Text questions find their cases by their words (weak evidence, withheld by default): shown here, to cite.
        ["selector.k=2", "domains.ophthalmology.selector.k=1", "default_domain=radiology", "answers.answer_weak=lean"],
        {
            "index": str(tmp_path / "rad"),
            "domains.ophthalmology.index": str(tmp_path / "eye"),
            "encoder": {"kind": "hash", "dim": 32},
            "domains.ophthalmology.encoder": "hash:32",
        },
    )
    pipeline = build_pipeline(config)
    eye = pipeline.answer(Query(text="Is the disc cupped?", domain="ophthalmology"))
    rad = pipeline.answer(Query(text="Is there an effusion?"))
    assert [c["id"] for c in eye.citations] == ["r5"] and eye.trace["bundle"] == "ophthalmology"
    assert rad.context.k == 2 and rad.trace["bundle"] == "default"
    with pytest.raises(ConfigError, match="unknown domain 'cardiology'"):
        build_pipeline(load_config(None, [], {"domains.cardiology.selector.k": 1}))


def test_retrieval_fetches_as_many_hits_as_the_selector_may_keep(retriever: Retriever) -> None:
    pipeline = RAGPipeline(
        EchoGenerator(), Bundle(retriever=retriever, selector=TopK(4), fetch_k=2), answer_weak="lean"
    )
    answer = pipeline.answer(Query(text="Is there a pleural effusion?", image=make_image(9)))
    assert len(answer.trace["retrieved"]) == 4 and answer.context.k == 4


def test_an_answer_less_likely_right_than_min_confidence_is_withheld(retriever: Retriever) -> None:
    from mmedrag.calibration.confidence import ConfidenceCalibrator
    from mmedrag.generation.extractive import ExtractiveGenerator

    coin = ConfidenceCalibrator("isotonic", maps={"*": ([0.0, 1.0], [0.4, 0.4])})  # every answer right 40% of the time
    query = Query(text="Is there a pleural effusion?", domain="radiology")
    bundle = Bundle(retriever=retriever, selector=TopK(1), retrieval_mode="text")
    lean = {"calibrator": coin, "answer_weak": "lean"}  # cases found by the question's words are weak evidence
    shown = RAGPipeline(ExtractiveGenerator(), bundle, min_confidence=0.0, **lean).answer(query)
    assert shown.grade == "weak" and shown.confidence == pytest.approx(0.4) and shown.confidence_calibrated
    withheld = RAGPipeline(ExtractiveGenerator(), bundle, **lean).answer(query)
    assert (withheld.text, withheld.grade, withheld.citations) == ("unknown", "abstained", [])
    assert withheld.note.startswith(
        "Withheld: answers resting on such evidence are right 40% of the time, below the 50%"
    )
    assert withheld.trace["withheld"] == {"answer": shown.text, "confidence": pytest.approx(0.4)}


def test_one_plan_answers_several_ways_without_being_changed(retriever: Retriever, tmp_path: Path) -> None:
    """Calibration and reliance runs answer one plan with several selectors: an abstention on one run (no k
    certified) must not leak into the next, and a request's max_references caps whatever selector chose."""
    from mmedrag.calibration.ltt import CalibrationResult
    from mmedrag.retrieval.context import CalibratedK

    uncertified = tmp_path / "calibration.json"
    result = CalibrationResult(0.1, 0.1, 10, "bonferroni", [1], {1: 0.9}, {1: 1.0}, {1: 1.0}, [], None)
    uncertified.write_text(json.dumps(result.to_dict()))
    pipeline = RAGPipeline(EchoGenerator(), Bundle(retriever=retriever, selector=TopK(3)), answer_weak="lean")
    query = Query(text="Is there a pleural effusion?", image=make_image(9))
    planned = pipeline.plan([query, replace(query, max_references=1)])
    abstained = pipeline.with_selector(CalibratedK(str(uncertified))).respond(planned)
    assert [a.grade for a in abstained] == ["abstained", "abstained"]
    assert "no k certified" in abstained[0].trace["abstained"]
    answered = pipeline.respond(planned)
    assert [a.context.k for a in answered] == [3, 1] and answered[1].trace["selector"]["max_references"] == 1
    bare = pipeline.respond([p.without_retrieval() for p in planned])
    assert [a.context.k for a in bare] == [0, 0] and bare[0].trace["selector"] == {"rule": "no_retrieval"}
    assert [len(p.hits) for p in planned] == [len(a.trace["retrieved"]) for a in answered]
