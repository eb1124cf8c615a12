"""Which concepts each knowledge-base report asserts, and how: present, absent or uncertain.

A report sentence names a concept by its name or an exact synonym, layperson ones included (not by a gloss:
reports use the technical words); its status is what the extractive reader's rules make of the sentence for
"Is there <concept>?" (NegEx negation, CheXpert hedges: :mod:`mmedrag.generation.closed_reading`).

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
from mmedrag.progress import track
from mmedrag.stores.locate import KnowledgeIndex

LINKS_FILE = "concept-links.sqlite"
REPORT_RELATIONS = frozenset({"name", "synonym", "layperson"})  # "enlarged heart" is report language too
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE link (record TEXT NOT NULL, concept TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                   sentence TEXT NOT NULL, PRIMARY KEY (record, concept));
"""


@dataclass(frozen=True)
class Link:
    concept: str
    name: str
    status: str  # present, absent, uncertain
    sentence: str


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


def link_index(
    index: KnowledgeIndex, location: str | Path, graph: ConceptGraph, progress: bool = False
) -> dict[str, Any]:
    """Link every record of ``index`` and write the links beside it (atomically); counts per status."""
    folder = Path(location)
    if not folder.is_dir():
        raise ConfigError(
            f"{location}: concept links live in an index folder; build the index with --index FOLDER (a Milvus "
            "index keeps its pointer there)"
        )
    target, partial = folder / LINKS_FILE, folder / f"{LINKS_FILE}.partial"
    partial.unlink(missing_ok=True)
    ids = index.ids()
    counts = {"records": 0, "linked_records": 0, "present": 0, "absent": 0, "uncertain": 0}
    with sqlite3.connect(partial) as db:
        db.executescript(_SCHEMA)
        meta = {
            "index_version": index.version(),
            "graph": str(graph.source.get("name", "")),
            "graph_version": str(graph.source.get("version", "")),
        }
        db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        for chunk in track(_chunks(ids, 256), "linking", total=(len(ids) + 255) // 256, enabled=progress):
            for record in index.get(chunk).values():
                links = link_text(graph, record.text)
                counts["records"] += 1
                counts["linked_records"] += bool(links)
                for link in links:
                    counts[link.status] += 1
                db.executemany(
                    "INSERT INTO link VALUES (?, ?, ?, ?, ?)",
                    [(record.id, k.concept, k.name, k.status, k.sentence) for k in links],
                )
    db.close()
    os.replace(partial, target)
    fsync_dir(folder)
    return {"out": str(target), **meta, "counts": counts}


class ConceptLinks:
    """The links written beside an index, read-only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: unreadable concept links ({exc}); run mmedrag kg link again") from exc

    @classmethod
    def beside(cls, location: str | Path) -> ConceptLinks | None:
        """The links of the index at ``location``; None when it has none."""
        path = Path(location) / LINKS_FILE
        return cls(path) if path.is_file() else None

    def reopen(self) -> ConceptLinks:
        """The file as it is now (``mmedrag kg link`` replaces it atomically; this reader keeps the old one for the
        answers still using it)."""
        return ConceptLinks(self.path)

    def of(self, record_ids: Sequence[str], concept_ids: Iterable[str]) -> dict[str, dict[str, Link]]:
        """record id -> concept id -> link, for the asked concepts among the given records."""
        records, concepts = list(record_ids), list(concept_ids)
        if not records or not concepts:
            return {}
        query = (
            f"SELECT record, concept, name, status, sentence FROM link WHERE record IN ({','.join('?' * len(records))})"
            f" AND concept IN ({','.join('?' * len(concepts))})"
        )
        found: dict[str, dict[str, Link]] = {}
        for record, concept, name, status, sentence in self._db.execute(query, [*records, *concepts]):
            found.setdefault(record, {})[concept] = Link(concept, name, status, sentence)
        return found


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


__all__ = ["LINKS_FILE", "ConceptLinks", "Link", "link_index", "link_text"]
