"""The concept graph on disk (one SQLite file) and its phrase lookup.

``mmedrag kg build`` writes concepts, their synonyms, ``is_a`` parents and the phrases a question may use for each
(:func:`phrases_of`), with the source's name, version and licence. :class:`ConceptGraph` loads the phrase table
into memory (about 60k phrases for HPO) and finds the concepts a question names (:meth:`ConceptGraph.find`).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError
from mmedrag.generation import lexicon
from mmedrag.generation.negation import stem, words
from mmedrag.io.atomic import fsync_dir
from mmedrag.kg.ontology import Concept
from mmedrag.types import KnownConcept

GRAPH_FORMAT = 1  # bumped when what a built graph holds changes
SCHEMA = """
CREATE TABLE source (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE concept (id TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL);
CREATE TABLE synonym (concept TEXT NOT NULL, text TEXT NOT NULL, scope TEXT NOT NULL, kind TEXT NOT NULL);
CREATE TABLE parent (child TEXT NOT NULL, parent TEXT NOT NULL);
CREATE TABLE phrase (key TEXT NOT NULL, concept TEXT NOT NULL, relation TEXT NOT NULL, matched TEXT NOT NULL,
                     technical TEXT NOT NULL);
CREATE INDEX phrase_key ON phrase (key);
"""

# "Abnormal tortuous (i.e., twisted) form of the aorta": the gloss explains a technical word in plain ones.
_GLOSS = re.compile(r"([A-Za-z][A-Za-z-]+)\s*\((?:i\.e\.|ie\.?|that is),?\s*([^()]+)\)")
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")  # negation.words' tokens, kept with their offsets
_DROP = frozenset({"a", "an", "the", "of", "in", "on", "around", "with"})  # "fluid around the lungs" ~ "... lungs"
# Umbrella terms say nothing a question can use ("Abnormality of the thorax").
_UMBRELLA = re.compile(r"^(abnormal|abnormality|phenotypic|morphological|clinical)\b", re.I)
_GENERIC = lexicon.FRAME | lexicon.NORMAL_STATE | lexicon.ABNORMAL_STATE | lexicon.ANATOMY | lexicon.ORGANS


def phrase_key(text: str) -> str:
    """Stemmed words without articles and small prepositions: how questions and phrases meet."""
    return " ".join(stem(word) for word in words(text) if word not in _DROP)


@dataclass(frozen=True)
class Phrase:
    key: str
    relation: str  # name, synonym, layperson, gloss
    matched: str
    technical: str  # the word reports use for it (the concept's name, or a gloss's technical word)


def phrases_of(concept: Concept) -> list[Phrase]:
    """What a question may say for ``concept``: its name, exact synonyms (layperson ones marked) and the plain
    words its definition glosses a technical word with."""
    if _UMBRELLA.match(concept.name):
        return []
    found = [Phrase(phrase_key(concept.name), "name", concept.name, concept.name)]
    for synonym in concept.synonyms:
        if synonym.scope == "EXACT" and synonym.kind not in {"abbreviation", "obsolete_synonym"}:
            relation = "layperson" if synonym.kind == "layperson" else "synonym"
            found.append(Phrase(phrase_key(synonym.text), relation, synonym.text, concept.name))
    for technical, plain in _GLOSS.findall(concept.definition):
        for part in plain.split(" or "):  # "(i.e., small, bulging pouches ...)" describes; it glosses no word
            if part.strip() and "," not in part and len(part.split()) <= 3:
                found.append(Phrase(phrase_key(part), "gloss", part.strip(), technical))
    return [p for p in found if _useful(p.key)]


def _useful(key: str) -> bool:
    tokens = key.split()
    return bool(tokens) and not (len(tokens) == 1 and (len(tokens[0]) < 5 or tokens[0] in _GENERIC))


def within(concepts: Iterable[Concept], roots: frozenset[str]) -> set[str]:
    """Ids of the concepts under any of ``roots`` (themselves included), following ``is_a`` parents."""
    parents = {concept.id: concept.parents for concept in concepts}
    memo: dict[str, bool] = {}

    def under(concept_id: str, path: frozenset[str] = frozenset()) -> bool:
        if concept_id in roots:
            return True
        if concept_id not in memo:
            memo[concept_id] = any(under(p, path | {concept_id}) for p in parents.get(concept_id, ()) if p not in path)
        return memo[concept_id]

    return {concept_id for concept_id in parents if under(concept_id)}


def build_graph(
    concepts: Iterable[Concept], out: str | Path, source: dict[str, Any], phrase_roots: frozenset[str] | None = None
) -> dict[str, int]:
    """Write the graph to ``out`` atomically (a half-written file never replaces a good one); counts per table.

    ``phrase_roots``: only concepts under these get question phrases (HPO: Phenotypic abnormality, not its clinical
    course, frequency or inheritance terms such as "Chronic"); every concept is stored.
    """
    concepts = list(concepts)
    phrased = within(concepts, phrase_roots) if phrase_roots is not None else None
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    counts = {"concepts": 0, "synonyms": 0, "parents": 0, "phrases": 0}
    with sqlite3.connect(partial) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO source VALUES (?, ?)", [(k, json.dumps(v)) for k, v in source.items()])
        for concept in concepts:
            db.execute("INSERT INTO concept VALUES (?, ?, ?)", (concept.id, concept.name, concept.definition))
            db.executemany(
                "INSERT INTO synonym VALUES (?, ?, ?, ?)",
                [(concept.id, s.text, s.scope, s.kind) for s in concept.synonyms],
            )
            db.executemany("INSERT INTO parent VALUES (?, ?)", [(concept.id, p) for p in concept.parents])
            phrases = phrases_of(concept) if phrased is None or concept.id in phrased else []
            db.executemany(
                "INSERT INTO phrase VALUES (?, ?, ?, ?, ?)",
                [(p.key, concept.id, p.relation, p.matched, p.technical) for p in phrases],
            )
            counts["concepts"] += 1
            counts["synonyms"] += len(concept.synonyms)
            counts["parents"] += len(concept.parents)
            counts["phrases"] += len(phrases)
    db.close()
    os.replace(partial, target)
    fsync_dir(target.parent)
    return counts


class ConceptGraph:
    """A built graph, read-only: the concepts a question names, with what each phrase means in reports.

    Example:
        >>> graph = ConceptGraph("kg.sqlite")  # doctest: +SKIP
        >>> [c.name for c in graph.find("Is the aorta twisted?")]  # doctest: +SKIP
        ['Aortic tortuosity']
    """

    max_words = 6

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ConfigError(f"{self.path}: no concept graph here; build one with: mmedrag kg build --out {path}")
        try:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.source = {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM source")}
            rows = self._db.execute("SELECT concept, relation, matched, technical FROM phrase").fetchall()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a concept graph ({exc}); rebuild it with: mmedrag kg build") from exc
        self._phrases: dict[str, list[tuple[str, str, str, str]]] = {}
        for concept, relation, matched, technical in rows:
            # Keyed again from the words: a graph built by an older mmedrag, whose stemming differed, still matches.
            self._phrases.setdefault(phrase_key(matched), []).append((concept, relation, matched, technical))

    def concept(self, concept_id: str) -> tuple[str, str] | None:
        """(name, definition) of a concept id."""
        row = self._db.execute("SELECT name, definition FROM concept WHERE id = ?", (concept_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def ancestors(self, concept_id: str) -> set[str]:
        """Every concept ``concept_id`` is a kind of, through ``is_a`` (itself excluded)."""
        rows = self._db.execute(
            "WITH RECURSIVE up(id) AS (SELECT parent FROM parent WHERE child = ? "
            "UNION SELECT p.parent FROM parent p JOIN up ON p.child = up.id) SELECT id FROM up",
            (concept_id,),
        )
        return {row[0] for row in rows}

    def parents(self, concept_id: str) -> list[str]:
        rows = self._db.execute(
            "SELECT c.name FROM parent p JOIN concept c ON c.id = p.parent WHERE p.child = ? ORDER BY c.name",
            (concept_id,),
        )
        return [row[0] for row in rows]

    def named(self, text: str, relations: frozenset[str]) -> tuple[str, str] | None:
        """(id, name) of the concept whose name or synonym is ``text`` as a whole (articles, case and word endings
        aside), or None; unlike :meth:`find`, a phrase inside ``text`` does not count ("Mediastinal Emphysema" is not
        Emphysema)."""
        entries = [entry for entry in self._phrases.get(phrase_key(text), []) if entry[1] in relations]
        if not entries:
            return None
        order = {"name": 0, "synonym": 1, "layperson": 2}
        concept_id = min(entries, key=lambda entry: (order.get(entry[1], 9), entry[0]))[0]
        named = self.concept(concept_id)
        return (concept_id, named[0]) if named else None

    def find(self, text: str, limit: int = 3, relations: frozenset[str] | None = None) -> list[KnownConcept]:
        """The concepts ``text`` names, longest phrases first, each once; a span matched by a longer phrase is not
        matched again by a shorter one inside it. ``matched`` is the span of ``text`` as written; ``relations``
        restricts how a phrase may name a concept (reports: by name and synonyms, not by glosses)."""
        spans = [(m.start(), m.end()) for m in _TOKEN.finditer(text.lower()) if m.group() not in _DROP]
        tokens = [stem(text[a:b].lower()) for a, b in spans]
        taken = [False] * len(tokens)
        found: list[KnownConcept] = []
        seen: set[str] = set()
        for size in range(min(self.max_words, len(tokens)), 0, -1):
            for start in range(len(tokens) - size + 1):
                if any(taken[start : start + size]):
                    continue
                entries = self._phrases.get(" ".join(tokens[start : start + size]))
                if entries and relations is not None:
                    entries = [entry for entry in entries if entry[1] in relations]
                if not entries:
                    continue
                concept_id, relation, _, technical = self._preferred(entries, set(tokens))
                taken[start : start + size] = [True] * size
                if concept_id in seen:
                    continue
                seen.add(concept_id)
                name, definition = self.concept(concept_id) or (technical, "")
                found.append(
                    KnownConcept(
                        id=concept_id,
                        name=name,
                        matched=text[spans[start][0] : spans[start + size - 1][1]],
                        relation=relation,
                        technical=technical,
                        definition=definition,
                        parents=tuple(self.parents(concept_id)),
                        source=str(self.source.get("name", "")),
                    )
                )
        return found[:limit]

    def _preferred(self, entries: list[tuple[str, str, str, str]], context: set[str]) -> tuple[str, str, str, str]:
        """Several concepts share a phrase ("twisted" glosses arterial, aortic and ureteral tortuosity): the one
        whose name shares most words with the rest of the question, then its own name before a synonym or gloss."""
        order = {"name": 0, "synonym": 1, "layperson": 2, "gloss": 3}

        def rank(entry: tuple[str, str, str, str]) -> tuple[int, int, str]:
            named = self.concept(entry[0])
            overlap = len(context & set(phrase_key(named[0]).split())) if named else 0
            return (-overlap, order.get(entry[1], 9), entry[0])

        return min(entries, key=rank)

    def close(self) -> None:
        self._db.close()
