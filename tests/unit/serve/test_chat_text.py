"""The answer as chat text: grade and confidence after the answer, then numbered Markdown sources with the deciding
sentence and an absolute thumbnail link; report markup stripped and Markdown syntax escaped."""

from __future__ import annotations

import dataclasses
import re

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.retrieval.context import TopK
from mmedrag.serve.chat_text import case_statuses, chat_text, markdown_safe, reference_numbers
from mmedrag.serve.views import ask_payload, strip_markup
from mmedrag.types import Answer, Context, Hit, Query, Record

BASE = "https://rag.example.org/mmedrag/"
HOSTILE = 'Small <b onclick="x()">right</b> pleural *effusion* [see](javascript:alert(1)) <script>alert(2)</script>.'


def _answer(question: str, texts: list[str], **fields) -> Answer:
    """A real extractive answer over references with these report texts, assembled as the pipeline does."""
    records = [Record(f"case-{n}", text, domain="radiology", modality="xray") for n, text in enumerate(texts, 1)]
    hits = [Hit(record, 0.9 - 0.1 * rank, rank) for rank, record in enumerate(records, start=1)]
    context = TopK(k=len(hits)).select(Query(text=question), hits)
    prompt = PromptBuilder().build(Query(text=question), context, "radiology")
    generation = ExtractiveGenerator().generate([prompt])[0]
    trace = {"prompt": dict(prompt.trace), "generation": dict(generation.meta), "selector": dict(context.trace)}
    return Answer(generation.text, "radiology", prompt.task, context, trace=trace, **fields)


def test_a_supported_answer_shows_its_grade_confidence_and_numbered_sources() -> None:
    note = "Reference 2 states it."
    texts = ["Heart size normal.", "Large left pleural effusion.", "No pneumothorax."]
    answer = _answer("Is there a pleural effusion?", texts, grade="supported", confidence=0.87, note=note)
    answer = dataclasses.replace(answer, confidence_calibrated=True)
    text = chat_text(answer, BASE)
    first, evidence, sources = text.split("\n\n", 2)
    assert first.startswith("Yes. Reference [2]")
    assert evidence == f"**Evidence:** Supported: a cited report states it · confidence 0.87 (calibrated). {note}"
    items = sources.split("\n- ")
    assert items[0] == "**Sources**\n"
    assert [re.match(r"\*\*\[(\d)\] Case ([\w-]+)\*\*", item).groups() for item in items[1:]] == [
        ("1", "case-1"),
        ("2", "case-2"),
        ("3", "case-3"),
    ]
    assert "states it present · decided the answer" in items[2]
    assert 'Deciding sentence: "Large left pleural effusion."' in items[2]
    assert "does not mention the asked finding" in items[1] and "Deciding sentence" not in items[1]
    assert "![thumbnail of case case-2](https://rag.example.org/mmedrag/v1/cases/case-2/thumbnail)" in items[2]
    assert "score 0.800" in items[1]


def test_thumbnails_are_links_when_a_browser_could_not_load_them() -> None:
    answer = _answer("Is there a pleural effusion?", ["Small pleural effusion."], grade="supported")
    text = chat_text(answer, BASE, images=False)
    assert "![" not in text and "[thumbnail of case case-1](https://rag.example.org/mmedrag/v1/cases/" in text


@pytest.mark.parametrize("grade", ["abstained", "out_of_scope"])
def test_abstentions_and_out_of_scope_have_no_sources(grade: str) -> None:
    note = "No cited report mentions the finding."
    answer = _answer("Is there a pleural effusion?", ["Heart size normal."], grade=grade, note=note)
    answer = dataclasses.replace(answer, text="unknown") if grade == "abstained" else answer
    if grade == "out_of_scope":
        answer = Answer("unknown", "out_of_scope", "closed", Context(), trace={"abstained": "out of scope"},
                        grade="out_of_scope", note=note)  # fmt: skip
    text = chat_text(answer, BASE)
    assert "Sources" not in text and "thumbnail" not in text
    assert text.startswith("unknown\n\n**Evidence:** ") and text.endswith(note)


def test_an_ungraded_answer_says_so_instead_of_not_answered() -> None:
    answer = _answer("Is there a pleural effusion?", ["Small pleural effusion."])  # default grade, no note
    assert "**Evidence:** Not graded." in chat_text(answer, BASE)


