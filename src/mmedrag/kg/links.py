"""Which concepts each knowledge-base report asserts, and how: present, absent or uncertain.

A report sentence names a concept by its name or an exact synonym, layperson ones included (not by a gloss:
reports use the technical words); its status is what the extractive reader's rules make of the sentence for
"Is there <concept>?" (NegEx negation, CheXpert hedges: :mod:`mmedrag.generation.closed_reading`). These are the
links of source "text".

A record annotated with MeSH headings (Open-i's IU-Xray reports, :mod:`mmedrag.kg.mesh`) also gets links of source
"mesh": each heading whose whole text is a concept's name or exact synonym, with the status its qualifiers give.
HPO carries no MeSH cross-references, so the match is by name; a heading no concept is named by (anatomy such as
"Lung", findings HPO lacks such as "Opacity") is counted, not stored: a link is to a concept. The two sources stay
apart in the file (a concept can have one link of each): the annotation is another reader's verdict on the report,
and text links alone can be measured against it (``benchmarks/bench_kg.py``).

The links of an index live beside it, in ``concept-links.sqlite`` in the index folder, and record the index version
and graph they were made from (the answer's trace shows it beside the served version): after the index changes they
cover only the records they knew until ``mmedrag kg link`` runs again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.generation.closed_reading import parse_question, read_sentence
from mmedrag.generation.negation import sentences
from mmedrag.io.atomic import fsync_dir
from mmedrag.kg.graph import ConceptGraph
from mmedrag.kg.mesh import mesh_terms, read_term
from mmedrag.progress import track
from mmedrag.stores.locate import KnowledgeIndex
from mmedrag.types import Record

LINKS_FILE = "concept-links.sqlite"
REPORT_RELATIONS = frozenset({"name", "synonym", "layperson"})  # "enlarged heart" is report language too
TEXT, MESH = "text", "mesh"
SOURCES = (TEXT, MESH)  # the order a record's links are preferred in: its report's own words first
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE link (record TEXT NOT NULL, concept TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                   sentence TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (record, concept, source));
"""


@dataclass(frozen=True)
class Link:
    concept: str
    name: str
    status: str  # present, absent, uncertain
    sentence: str  # the report sentence (source "text") or the annotated MeSH term (source "mesh")
    source: str = TEXT


def link_text(graph: ConceptGraph, text: str) -> list[Link]:
    """The concepts ``text`` names, each with its status in the first sentence naming it."""
    links: dict[str, Link] = {}
    for sentence in sentences(text):
        for concept in graph.find(sentence, limit=50, relations=REPORT_RELATIONS):
            if concept.id in links:
                continue
            reading = read_sentence(sentence, parse_question(f"Is there {concept.matched}?"))
            status = reading.finding if reading is not None else "present"
            links[concept.id] = Link(concept.id, concept.name, status, sentence)
    return list(links.values())


def link_mesh(graph: ConceptGraph, terms: Sequence[str]) -> tuple[list[Link], list[str]]:
    """The concepts a record's MeSH terms name (source "mesh"), and the headings no concept is named by.

    A concept named by several terms keeps the first term's status.
    """
    links: dict[str, Link] = {}
    unmapped: list[str] = []
    for term in terms:
        read = read_term(term)
        if read is None:
            continue
        named = graph.named(read.heading, REPORT_RELATIONS)
        if named is None:
            unmapped.append(read.heading)
        elif named[0] not in links:
            links[named[0]] = Link(named[0], named[1], read.status, read.term, MESH)
    return list(links.values()), unmapped


def link_record(graph: ConceptGraph, record: Record, mesh: bool = True) -> tuple[list[Link], list[str]]:
    """A record's links: its report's (source "text"), then its MeSH annotation's unless ``mesh`` is off; and the
    MeSH headings no concept is named by."""
    text = link_text(graph, record.text)
    if not mesh:
        return text, []
    annotated, unmapped = link_mesh(graph, mesh_terms(record.metadata))
    return text + annotated, unmapped


