"""Screen report text for protected health information (PHI) left in by de-identification, and redact it.

A pattern screen, not a de-identifier: it flags what looks like an identifier so that a person can look, and
``redact`` blanks exactly the spans it flags. It is tuned to stay quiet on clinical numbers.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mmedrag.types import Record

PLACEHOLDER = "[REDACTED]"

# Which identifiers to look for follows HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i): names (B); all elements of dates
# except the year, and ages over 89 (C); telephone numbers (D); e-mail addresses (F); medical record and other
# account numbers (H-J). Times are not listed there but pin an encounter to a date, so clinical de-identification
# tools (e.g. the PhysioNet deid package) remove them too. A bare year, and ages up to 89, are allowed by the rule.


def _month_names() -> str:
    """Month names and abbreviations, Title and UPPER case only: ``may`` in prose must not read as a month."""
    names = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October"]
    names += ["November", "December"]
    forms: list[str] = []
    for name in names:
        for variant in (name, name.upper()):
            forms.append(f"{variant[:3]}(?:{variant[3:]})?" if len(name) > 3 else variant)
    forms += ["Sept", "SEPT"]
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


_MONTH = _month_names()
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH_NUMBER = r"(?:0?[1-9]|1[0-2])"
_ORDINAL = r"(?:st|nd|rd|th)?"
_MASK = r"X{2,}\b"  # the de-identification mark IU-Xray and MIMIC-style corpora leave in place of a value
_TITLE = r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+"
# A capitalised word that is not an already-applied de-identification mark (IU-Xray writes "XXXX").
_NAME_WORD = r"(?!X{2,}\b)[A-Z][A-Za-z'\u2019-]+"
# Quantities that look like long digit runs but are doses or counts ("1000000 units", "250000 cells").
_UNIT_AFTER = r"(?!\s*(?:units?|U|IU|mg|mcg|ug|\u00b5g|g|kg|mL|ml|L|cells|copies|/)\b)"
_AMPM = r"[AaPp](?:\.?[Mm])?\b\.?"  # "12:30p" occurs in IU-Xray
_NOT_AFTER = r"(?<![\w:.,;+-])(?<!; )"
_NOT_BEFORE = r"(?![\w:]|[.,]\d|-\d|\s*(?:position|o'?clock))"
# Numbers that cite literature or a web page, not a patient: skipped wherever they appear.
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_REFERENCE_LABEL = re.compile(r"\b(?:PMID|PMCID|PMC|UI|ISBN|ISSN|DOI|rID)\s*[:#]?\s*$", re.IGNORECASE)

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("phone", re.compile(r"(?<![\w.-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])")),
    ("id", re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")),  # SSN-shaped
    (
        "id",
        re.compile(
            r"\b(?i:MRN|MR\s?#|medical\s+record(?:\s+(?:number|no\.?))?|accession(?:\s+(?:number|no\.?))?|acc\s?#"
            r"|patient\s+id|pt\.?\s+id|SSN)\s*(?:[:#]|is|no\.?)?\s*(?P<value>(?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{3,})"
        ),
    ),
    # Six or more digits standing alone: MRN- and accession-like. Not inside words ("CXR1234567") or decimals.
    ("id", re.compile(r"(?<![\w.,])\d{6,}(?![\w]|[.,]\d)" + _UNIT_AFTER)),
    ("date", re.compile(rf"(?<![\w.])(?:19|20)\d{{2}}([-/.]){_MONTH_NUMBER}\1{_DAY}(?![\w]|[.]\d)")),  # ISO
    ("date", re.compile(rf"(?<![\w.])\d{{1,2}}([-/]){_DAY}\1(?:19|20)?\d{{2}}(?![\w]|[.]\d)")),  # 03/04/2019
    ("date", re.compile(rf"(?<![\w.])\d{{1,2}}\.{_DAY}\.(?:19|20)\d{{2}}(?![\w]|[.]\d)")),  # 04.03.2019
    ("date", re.compile(rf"\b{_MONTH}\.?\s+{_DAY}{_ORDINAL}\b(?:,?\s+(?:19|20)\d{{2}}\b)?")),  # March 4, 2019
    ("date", re.compile(rf"\b{_DAY}{_ORDINAL}\s+(?:of\s+)?{_MONTH}\b\.?(?:,?\s+(?:19|20)\d{{2}}\b)?")),  # 4 Mar 2019
    ("date", re.compile(rf"\b{_MONTH}\.?,?\s+(?:19|20)\d{{2}}\b")),  # March 2019: the month is a date element
    # What a partial de-identification leaves: "02/010/XXXX", "11/7/ XXXX", "XXXX/11" (all seen in IU-Xray).
    ("date", re.compile(rf"(?<![\w./-])\d{{1,2}}/\d{{1,3}}/\s*{_MASK}")),
    ("date", re.compile(rf"{_MASK}/{_DAY}\b(?!/)|(?<![\w./-]){_MONTH_NUMBER}/{_MASK}")),
    # Month/day without a year only where the context says date: a fraction ("lower 1/3") must not match.
    ("date", re.compile(rf"(?:(?<=\bon )|(?<=\bdated )|(?<=\bsince )|(?<=XX )){_MONTH_NUMBER}/{_DAY}\b(?![/.]\d)")),
    ("date", re.compile(rf"(?<![\w./-]){_MONTH_NUMBER}/{_DAY}(?=\s+{_MASK})")),
    # Times: HH:MM, or H:MM with am/pm. A one-digit hour alone reads as a ratio ("M:F 1:19"); citations
    # ("1999; 17:47-55"), incidences ("1:50,000") and breast clock positions ("12:00 position") are not times.
    ("time", re.compile(rf"{_NOT_AFTER}(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:\s*{_AMPM})?{_NOT_BEFORE}")),
    ("time", re.compile(rf"{_NOT_AFTER}\d:[0-5]\d(?::[0-5]\d)?\s*{_AMPM}{_NOT_BEFORE}")),
    # 2 pm, 142 pm (IU-Xray); the "m" is required here, or figure labels ("Fig. 1a") would match.
    ("time", re.compile(r"(?<![\w:.])(?:1[0-2]|0?[1-9])(?:[0-5]\d)?\s*[AaPp]\.?[Mm]\b\.?")),
    # Ages over 89 are PHI under Safe Harbor (164.514(b)(2)(i)(C)); "65-year-old" is not.
    ("age", re.compile(r"\b(?:9\d|1[0-2]\d)(?:\s*|-)(?:years?|yrs?|y/o|yo)\b(?:[-\s]old)?")),
    ("name", re.compile(rf"{_TITLE}(?P<value>(?:[A-Z]\.\s*)?{_NAME_WORD}(?:\s+{_NAME_WORD})?)")),
)
KINDS: tuple[str, ...] = ("date", "time", "phone", "email", "id", "age", "name")
_PRIORITY = {"email": 0, "phone": 1, "id": 2, "date": 3, "time": 4, "age": 5, "name": 6}
_CONTEXT = 30


@dataclass(frozen=True, slots=True)
class PhiMatch:
    """One suspected identifier: its kind, character span in the text, the matched text and a context snippet."""

    kind: str
    span: tuple[int, int]
    text: str
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "span": list(self.span), "text": self.text, "snippet": self.snippet}


def _snippet(text: str, start: int, end: int) -> str:
    left, right = max(0, start - _CONTEXT), min(len(text), end + _CONTEXT)
    body = " ".join(text[left:right].split())
    return ("..." if left else "") + body + ("..." if right < len(text) else "")


def scan_phi(text: str) -> list[PhiMatch]:
    """Suspected identifiers in ``text``, in order, without overlaps (the longest candidate wins, then the kind).

    For names and labelled record numbers the span covers the value only, so "Dr. Smith" redacts to "Dr. [REDACTED]".
    """
    urls = [match.span() for match in _URL.finditer(text)]
    candidates: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span("value" if "value" in pattern.groupindex else 0)
            if any(left <= start and end <= right for left, right in urls):
                continue
            if kind == "id" and _REFERENCE_LABEL.search(text, max(0, start - 12), start):
                continue
            candidates.append((start, end, kind))
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), _PRIORITY[c[2]]))
    matches: list[PhiMatch] = []
    last_end = -1
    for start, end, kind in candidates:
        if start < last_end:
            continue
        matches.append(PhiMatch(kind, (start, end), text[start:end], _snippet(text, start, end)))
        last_end = end
    return matches


def redact(text: str, placeholder: str = PLACEHOLDER) -> str:
    """``text`` with every span :func:`scan_phi` flags replaced by ``placeholder``; everything else is kept."""
    parts: list[str] = []
    position = 0
    for match in scan_phi(text):
        start, end = match.span
        parts.append(text[position:start])
        parts.append(placeholder)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def redact_record(record: Record, placeholder: str = PLACEHOLDER) -> Record:
    """The record with its text redacted; ``metadata["phi_redacted"]`` counts the spans replaced (absent if none)."""
    found = len(scan_phi(record.text))
    if not found:
        return record
    return dataclasses.replace(
        record,
        text=redact(record.text, placeholder),
        metadata={**record.metadata, "phi_redacted": found},
    )


@dataclass
class PhiSummary:
    """Corpus-level PHI counts: matches and records per kind, plus up to ``max_examples`` examples per kind."""

    max_examples: int = 5
    records_scanned: int = 0
    records_with_phi: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, record_id: str, text: str) -> list[PhiMatch]:
        """Scan one record's text into the summary; returns its matches."""
        found = scan_phi(text)
        self.records_scanned += 1
        if found:
            self.records_with_phi += 1
        for kind in {m.kind for m in found}:
            self.records[kind] += 1
        for match in found:
            self.matches[match.kind] += 1
            examples = self.examples.setdefault(match.kind, [])
            if len(examples) < self.max_examples:
                examples.append({"record_id": record_id, "text": match.text, "snippet": match.snippet})
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_scanned": self.records_scanned,
            "records_with_phi": self.records_with_phi,
            "matches": {kind: self.matches[kind] for kind in KINDS if self.matches[kind]},
            "records": {kind: self.records[kind] for kind in KINDS if self.records[kind]},
            "examples": {kind: self.examples[kind] for kind in KINDS if kind in self.examples},
        }


def summarize_phi(records: Iterable[Record], max_examples: int = 5) -> PhiSummary:
    """Scan every record's text; see :class:`PhiSummary`."""
    summary = PhiSummary(max_examples=max_examples)
    for record in records:
        summary.add(record.id, record.text)
    return summary
