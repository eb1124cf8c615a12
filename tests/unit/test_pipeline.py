from __future__ import annotations

from pathlib import Path

import pytest

from conftest import make_image
from fakes import EchoGenerator
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError, ImageError
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.pipeline import RAGPipeline
from mmedrag.retrieval.context import MinScore, TopK
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import KnowledgeIndex
from mmedrag.types import Hit, Query, Record


@pytest.fixture
def retriever(tiny_manifest: Path, hash_encoder: HashEncoder) -> Retriever:
    build_index(read_manifest(tiny_manifest), tiny_manifest.parent / "idx", hash_encoder, store="exact")
    return Retriever(KnowledgeIndex.load(tiny_manifest.parent / "idx"), hash_encoder)


def test_answer_cites_the_selected_cases_and_traces_every_stage(retriever: Retriever) -> None:
    generator = EchoGenerator()
    pipeline = RAGPipeline(generator=generator, retriever=retriever, selector=TopK(2), fetch_k=5)
    answer = pipeline.answer(Query(text="Is there a pleural effusion?", image=make_image(9)))
    shown = [r.record_id for r in generator.calls[0][0].references]
    assert answer.text == "closed|Is there a pleural effusion?|" + ",".join(shown)
    assert [c["id"] for c in answer.citations] == shown and answer.context.k == 2
    assert len(answer.trace["retrieved"]) == 5 and answer.trace["selector"]["cut"] == 2
    assert answer.domain == "radiology" and answer.trace["domain_source"] == "default"
    assert set(answer.timings_ms) == {"route", "retrieve", "select", "prompt", "generate", "total"}
    assert answer.prompt_tokens > 0
    data = answer.to_dict()
    assert {"answer", "domain", "citations", "k", "prompt_tokens", "timings_ms"} <= set(data)


def test_without_a_retriever_the_generator_sees_no_references() -> None:
    answer = RAGPipeline(generator=EchoGenerator()).answer(Query(text="What organ is this?"))
    assert answer.text == "open|What organ is this?|" and answer.citations == [] and answer.trace["retrieved"] == []


def test_the_query_domain_wins_and_unknown_domains_fail(retriever: Retriever) -> None:
    pipeline = RAGPipeline(generator=EchoGenerator(), retriever=retriever)
    answer = pipeline.answer(Query(text="Is the disc cupped?", domain="Ophthalmology"))
    assert (answer.domain, answer.trace["domain_source"]) == ("ophthalmology", "query")
    with pytest.raises(ConfigError, match="unknown domain 'cardiology'"):
        pipeline.answer(Query(text="x", domain="cardiology"))


def test_references_cut_by_the_token_budget_are_not_cited(retriever: Retriever) -> None:
    pipeline = RAGPipeline(
        generator=EchoGenerator(),
        retriever=retriever,
        selector=TopK(3),
        prompts=PromptBuilder(max_reference_tokens=12, min_reference_tokens=8),
    )
    answer = pipeline.answer(Query(text="effusion"))
    statuses = [entry["status"] for entry in answer.trace["prompt"]["references"]]
    assert statuses.count("dropped") >= 1
    assert len(answer.citations) == 3 - statuses.count("dropped")


def test_batched_answers_equal_single_answers(retriever: Retriever) -> None:
    pipeline = RAGPipeline(generator=EchoGenerator(), retriever=retriever)
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
        RAGPipeline(generator=EchoGenerator(), retriever=retriever).answer(Query(image_path=str(tmp_path / "q.png")))


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