def link_index(
    index: KnowledgeIndex, location: str | Path, graph: ConceptGraph, progress: bool = False, mesh: bool = True
) -> dict[str, Any]:
    """Link every record of ``index`` and write the links beside it (atomically); counts per source and status
    (``counts`` for the report text, ``counts["mesh"]`` for MeSH annotations: records annotated, linked, links
    per status and headings left unmapped). ``mesh=False`` stores text links only."""
    folder = Path(location)
    if not folder.is_dir():
        raise ConfigError(
            f"{location}: concept links live in an index folder; build the index with --index FOLDER (a Milvus "
            "index keeps its pointer there)"
        )
    target, partial = folder / LINKS_FILE, folder / f"{LINKS_FILE}.partial"
    partial.unlink(missing_ok=True)
    ids = index.ids()
    counts: dict[str, Any] = {"records": 0, "linked_records": 0, "present": 0, "absent": 0, "uncertain": 0}
    annotated = {"records": 0, "linked_records": 0, "present": 0, "absent": 0, "uncertain": 0, "unmapped": 0}
    with sqlite3.connect(partial) as db:
        db.executescript(_SCHEMA)
        meta = {
            "index_version": index.version(),
            "graph": str(graph.source.get("name", "")),
            "graph_version": str(graph.source.get("version", "")),
            "sources": ",".join(SOURCES if mesh else (TEXT,)),
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        for chunk in track(_chunks(ids, 256), "linking", total=(len(ids) + 255) // 256, enabled=progress):
            for record in index.get(chunk).values():
                links, unmapped = link_record(graph, record, mesh)
                counts["records"] += 1
                counts["linked_records"] += any(k.source == TEXT for k in links)
                if mesh and mesh_terms(record.metadata):
                    annotated["records"] += 1
                    annotated["linked_records"] += any(k.source == MESH for k in links)
                    annotated["unmapped"] += len(unmapped)
                for link in links:
                    (counts if link.source == TEXT else annotated)[link.status] += 1
                db.executemany(
                    "INSERT INTO link VALUES (?, ?, ?, ?, ?, ?)",
                    [(record.id, k.concept, k.name, k.status, k.sentence, k.source) for k in links],
                )
    db.close()
    os.replace(partial, target)
    fsync_dir(folder)
    return {"out": str(target), **meta, "counts": {**counts, "mesh": annotated}}


class ConceptLinks:
    """The links written beside an index, read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(link)")}
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: unreadable concept links ({exc}); run mmedrag kg link again") from exc
        # Files written before links had a source hold report-text links only.
        self._source = "source" if "source" in columns else f"'{TEXT}'"

    @classmethod
    def beside(cls, location: str | Path) -> ConceptLinks | None:
        """The links of the index at ``location``; None when it has none."""
        path = Path(location) / LINKS_FILE
        return cls(path) if path.is_file() else None

    def reopen(self) -> ConceptLinks:
        """The file as it is now (``mmedrag kg link`` replaces it atomically; this reader keeps the old one for the
        answers still using it)."""
        return ConceptLinks(self.path)

    def of(
        self, record_ids: Sequence[str], concept_ids: Iterable[str], sources: Sequence[str] = SOURCES
    ) -> dict[str, dict[str, Link]]:
        """record id -> concept id -> link, for the asked concepts among the given records, from ``sources``; where
        a record has a link of each source for a concept, its report's own (source "text") is the one given."""
        records, concepts = list(record_ids), list(concept_ids)
        if not records or not concepts or not sources:
            return {}
        query = (
            f"SELECT record, concept, name, status, sentence, {self._source} FROM link "
            f"WHERE record IN ({','.join('?' * len(records))}) AND concept IN ({','.join('?' * len(concepts))})"
        )
        rank = {source: n for n, source in enumerate(sources)}
        found: dict[str, dict[str, Link]] = {}
        for record, *row in self._db.execute(query, [*records, *concepts]):
            link = Link(*row)
            held = found.setdefault(record, {}).get(link.concept)
            if link.source in rank and (held is None or rank[link.source] < rank[held.source]):
                found[record][link.concept] = link
        return {record: said for record, said in found.items() if said}


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


__all__ = [
    "LINKS_FILE",
    "MESH",
    "SOURCES",
    "TEXT",
    "ConceptLinks",
    "Link",
    "link_index",
    "link_mesh",
    "link_record",
    "link_text",
]