def test_report_markup_and_markdown_in_quoted_sentences_cannot_break_out() -> None:
    answer = _answer("Is there a pleural effusion?", [HOSTILE], grade="supported")
    text = chat_text(answer, BASE)
    assert "<" not in text and "alert(2)" not in text and "onclick" not in text
    assert re.search(r"(?<!\\)\]\(javascript", text) is None and "\\](javascript" in text  # no live link
    assert "\\*effusion\\*" in text
    payload = ask_payload(answer)
    assert "<b" not in payload["answer"] and "alert(2)" not in payload["answer"] and "right" in payload["answer"]
    assert payload["evidence"][0]["report"] == HOSTILE  # the case itself is data, kept as it is


def test_markdown_safe_flattens_and_escapes_block_starts() -> None:
    assert markdown_safe("# Impression\n- effusion") == "\\# Impression - effusion"
    assert markdown_safe("1. Effusion | `x` ~y~ _z_") == "1\\. Effusion \\| \\`x\\` \\~y\\~ \\_z\\_"
    assert markdown_safe("See ![a](b) and [1]") == "See \\![a\\](b) and [1]"
    assert strip_markup("a <!-- c --> b <i>c</i> d < 5 mm <unclosed") == "a  b c d < 5 mm "


def test_sources_carry_the_prompts_reference_numbers_when_one_was_dropped() -> None:
    answer = _answer("Is there a pleural effusion?", ["Small pleural effusion.", "No effusion."])
    account = [{"id": "case-1", "status": "dropped"}, {"id": "case-2", "status": "full"}]
    answer = dataclasses.replace(answer, trace={**answer.trace, "prompt": {"references": account}})
    assert reference_numbers(answer) == {"case-2": 1}
    text = chat_text(dataclasses.replace(answer, grade="weak"), BASE)
    assert "**[-] Case case-1** · score 0.800 · not shown to the generator" in text


def test_open_answers_and_other_generators_claim_only_what_the_answer_quotes() -> None:
    texts = ["Small left pleural effusion.", "Heart size normal."]
    opened = _answer("Where is the pleural effusion?", texts, grade="supported")
    assert opened.task == "open"
    assert case_statuses(opened) == {"case-1": "quoted in the answer", "case-2": "given to the generator"}
    vlm = dataclasses.replace(opened, text="Left.", trace={**opened.trace, "generation": {"finish_reason": "stop"}})
    assert set(case_statuses(vlm).values()) == {"given to the generator"}


def test_a_reference_from_the_querys_own_study_is_marked() -> None:
    answer = _answer("Is there a pleural effusion?", ["Small pleural effusion.", "No effusion."], grade="inferred")
    account = [{"id": "case-1", "status": "full", "own": True}, {"id": "case-2", "status": "full"}]
    answer = dataclasses.replace(answer, trace={**answer.trace, "prompt": {"references": account}})
    statuses = case_statuses(answer)
    assert statuses["case-1"] == "states it present · decided the answer · the query's own study"
    assert statuses["case-2"] == "states it absent"


def test_the_concepts_behind_an_answer_show_in_chat_text_and_on_the_page(tmp_path) -> None:
    """With a concept graph, the reader sees which concept the question named and how its words were read."""
    from mmedrag.kg.graph import ConceptGraph, build_graph
    from mmedrag.kg.ontology import Concept
    from mmedrag.serve.views import summary

    concept = Concept("T:1", "Aortic tortuosity", "Abnormal tortuous (i.e., twisted) form of the aorta.")
    build_graph([concept], tmp_path / "kg.sqlite", {"name": "Test ontology"})
    graph = ConceptGraph(tmp_path / "kg.sqlite")
    question = "Is the aorta twisted?"
    records = [Record("case-1", "Tortuous aorta. Lungs clear.", domain="radiology")]
    context = TopK(k=1).select(Query(text=question), [Hit(records[0], 0.9, 1)])
    prompt = PromptBuilder(knowledge=graph).build(Query(text=question), context, "radiology")
    generation = ExtractiveGenerator().generate([prompt])[0]
    trace = {"prompt": dict(prompt.trace), "generation": dict(generation.meta), "selector": dict(context.trace)}
    answer = Answer(generation.text, "radiology", prompt.task, context, trace=trace, grade="supported")
    assert answer.text.startswith("Yes")
    text = chat_text(answer, BASE)
    assert "**Concepts:** Aortic tortuosity (HP:0006687)" not in text  # the test graph's own id, not HPO's
    assert '**Concepts:** Aortic tortuosity (T:1), "twisted" read as "tortuous"' in text
    assert summary(answer)["concepts"][0] == {
        "id": "T:1",
        "name": "Aortic tortuosity",
        "matched": "twisted",
        "read_as": "tortuous",
        "definition": "Abnormal tortuous (i.e., twisted) form of the aorta.",
        "source": "Test ontology",
    }
    assert "**Concepts:**" not in chat_text(_answer(question, ["Tortuous aorta."]), BASE)
