"""NegEx-style finding detection in report sentences (Chapman et al., J Biomed Inform 2001).

Given the terms of an asked finding, find the report sentences that mention it and whether each mention is
affirmed or negated. Negation triggers before the finding ("no", "without", "negative for") or after it ("is
absent", "not seen") act within the clause only; pseudo-triggers ("no change", "not only") do not negate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# Clause boundaries end a trigger's scope (NegEx "termination terms").
_CLAUSE_BREAK = {"but", "however", "although", "though", "except", "which", "whereas", "while", "yet", "aside"}

PRE_NEGATIONS = (
    "no",
    "not",
    "without",
    "negative for",
    "free of",
    "absence of",
    "absent",
    "no evidence of",
    "no sign of",
    "no signs of",
    "rule out",
    "ruled out",
    "denies",
    "never",
    "neither",
    "nor",
    "resolved",
    "resolution of",
    "cannot be seen",
    "lack of",
    "lacks",
    "removal of",
    "clear of",
)
POST_NEGATIONS = (
    "is absent",
    "are absent",
    "not seen",
    "not identified",
    "not present",
    "not visualized",
    "not demonstrated",
    "is not",
    "are not",
    "was not",
    "were not",
    "has resolved",
    "have resolved",
    "resolved",
    "unlikely",
    "ruled out",
    "is negative",
    "are negative",
    "not appreciated",
    "not evident",
)
PSEUDO_NEGATIONS = (
    "no change",
    "no significant change",
    "no interval change",
    "not only",
    "no increase",
    "no decrease",
    "not necessarily",
    "without change",
    "no further",
    "not certain if",
    "not rule out",
    "no longer",
)


def sentences(text: str) -> list[str]:
    """Split report text into sentences (period, semicolon, question mark or line break)."""
    return [part.strip() for part in _SENTENCE.split(text) if part and part.strip()]


def words(text: str) -> list[str]:
    """Lower-cased word tokens; "x-ray" stays one word and possessive 's is dropped."""
    text = text.lower().replace("x-ray", "xray").replace("\u2019", "'").replace("'s ", " ")
    return _WORD.findall(text)


# Clinical derivations first (the SPECIALIST Lexicon's derivational variants): "atherosclerotic" meets
# "atherosclerosis", "arthritic" "arthritis", "osteopenic" "osteopenia", "emphysematous" "emphysema", "calcified"
# "calcification", "atelectatic" "atelectasis", "tortuous" "tortuosity".
_SUFFIXES = (
    ("osis", "ot"),
    ("itis", "it"),
    ("ification", "if"),
    ("ified", "if"),
    ("atous", "a"),
    ("asis", "at"),
    ("asia", "at"),
    ("osity", ""),
    ("ous", ""),
    ("ia", ""),
    ("ies", "y"),
    ("ity", ""),
    ("ment", ""),
    ("ness", ""),
    ("ing", ""),
    ("ed", ""),
    ("es", ""),
    ("s", ""),
    ("al", ""),
    ("ic", ""),
    ("a", ""),
    ("e", ""),
)


def stem(word: str) -> str:
    """A light, repeated suffix strip so "effusions"/"effusion", "abnormalities"/"abnormal" and "aortic"/"aorta"
    meet. Both sides of every comparison go through it, so over-stemming costs nothing."""
    for _ in range(3):
        for suffix, keep in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                word = word[: -len(suffix)] + keep
                break
        else:
            break
    return word


def _phrase_at(tokens: list[str], start: int, phrase: str) -> bool:
    parts = phrase.split()
    return tokens[start : start + len(parts)] == parts


def _contains_phrase(tokens: list[str], phrases: tuple[str, ...], start: int, stop: int) -> bool:
    return any(_phrase_at(tokens, i, phrase) for i in range(start, stop) for phrase in phrases)


@dataclass(frozen=True)
class Mention:
    """A sentence that mentions the finding, how many of its terms matched, and its polarity."""

    sentence: str
    matched: int
    negated: bool


def find_mention(sentence: str, terms: list[str], required: int) -> Mention | None:
    """The mention of ``terms`` (stemmed) in ``sentence`` if at least ``required`` of them occur, else None."""
    tokens = words(sentence)
    stems = [stem(token) for token in tokens]
    positions = [stems.index(term) for term in terms if term in stems]
    if len(positions) < required:
        return None
    start, end = clause_bounds(tokens, min(positions), max(positions))
    return Mention(sentence=sentence, matched=len(positions), negated=is_negated(tokens, start, end, max(positions)))


def clause_bounds(tokens: list[str], first: int, last: int) -> tuple[int, int]:
    """The clause around tokens ``first..last``: it ends at NegEx termination terms ("but", "however", ...)."""
    start = max((i + 1 for i in range(first) if tokens[i] in _CLAUSE_BREAK), default=0)
    end = next((i for i in range(last + 1, len(tokens)) if tokens[i] in _CLAUSE_BREAK), len(tokens))
    return start, end


def is_negated(tokens: list[str], start: int, end: int, last: int) -> bool:
    """Whether a finding ending at token ``last`` is negated within the clause ``start..end`` (NegEx)."""
    if _contains_phrase(tokens, PSEUDO_NEGATIONS, start, end):
        return False
    # A pre-negation scopes forward over the finding, so it may sit between its words ("lungs are free of disease").
    return _contains_phrase(tokens, PRE_NEGATIONS, start, last) or _contains_phrase(
        tokens, POST_NEGATIONS, last + 1, end
    )


def contains_phrase(tokens: list[str], phrases: tuple[str, ...], start: int, stop: int) -> bool:
    """Whether one of ``phrases`` (space-separated words) starts at a token in ``start..stop``."""
    return _contains_phrase(tokens, phrases, start, stop)
