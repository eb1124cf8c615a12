"""Report hygiene: split free-text reports into sections and mark sentences that refer to prior studies.

MMed-RAG and RULE generate a report from one image with no access to earlier studies (method.md §6.1: "generate a
report based on the X-ray image"), so a reference or target sentence such as "unchanged from the prior" cannot be
grounded in that image; models trained on them learn to hallucinate priors (Ramesh, Chi, Rajpurkar 2022, "Improving
radiology report generation systems by removing hallucinated references to non-existent priors", arXiv:2210.06340).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Header spellings mapped to canonical section names. MedPix text (as the medpix2 reader renders it) uses
# "Findings:" and "Diagnosis:"; IU-Xray and MIMIC-CXR use INDICATION / COMPARISON / FINDINGS / IMPRESSION.
SECTION_ALIASES: dict[str, str] = {
    "findings": "findings",
    "finding": "findings",
    "impression": "impression",
    "impressions": "impression",
    "conclusion": "impression",
    "conclusions": "impression",
    "indication": "indication",
    "indications": "indication",
    "clinical indication": "indication",
    "reason for exam": "indication",
    "reason for examination": "indication",
    "history": "history",
    "clinical history": "history",
    "comparison": "comparison",
    "comparisons": "comparison",
    "technique": "technique",
    "examination": "technique",
    "exam": "technique",
    "diagnosis": "diagnosis",
}
SECTIONS: tuple[str, ...] = ("indication", "history", "technique", "comparison", "findings", "impression", "diagnosis")
PREAMBLE = "preamble"

_ALIASES_BY_LENGTH = sorted(SECTION_ALIASES, key=len, reverse=True)
_NAMES = "|".join(re.escape(alias).replace(r"\ ", r"\s+") for alias in _ALIASES_BY_LENGTH)
_UPPER_NAMES = "|".join(re.escape(alias.upper()).replace(r"\ ", r"\s+") for alias in _ALIASES_BY_LENGTH)
# A header starts a line (any case; the colon may be left out only when the header is the whole line), or appears
# mid-line in capitals with a colon, as when IU-Xray fields are joined on one line ("... None. FINDINGS: The heart").
_HEADER = re.compile(
    rf"^[ \t]*(?P<line>(?i:{_NAMES}))[ \t]*(?::|$)|(?<![\w-])(?P<inline>{_UPPER_NAMES})[ \t]*:",
    re.MULTILINE,
)

# Sentence triggers for a reference to an earlier study. Words that only suggest time ("chronic", "old fracture",
# "prior granulomatous disease") are left out: they describe the patient, and a single image can show them.
_PRIOR_TRIGGERS = re.compile(
    r"""\b(?:
        compar(?:ed|ison)\s+(?:is\s+made\s+)?(?:with|to)
      | (?:prior|previous|preceding|earlier|recent|last|old)\s+(?:chest\s+)?
        (?:stud(?:y|ies)|exams?|examinations?|radiographs?|films?|x-?rays?|ct|cts|mris?|imaging|images?|scans?)
      | (?:since|than|on)\s+(?:the\s+)?(?:prior|previous)
      | unchanged
      | (?<!hemodynamically\s)stable
      | no\s+(?:\w+\s+){0,2}change\b
      | (?:has|have)\s+(?:not\s+)?changed
      | again\s+(?:seen|noted|demonstrated|identified|visualized|present)
      | re-?demonstrat\w*
      | interval\w*
      | previously
      | persist\w*
      | remains?|remained
      | (?:improv|worsen|resolv)(?:ed|ing|ement)
      | (?:increas|decreas)\w*\s+in\s+(?:size|extent|number|conspicuity)
      | new(?:ly)?
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'\[])|\n+")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Prof|vs|approx|e\.g|i\.e|cf|St|Fig)\.$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SentenceMark:
    """A sentence of a report and whether it refers to a prior study (``trigger``: the phrase that said so)."""

    sentence: str
    refers_to_prior: bool
    trigger: str | None = None


def _canonical(header: str) -> str:
    return SECTION_ALIASES.get(" ".join(header.lower().split()), "")


def parse_sections(text: str) -> dict[str, str]:
    """Split a report into ``{section: text}`` under canonical names (see :data:`SECTIONS`).

    Text with no recognised header is all ``findings``: a caption or an unlabelled report describes what the image
    shows, and findings are what report generation targets (method.md §8.2: the IU-Xray target is the findings and
    impression). Text before the first header (an exam title, a MedPix caption) goes to ``preamble``. A repeated
    section is joined with a space; whitespace runs are collapsed; empty sections are left out.
    """
    named = ((match, _canonical(match.group("line") or match.group("inline"))) for match in _HEADER.finditer(text))
    marks = [(match, name) for match, name in named if name]
    if not marks:
        body = " ".join(text.split())
        return {"findings": body} if body else {}
    sections: dict[str, str] = {}

    def put(name: str, chunk: str) -> None:
        chunk = " ".join(chunk.split())
        if chunk:
            sections[name] = f"{sections[name]} {chunk}" if name in sections else chunk

    put(PREAMBLE, text[: marks[0][0].start()])
    for number, (match, name) in enumerate(marks):
        end = marks[number + 1][0].start() if number + 1 < len(marks) else len(text)
        put(name, text[match.end() : end])
    return sections


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after . ! ? before a capital or digit, and at line breaks; keeps "Dr. X" whole."""
    pieces = [piece.strip() for piece in _SENTENCE_END.split(text)]
    sentences: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return sentences


def mark_prior_references(text: str) -> list[SentenceMark]:
    """Each sentence of ``text`` with whether it refers to a prior study ("compared with the prior", "unchanged")."""
    marks: list[SentenceMark] = []
    for sentence in split_sentences(text):
        match = _PRIOR_TRIGGERS.search(sentence)
        marks.append(SentenceMark(sentence, match is not None, match.group(0) if match else None))
    return marks


def drop_prior_references(text: str) -> str:
    """``text`` without its prior-referring sentences; line breaks between kept lines stay, emptied lines go."""
    lines: list[str] = []
    for line in text.splitlines():
        kept = [mark.sentence for mark in mark_prior_references(line) if not mark.refers_to_prior]
        if kept:
            lines.append(" ".join(kept))
        elif not line.strip():
            lines.append("")
    return "\n".join(lines).strip()
