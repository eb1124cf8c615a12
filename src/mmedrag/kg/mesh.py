"""Open-i's MeSH annotations of a report, read as headings with a status.

Open-i indexers gave each IU-Xray report MeSH "major" terms: a heading, then qualifiers after slashes
("Cardiomegaly/borderline", "Opacity/lung/base/left", "Hernia, Hiatal"). The reader keeps them in a record's
``metadata["mesh_major"]`` (:mod:`mmedrag.io.readers.openi`). Here each term becomes its heading in natural word
order ("Hiatal Hernia") and what it says of it: "present"; "uncertain" under a hedging qualifier ("borderline", as
the extractive reader reads "borderline cardiomegaly"); "absent" under a normal qualifier. The term "normal" alone
means the indexers found nothing and "No Indexing" that they did not look: neither names a finding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmedrag.generation import lexicon

MESH_FIELD = "mesh_major"
# Whole terms that name no finding: the report is normal, or was not indexed.
NO_FINDING = frozenset({"normal", "no indexing"})
_NORMAL = frozenset({"normal", "unremarkable", "negative", "absent"})
_HEDGES = frozenset(hedge for hedge in lexicon.HEDGES if " " not in hedge)


@dataclass(frozen=True)
class MeshTerm:
    term: str  # as annotated, e.g. "Cardiomegaly/borderline"
    heading: str  # in natural word order, e.g. "Cardiomegaly"; "Hernia, Hiatal" -> "Hiatal Hernia"
    status: str  # present, absent, uncertain


def main_heading(term: str) -> str:
    """The heading of a MeSH term (before the first "/"), MeSH's inverted "Hernia, Hiatal" read "Hiatal Hernia"."""
    main = " ".join(term.split("/", maxsplit=1)[0].split())
    head, sep, modifier = main.partition(", ")
    return f"{modifier} {head}" if sep else main


def read_term(term: str) -> MeshTerm | None:
    """The heading and status of one MeSH term; None for a term naming no finding ("normal", "No Indexing")."""
    if " ".join(term.split()).lower() in NO_FINDING or not term.strip():
        return None
    qualifiers = {part.strip().lower() for part in term.split("/")[1:]}
    status = "absent" if qualifiers & _NORMAL else "uncertain" if qualifiers & _HEDGES else "present"
    return MeshTerm(term=term, heading=main_heading(term), status=status)


def mesh_terms(metadata: Mapping[str, Any]) -> list[str]:
    """A record's MeSH major terms (the Open-i reader's ``mesh_major``); none when it has no such annotation."""
    terms = metadata.get(MESH_FIELD)
    return [term for term in terms if isinstance(term, str)] if isinstance(terms, list) else []
