"""Screen report text and metadata for protected health information (PHI) left in by de-identification; redact it.

A screen, not a de-identifier: it flags what looks like an identifier of a HIPAA Safe Harbor class (45 CFR
164.514(b)(2)(i); the rules are in :mod:`~mmedrag.quality.phi_patterns` and :mod:`~mmedrag.quality.phi_persons`) so
that a person can look, and ``redact`` blanks exactly the spans it flags, in the text and in every string of a
record's metadata. It is tuned to stay quiet on clinical numbers; ``benchmarks/bench_phi.py`` measures both.

Libraries: phone numbers also go through ``phonenumbers`` (Google's libphonenumber metadata, offline), which knows
every country's numbering plan. Presidio and scrubadub's name detectors need spaCy or NLTK models fetched from the
network at run time, and philter needs NLTK data the same way, so names, dates and the rest are a curated rule set.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mmedrag.quality.phi_patterns import DIGIT_FREE, KINDS, PRIORITY, REFERENCE_HOSTS, REFERENCE_LABEL, RULES, URL
from mmedrag.quality.phi_persons import find_names
from mmedrag.types import Record

PLACEHOLDER = "[REDACTED]"
_CONTEXT = 30
# Metadata keys that are the record's own structural identifiers (the leakage guard groups by them); redacting them
# in metadata while ``patient_id``/``study_id`` keep the value would hide nothing and break grouping.
STRUCTURAL_KEYS = frozenset({"PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "uid"})
_MAX_DEPTH = 64
_CITATION = re.compile(r"\(?(?:1[89]|20)\d{2}\)")


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


def _phone_numbers(text: str) -> Iterable[tuple[int, int]]:
    """Phone numbers libphonenumber recognises: ten digits or more, or an international "+" number."""
    import phonenumbers

    for match in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.POSSIBLE):
        raw = match.raw_string
        before, after = text[match.start - 1 : match.start], text[match.end : match.end + 1]
        if (before.isalnum() or before in "-_/") and before or (after.isalnum() or after in "-_/") and after:
            continue  # part of a longer token: an image id ("CXR2625_IM-1112-0001-0001"), a path
        # Lab panels ("135/2.9/101/36") and citations ("(2005) 664-684") are possible numbers too; phones are not.
        if "/" in raw or _CITATION.match(raw):
            continue
        if sum(c.isdigit() for c in raw) >= 10 or raw.startswith("+"):
            yield match.start, match.end


def _candidates(text: str) -> list[tuple[int, int, str]]:
    """Every span a rule flags; spans inside a URL are left to the URL (a reference URL is not PHI)."""
    candidates: list[tuple[int, int, str]] = []
    urls: list[tuple[int, int]] = []
    for match in URL.finditer(text):
        urls.append(match.span())
        if not REFERENCE_HOSTS.search(match.group()):
            candidates.append((*match.span(), "url"))
    found: list[tuple[int, int, str]] = []
    digits = any(c.isdigit() for c in text)
    for kind, pattern in RULES:
        if not digits and pattern not in DIGIT_FREE:
            continue  # the rule needs a digit; most metadata strings and sentences have none
        for match in pattern.finditer(text):
            start, end = match.span("value" if "value" in pattern.groupindex else 0)
            if kind == "id" and REFERENCE_LABEL.search(text, max(0, start - 12), start):
                continue
            found.append((start, end, kind))
    if digits:
        found += [(start, end, "phone") for start, end in _phone_numbers(text)]
    found += [(start, end, "name") for start, end in find_names(text)]
    for start, end, kind in found:
        if end > start and not any(left <= start and end <= right for left, right in urls):
            candidates.append((start, end, kind))
    return candidates


def scan_phi(text: str) -> list[PhiMatch]:
    """Suspected identifiers in ``text``, in order, without overlaps.

    Where candidates overlap, the one that starts first (then the longest, then by kind) names the match and its span
    grows to cover the others, so that every flagged character is redacted. For names and labelled numbers the span
    covers the value only, so "Dr. Smith" redacts to "Dr. [REDACTED]".
    """
    candidates = _candidates(text)
    candidates.sort(key=lambda c: (c[0], -(c[1] - c[0]), PRIORITY[c[2]]))
    spans: list[list[Any]] = []
    for start, end, kind in candidates:
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end, kind])
    return [PhiMatch(kind, (start, end), text[start:end], _snippet(text, start, end)) for start, end, kind in spans]


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


def iter_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a metadata value, with its path ("findings", "image_captions.CXR1_1", "notes[2]").

    Structural identifier keys (:data:`STRUCTURAL_KEYS`) are skipped. Iterative, so any depth of nesting is screened.
    """
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, Mapping):
            children = [
                (f"{where}.{k}" if where else str(k), v) for k, v in item.items() if str(k) not in STRUCTURAL_KEYS
            ]
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(f"{where}[{n}]", v) for n, v in enumerate(item)]))


