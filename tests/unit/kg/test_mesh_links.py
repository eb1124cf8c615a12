"""A record's own MeSH annotation (Open-i's IU-Xray reports) as concept links of source "mesh", kept apart from the
links its report text makes (source "text"), and shown with their source."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mmedrag.kg.graph import ConceptGraph, build_graph
from mmedrag.kg.links import MESH, TEXT, ConceptLinks, link_index, link_mesh
from mmedrag.kg.mesh import main_heading, read_term
from mmedrag.kg.ontology import read_obo
from mmedrag.types import Query, Record

OBO = """format-version: 1.2
data-version: test/2025-01-01

[Term]
id: T:1
name: Cardiomegaly
synonym: "Enlarged heart" EXACT layperson []

[Term]
id: T:2
name: Hiatal hernia
synonym: "Hiatus hernia" EXACT []

[Term]
id: T:3
name: Emphysema
"""


@pytest.fixture
def graph(tmp_path: Path) -> ConceptGraph:
    obo = tmp_path / "test.obo"
    obo.write_text(OBO, encoding="utf-8")
    build_graph(read_obo(obo), tmp_path / "kg.sqlite", {"name": "Test ontology", "version": "test"})
    return ConceptGraph(tmp_path / "kg.sqlite")


def test_a_mesh_term_is_read_as_its_heading_and_what_its_qualifiers_say() -> None:
    assert main_heading("Hernia, Hiatal/small") == "Hiatal Hernia"
    assert read_term("Cardiomegaly/mild").status == "present"  # type: ignore[union-attr]
    assert read_term("Cardiomegaly/borderline").status == "uncertain"  # type: ignore[union-attr]
    assert read_term("Cardiomegaly/normal").status == "absent"  # type: ignore[union-attr]
    assert read_term("normal") is None and read_term("No Indexing") is None  # no finding named


def test_a_heading_links_when_it_is_a_concepts_whole_name_or_synonym(graph: ConceptGraph) -> None:
    terms = ["Hernia, Hiatal", "Mediastinal Emphysema", "Lung/hypoinflation/mild", "Cardiomegaly/borderline", "normal"]
    links, unmapped = link_mesh(graph, terms)
    assert [(k.concept, k.status, k.sentence, k.source) for k in links] == [
        ("T:2", "present", "Hernia, Hiatal", MESH),
        ("T:1", "uncertain", "Cardiomegaly/borderline", MESH),
    ]
    assert unmapped == ["Mediastinal Emphysema", "Lung"]  # a concept's name inside a heading is not the heading


def test_kg_link_stores_mesh_links_apart_from_text_links(graph: ConceptGraph, tmp_path: Path) -> None:
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.indexing import build_index
    from mmedrag.stores.locate import load_index

    records = [
        Record("both", "No cardiomegaly.", metadata={"mesh_major": ["Cardiomegaly/mild", "Opacity/lung"]}),
        Record("mesh-only", "The heart is large.", metadata={"mesh_major": ["Cardiomegaly"]}),
        Record("plain", "Normal chest.", metadata={"mesh_major": ["normal"]}),
    ]
    build_index(records, tmp_path / "idx", HashEncoder(dim=32), store="exact")
    index = load_index(tmp_path / "idx")
    result = link_index(index, tmp_path / "idx", graph)
    assert result["sources"] == "text,mesh"
    assert result["counts"]["absent"] == 1 and result["counts"]["linked_records"] == 1
    assert result["counts"]["mesh"] == {
        "records": 3,
        "linked_records": 2,
        "present": 2,
        "absent": 0,
        "uncertain": 0,
        "unmapped": 1,
    }
    links = ConceptLinks.beside(tmp_path / "idx")
    assert links is not None
    said = links.of(["both", "mesh-only", "plain"], ["T:1"])
    # The report's own words win over the annotation where both speak; the annotation speaks where the text cannot.
    assert {r: (k.status, k.source) for r, by in said.items() for k in by.values()} == {
        "both": ("absent", TEXT),
        "mesh-only": ("present", MESH),
    }
    text_only = links.of(["both", "mesh-only"], ["T:1"], sources=(TEXT,))
    assert list(text_only) == ["both"]
    link_index(index, tmp_path / "idx", graph, mesh=False)
    assert list(ConceptLinks.beside(tmp_path / "idx").of(["mesh-only"], ["T:1"])) == []  # type: ignore[union-attr]


def test_links_written_before_sources_read_as_text_links(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "concept-links.sqlite") as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE link (record TEXT, concept TEXT, name TEXT, status TEXT, sentence TEXT);"
            "INSERT INTO link VALUES ('r', 'T:1', 'Cardiomegaly', 'present', 'Cardiomegaly.');"
        )
    db.close()
    links = ConceptLinks.beside(tmp_path)
    assert links is not None and links.of(["r"], ["T:1"])["r"]["T:1"].source == TEXT


def test_the_answer_trace_says_which_source_asserted(graph: ConceptGraph, tmp_path: Path) -> None:
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.generation.extractive import ExtractiveGenerator
    from mmedrag.generation.prompts import PromptBuilder
    from mmedrag.indexing import build_index
    from mmedrag.pipeline import Bundle, RAGPipeline
    from mmedrag.retrieval.context import TopK
    from mmedrag.retrieval.retriever import Retriever
    from mmedrag.stores.locate import load_index

    records = [
        Record("silent", "Heart size unchanged."),
        Record("annotated", "Big heart.", metadata={"mesh_major": ["Cardiomegaly"]}),
    ]
    encoder = HashEncoder(dim=32)
    build_index(records, tmp_path / "idx", encoder, store="exact")
    index = load_index(tmp_path / "idx")
    link_index(index, tmp_path / "idx", graph)
    bundle = Bundle(
        retriever=Retriever(index, encoder),
        selector=TopK(2),
        prompts=PromptBuilder(knowledge=graph),
        retrieval_mode="text",
        concept_links=ConceptLinks.beside(tmp_path / "idx"),
    )
    answer = RAGPipeline(ExtractiveGenerator(), bundle, answer_weak="lean").answer(Query(text="Is there cardiomegaly?"))
    assert answer.trace["concept_links"]["asserting"] == {"annotated": {"T:1": "present"}}
    assert answer.trace["concept_links"]["sources"] == {"annotated": {"T:1": "mesh"}}


def test_kg_link_says_what_the_mesh_annotations_added(
    graph: ConceptGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mmedrag.cli import main
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.indexing import build_index

    records = [Record("r", "Clear lungs.", metadata={"mesh_major": ["Cardiomegaly", "Lung/hypoinflation"]})]
    build_index(records, tmp_path / "idx", HashEncoder(dim=32), store="exact")
    assert main(["kg", "link", "--index", str(tmp_path / "idx"), "--graph", str(graph.path)]) == 0
    out = capsys.readouterr().out
    assert "1 of 1 annotated records name a concept (1 present" in out and "1 headings name no concept" in out
    assert main(["kg", "link", "--index", str(tmp_path / "idx"), "--graph", str(graph.path), "--no-mesh"]) == 0
    assert "MeSH" not in capsys.readouterr().out
