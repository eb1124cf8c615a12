"""What the page and the API show beside the answer: status, selector reason, deciding sentence, cases."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.retrieval.context import GapCutoff, TopK
from mmedrag.serve.views import ask_payload, case_payload, deciding_sentences, selector_reason, split_on, status_of
from mmedrag.types import Answer, Context, Hit, Query, Record

RECORDS = [
    Record(
        "a", "Heart size normal. Small left pleural effusion.", domain="radiology", modality="xray", patient_id="P1"
    ),
    Record("b", "No pleural effusion. Lungs clear.", domain="radiology", modality="xray", study_id="S9"),
]


def _answer(question: str) -> Answer:
    """A real extractive answer over two references, assembled as the pipeline does."""
    hits = [Hit(record, 0.9 - 0.1 * rank, rank) for rank, record in enumerate(RECORDS, start=1)]
    context = TopK(k=2).select(Query(text=question), hits)
    prompt = PromptBuilder().build(Query(text=question), context, "radiology")
    generation = ExtractiveGenerator().generate([prompt])[0]
    trace = {"route": {"probability": 0.93}, "domain_source": "router", "selector": dict(context.trace)}
    trace["generation"] = dict(generation.meta)
    return Answer(generation.text, "radiology", prompt.task, context, trace=trace)


def test_the_deciding_sentence_is_the_one_the_extractive_answer_quotes() -> None:
    answer = _answer("Is there a pleural effusion?")
    deciding = deciding_sentences(answer)
    assert len(deciding) == 1
    ((record_id, sentence),) = deciding.items()
    assert sentence in answer.text and sentence in next(r.text for r in RECORDS if r.id == record_id)
    payload = ask_payload(answer)
    cards = {card["id"]: card for card in payload["evidence"]}
    assert cards[record_id]["deciding_sentence"] == sentence
    assert payload["summary"]["status"] == "answered" and payload["summary"]["domain_confidence"] == 0.93
    assert {k: payload[k] for k in answer.to_dict()} == answer.to_dict()  # the `ask --json` object, unchanged


def test_an_unknown_answer_is_an_abstention_and_out_of_scope_is_its_own_status() -> None:
    assert status_of(_answer("Is it?")) == "abstained"  # no finding named: the answerer abstains
    refused = Answer("unknown", "out_of_scope", "closed", Context(), trace={"abstained": "out of scope"})
    assert status_of(refused) == "out_of_scope"


def test_selector_reasons_say_where_and_why_the_list_was_cut() -> None:
    hits = [Hit(Record(str(i)), score, i) for i, score in enumerate([0.9, 0.88, 0.3, 0.29], start=1)]
    gap = GapCutoff(gamma=0.5, k_min=1, k=4).select(Query(text="q"), hits)
    assert selector_reason(dict(gap.trace)).startswith("cut after 2 of 4 cases at the first similarity drop")
    top = TopK(k=3).select(Query(text="q"), hits)
    assert selector_reason(dict(top.trace)) == "top-k rule: the 3 best of 4 retrieved cases (k = 3)"
    assert "nothing was retrieved" in selector_reason({})


def test_split_on_finds_the_sentence_or_leaves_the_text_whole() -> None:
    assert split_on("A. B. C.", "B.") == ("A. ", "B.", " C.")
    assert split_on("A. B.", "Z.") == ("A. B.", "", "")


def test_a_case_never_carries_patient_or_study_ids_or_paths() -> None:
    record = Record(
        "a", "text", ("/data/secret/path.png",), domain="radiology", modality="xray", patient_id="P1", study_id="S1"
    )
    payload = case_payload(record)
    assert "P1" not in str(payload) and "S1" not in str(payload) and "/data" not in str(payload)
    assert payload["views"] == 1 and payload["thumbnail_url"] == "/v1/cases/a/thumbnail"


def test_a_request_k_caps_every_selector_kind_and_retrieval_off_is_a_query_field(tiny_manifest: Path) -> None:
    """Request options are data on the Query (issue 21): one pipeline answers every option set; the cap applies
    after whichever selector chose, and the loaded pipeline is left as it was."""
    from dataclasses import replace

    from mmedrag.config import load_config
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.factory import build_pipeline
    from mmedrag.indexing import build_index
    from mmedrag.io.readers import read_source
    from mmedrag.types import Query

    index = tiny_manifest.parent / "capidx"
    build_index(read_source(tiny_manifest).records, index, HashEncoder(dim=32), store="exact")
    for selector in ({"kind": "top_k", "k": 5}, {"kind": "gap", "gamma": 10.0, "k_min": 3, "k": 5}):
        config = load_config(values={"index": str(index), "selector": selector, "default_domain": "radiology"})
        pipeline = build_pipeline(config)
        query = Query(text="pleural effusion lungs", domain="radiology")
        full, capped, bare = pipeline.answer_batch(
            [query, replace(query, max_references=2), replace(query, retrieval=False)]
        )
        assert full.trace["selector"]["cut"] >= 3 and len(full.trace["retrieved"]) >= 3, selector
        assert capped.trace["selector"]["max_references"] == 2 and len(capped.context.hits) <= 2, selector
        assert len(capped.trace["prompt"]["references"]) == 2, selector  # the generator saw two
        assert bare.trace.get("retrieved", []) == [] and bare.trace["selector"] == {"rule": "no_retrieval"}, selector
        assert pipeline.default.selector == build_pipeline(config).default.selector  # nothing was patched
