"""The PHI styles of issue 22 (the development set in ``benchmarks/phi_sets``): lower-case titles and labels, ages in
words, ISO date-times, labelled and serial numbers with letters and slashes, non-Latin names, European street
addresses, phone extensions; and medical eponyms, which stay clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmedrag.quality.phi import redact, scan_phi
from phi_cases import parse

SETS = Path(__file__).resolve().parents[3] / "benchmarks" / "phi_sets"


def _lines(name: str) -> list[str]:
    lines = (SETS / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _uncovered(marked: str) -> list[str]:
    text, gold = parse(marked)
    flagged = [False] * len(text)
    for match in scan_phi(text):
        flagged[match.span[0] : match.span[1]] = [True] * (match.span[1] - match.span[0])
    return [text[s:e] for _, s, e in gold if not all(flagged[i] for i in range(s, e) if text[i].isalnum())]


@pytest.mark.parametrize("marked", _lines("dev_issue22.txt"))
def test_every_identifier_of_the_development_set_is_flagged(marked: str) -> None:
    assert _uncovered(marked) == []


@pytest.mark.parametrize("sentence", _lines("eponyms_dev.txt"))
def test_eponyms_are_not_people(sentence: str) -> None:
    assert scan_phi(sentence) == []


@pytest.mark.parametrize(
    "sentence",
    [
        "MR angiography of the circle of Willis; mr imaging of the spine.",
        "Known ms with new plaques; mr perfusion unremarkable.",
        "Reported by CT as stable; the film was read by radiology.",
        "During 2 years of follow-up the 3 cm nodule was stable.",
        "Via Foley catheter 16 Fr, 300 mL drained.",
        "Serial images show no change; serial radiographs 3 days apart.",
        "Reference range 4-10; ext. rotation limited.",
        "Age 45 years; ninety percent stenosis of the left ICA.",
        "Grade II Salter-Harris fracture; Kerley B lines; a Hampton hump.",
    ],
)
def test_clinical_text_like_the_new_styles_stays_clean(sentence: str) -> None:
    assert [(m.kind, m.text) for m in scan_phi(sentence)] == []


def test_redaction_keeps_the_title_and_label_in_lower_case_text() -> None:
    assert redact("seen by dr. fitzgerald at noon") == "seen by dr. [REDACTED] at noon"
    assert redact("ordering provider: naomi feld") == "ordering provider: [REDACTED]"
    assert redact("S/N: QWE1234567") == "S/N: [REDACTED]"