def redact_value(value: Any, placeholder: str = PLACEHOLDER, depth: int = 0) -> tuple[Any, int]:
    """``value`` with every string in it redacted (dicts and lists rebuilt, keys kept), and the spans replaced.

    Past 64 levels of nesting a container that holds any identifier is replaced by ``placeholder`` as a whole.
    """
    if isinstance(value, str):
        found = len(scan_phi(value))
        return (redact(value, placeholder), found) if found else (value, 0)
    if not isinstance(value, Mapping | list | tuple):
        return value, 0
    if depth >= _MAX_DEPTH:
        found = sum(len(scan_phi(text)) for _, text in iter_strings(value))
        return (placeholder, found) if found else (value, 0)
    total = 0
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[key], found = (item, 0) if str(key) in STRUCTURAL_KEYS else redact_value(item, placeholder, depth + 1)
            total += found
        return (out, total) if total else (value, 0)
    items = []
    for item in value:
        clean, found = redact_value(item, placeholder, depth + 1)
        items.append(clean)
        total += found
    return (type(value)(items), total) if total else (value, 0)


def redact_record(record: Record, placeholder: str = PLACEHOLDER) -> Record:
    """The record with its text and every metadata string redacted (Open-i findings, impression, indication,
    captions, any manifest field); ``metadata["phi_redacted"]`` counts the spans replaced (absent if none)."""
    found = len(scan_phi(record.text))
    metadata, in_metadata = redact_value(record.metadata, placeholder)
    if not found and not in_metadata:
        return record
    return dataclasses.replace(
        record,
        text=redact(record.text, placeholder) if found else record.text,
        metadata={**metadata, "phi_redacted": found + in_metadata},
    )


@dataclass
class PhiSummary:
    """Corpus-level PHI counts: matches and records per kind and per field, up to ``max_examples`` examples per kind.

    A record's text and every string in its metadata are screened (a report copied into ``metadata.findings`` is
    as much PHI as the same report in ``text``); fields are named by their path ("text", "findings", "notes[2]").
    """

    max_examples: int = 5
    records_scanned: int = 0
    records_with_phi: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    records: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def add(self, record_id: str, text: str, metadata: Mapping[str, Any] | None = None) -> list[PhiMatch]:
        """Scan one record's text and metadata strings into the summary; returns its matches."""
        found: list[PhiMatch] = []
        for where, value in [("text", text), *iter_strings(metadata or {})]:
            matches = scan_phi(value)
            found += matches
            for match in matches:
                self.matches[match.kind] += 1
                self.fields[where] += 1
                examples = self.examples.setdefault(match.kind, [])
                if len(examples) < self.max_examples:
                    example = {"record_id": record_id, "field": where, "text": match.text, "snippet": match.snippet}
                    examples.append(example)
        self.records_scanned += 1
        self.records_with_phi += bool(found)
        for kind in {m.kind for m in found}:
            self.records[kind] += 1
        return found

    @property
    def found(self) -> bool:
        """Whether any identifier was flagged."""
        return self.records_with_phi > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "records_scanned": self.records_scanned,
            "records_with_phi": self.records_with_phi,
            "matches": {kind: self.matches[kind] for kind in KINDS if self.matches[kind]},
            "records": {kind: self.records[kind] for kind in KINDS if self.records[kind]},
            "fields": dict(self.fields.most_common()),
            "examples": {kind: self.examples[kind] for kind in KINDS if kind in self.examples},
        }


def summarize_phi(records: Iterable[Record], max_examples: int = 5) -> PhiSummary:
    """Scan every record's text and metadata; see :class:`PhiSummary`."""
    summary = PhiSummary(max_examples=max_examples)
    for record in records:
        summary.add(record.id, record.text, record.metadata)
    return summary
