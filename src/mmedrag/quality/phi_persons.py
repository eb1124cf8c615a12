"""Find people's names in report text (HIPAA Safe Harbor 45 CFR 164.514(b)(2)(i)(A)) without a language model.

Four cues, each followed by a walk over name-shaped tokens (Title case, UPPER case, initials, O'Neil, McDonald,
hyphenated, the particles of multi-word surnames: van der Berg, de la Cruz, and words of scripts without letter
case: 王伟, محمد):

- a title, in any case: ``Dr. Smith``, ``DR. SMITH``, ``Mrs. van der Berg``, ``Doctor Jones``, ``dr. o'neil``;
- a label: ``Patient name: DOE, JOHN``, ``Referring physician: ...``, ``Dictated by ...``, ``cc: ...``;
- a post-nominal: ``John Smith, MD``, ``J. Smith RN``;
- a given name from :data:`~mmedrag.quality.phi_names.GIVEN_NAMES` followed by a surname: ``Mary Ann O'Neil-Smith``.

After a title or a ``label:``, names may be written in lower case (``seen by dr. o'neil``, ``ordering provider:
naomi feld``); after a bare label in lower case (``dictated by jennifer walsh``) the first word must be a given name.
The walk stops at function words, report vocabulary and de-identification marks (``XXXX``), so that "Dr. XXXX" and
"discussed with Dr. Smith at 10:30" redact only the name. A name-shaped run followed by an eponym's noun ("Austin
Flint murmur", "Sister Mary Joseph nodule") is medicine, not a person (:mod:`~mmedrag.quality.phi_eponyms`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from mmedrag.quality.phi_eponyms import is_eponym
from mmedrag.quality.phi_names import GIVEN_NAMES

# Any Unicode letter ([^\W\d_]), not only Latin-1: "Dr. Şener", "Patrik Němečková", "Erdoğan".
_WORD = r"[^\W\d_](?:[^\W\d_]|['\u2019.-])*"
_TOKEN = re.compile(rf"\s*({_WORD})")
_PARTICLE_TEXT = "van von der den de del della di da du la le st st. ter ten dos das bin al el mac"
_PARTICLES = frozenset(_PARTICLE_TEXT.split())
_GENERATIONS = frozenset({"jr", "sr", "ii", "iii", "iv"})
# Words after which a name cannot go on: function words, report verbs and nouns, roles, and answers to a label.
_STOP_TEXT = """
    a an and at as be been by for from had has have he her his i in is it its of on or our she so than that the their
    them then there these they this to too us was we were which who with without you your am pm via per re regarding
    about after before during today tonight yesterday tomorrow morning evening afternoon night who whom whose
    called notified informed discussed paged reviewed spoke spoken telephoned contacted relayed conveyed aware agrees
    agreed confirmed dictated signed read reported report findings finding impression comparison indication history
    technique exam examination study studies chest patient pt radiology radiologist physician doctor nurse team
    service department clinic hospital unit floor room emergency er ed icu ccu or surgery medicine resident
    fellow attending staff on-call oncall none unknown n/a na not available pending same prior previous new normal
    male female man woman boy girl mr mrs ms miss dr prof md do rn np pa phd mbbs frcr dds left right bilateral
    xray x-ray ct mri pa ap lateral views view film films image images exam
    disease diseases syndrome sign space spaces pupil phenomenon fracture tumor tumour lesion award classification
    criteria score scale law test maneuver manoeuvre reflex procedure operation repair fiber fibre cell cells node
    mrn ssn dob age sex id
    chiari hodgkin crohn wilms ewing kaposi cushing hashimoto kawasaki takayasu wegener pancoast kerley
    westermark fleischner bochdalek morgagni zenker meckel alzheimer marfan virchow
"""
_STOP = frozenset(_STOP_TEXT.split())
# Lower-case words that end a lower-case name ("dr. smith may call back"); some are names in Title case (May, Will,
# Said), so they stop only a lower-case walk.
_LOWER_STOP_TEXT = """
    requested recommended ordered saw seen states stated said says agree asked wants will would can may should
    also again only all any some here please thanks thank
"""
_LOWER_STOP = frozenset(_LOWER_STOP_TEXT.split())
# Titles in Title case, or in capitals with a period: "MR imaging", "MS plaques" and "DR cassette" are not people.
_TITLE = re.compile(
    r"(?<![\w])(?:(?:Dr|Mr|Mrs|Ms|Mx|Miss|Prof|Doctor|Professor|Nurse|Sister|Sr|MRS|MISS|DOCTOR|PROFESSOR|NURSE|doctor)"
    r"\.?|(?:DR|MR|MS|MX|PROF|SR)\.|(?:dr|mrs|prof|professor)\.?|(?:mr|ms|mx)\.)(?=\s)"
    # lower case: "dr. o'neil", "mrs pemberton"; "mr" and "ms" only with a period ("mr angiography", "ms plaques")
    r"|(?<![\w])mr(?=\s+(?!(?:imaging|angiograph|angiogram|enterograph|venograph|spectroscop|perfusion|diffusion|"
    r"elastograph|arthrogra|urograph|sequence|scan|study|exam|signal|compatible|conditional|safe|unsafe|contrast|"
    r"guided|fluoroscop|brain|spine|head|chest|abdomen|pelvis|knee|shoulder|of|and|or|with|without)))"
)
_LABEL = re.compile(
    r"(?<![\w])(?i:(?:patient|pt|full|first|last|given|family|maiden)(?:'s)?\s+name|(?<![^\n])name|patient|referring(?:\s+(?:physician|doctor|provider|md|clinician))?"
    r"|ordering(?:\s+(?:physician|provider|md|clinician))?|requesting(?:\s+(?:physician|provider|md))?"
    r"|attending(?:\s+(?:physician|radiologist))?|primary\s+care(?:\s+(?:physician|provider))?|pcp|radiologist"
    r"|physician|surgeon|resident|fellow|technologist|tech|sonographer|guardian|mother|father|spouse|wife|husband"
    r"|next\s+of\s+kin|emergency\s+contact|cc|copy\s+to|(?:electronically\s+)?signed(?:\s+by)?|dictated(?:\s+by)?"
    r"|transcribed(?:\s+by)?|read\s+by|reviewed\s+by|interpreted\s+by|reported\s+by|verified\s+by|approved\s+by"
    r"|performed\s+by|attested\s+by|results?\s+(?:called|given|discussed)\s+to|(?:called|paged|notified)\s+to"
    r"|seen\s+by|ordering\s+provider)"
    r"(?:\s*[:#-]\s*|\s+(?=[^\W\d_]))"
)
_BY_LABEL = re.compile(r"(?i:\bby|\bto)\s*$")  # "dictated by", "results given to": a person follows
_VERB = re.compile(
    r"(?<![\w])(?i:discussed\s+with|spoke\s+(?:with|to)|spoken\s+to|communicated\s+to|conveyed\s+to|relayed\s+to"
    r"|telephoned|notified|informed|paged|called|contacted|reviewed\s+with|d/w)\s+(?=[A-Z])"
)
# "John Smith, MD", "Smith MD": a comma is needed before the letters that are also words (DO, RN, PA-C, ...).
_POSTNOMINAL = re.compile(
    r"(?:,?\s+(?:M\.D\.|MD|Ph\.?D\.?)|,\s*(?:D\.?O\.?|R\.?N\.?|N\.?P\.?|PA-C|MBBS|FRCR|FRCPC|DDS|RT))(?![\w])"
)
_MAX_TOKENS = 4


def _name_like(word: str, upper_context: bool, lower_context: bool = False) -> bool:
    """A Title-case word (O'Neil, McDonald, Smith-Jones), an initial, an UPPER word where the text shouts, a word of a
    script without case (after a cue), or, after a cue in lower-case text, a lower-case word that is no report word."""
    core = word.rstrip(".")
    if not core or core.lower() in _STOP or re.fullmatch(r"X{2,}", re.sub(r"[^A-Za-z]", "", core)):
        return False
    if not core[0].isupper() and not core[0].islower():
        return True  # Chinese, Japanese, Korean, Arabic, Hebrew, Thai, ...: no case to go by
    if len(core) == 1:
        return core.isupper() and word.endswith(".")
    if core.islower():
        return lower_context and core not in _LOWER_STOP
    rest = core[1:].replace("'", "").replace("\u2019", "").replace("-", "")
    if not core[0].isupper():
        return False
    return upper_context if rest.isupper() else any(c.islower() for c in rest)


def _walk(text: str, start: int, allow_comma: bool, upper_context: bool, lower_context: bool = False) -> int:
    """End of the run of name tokens from ``start`` (``start`` itself if there is none)."""
    end, position, taken, commas = start, start, 0, 0
    while taken < (3 if lower_context else _MAX_TOKENS):
        match = _TOKEN.match(text, position)
        if match is None:
            if allow_comma and not commas and taken and text.startswith(",", position):
                commas, position = 1, position + 1  # "DOE, JOHN A"
                continue
            break
        word = match.group(1)
        if word.lower() in _PARTICLES and _surname_follows(text, match.end(), upper_context, lower_context):
            position = match.end()  # "van der Berg": the particles belong to the surname that follows
            continue
        if taken and word.rstrip(".").lower() in _GENERATIONS:
            return match.end()  # "Koch II", "Smith Jr."
        if not (_name_like(word, upper_context, lower_context) or word[:1].isupper() and word.lower() in _PARTICLES):
            break
        taken += 1
        position = match.end()
        end = position - (1 if word.endswith(".") and len(word.rstrip(".")) > 1 else 0)
        if end < position:  # "JOHN." ends a sentence: what follows ("MRN: ...") is not part of the name
            break
    return end


def _surname_follows(text: str, position: int, upper_context: bool, lower_context: bool = False) -> bool:
    """Whether more particles and then a name-like token follow ``position`` ("der Berg" after "van")."""
    while (match := _TOKEN.match(text, position)) is not None:
        word = match.group(1)
        if word.lower() not in _PARTICLES and _name_like(word, upper_context, lower_context):
            return True
        if word.lower() not in _PARTICLES:
            return False
        position = match.end()
    return False


def _shouting(text: str, position: int) -> bool:
    """Whether the text around ``position`` is mostly upper case (reports written in capitals)."""
    window = text[max(0, position - 60) : position + 60]
    letters = [c for c in window if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) > 0.8 * len(letters)


def find_names(text: str) -> Iterator[tuple[int, int]]:
    """Character spans of what looks like a person's name (the name only: "Dr. [name]", "Patient name: [name]");
    eponyms ("Austin Flint murmur") are left out."""
    for start, end in _name_spans(text):
        if not is_eponym(text, start, end):
            yield start, end


def _name_spans(text: str) -> Iterator[tuple[int, int]]:
    for cue in (_TITLE, _LABEL, _VERB):
        for match in cue.finditer(text):
            start = match.end()
            while start < len(text) and text[start].isspace():
                start += 1
            # A title or a "Label:" is cue enough (and may be followed by a name in capitals); a bare label or verb
            # ("Patient Information", "called Radiology") needs a given name to follow, except "... by" and "... to"
            # labels before a capitalised or caseless word ("Signed by Иван Петров").
            colon = cue is _LABEL and any(c in match.group() for c in ":#-")
            strong = cue is _TITLE or colon
            if cue is _TITLE and match.group().isupper() and not _upper_word_at(text, start):
                continue  # "on MR. Cysts do not enhance": a capital title needs a capital name ("MR. SMITH")
            lower = _lower_word_at(text, start)
            if cue is _LABEL and not colon and not lower and _BY_LABEL.search(match.group().rstrip()):
                strong = True
            end = _walk(text, start, cue is _LABEL, strong or _shouting(text, start), lower)
            if end > start and (strong or _given(text[start:end])):
                yield start, end
    yield from _given_name_runs(text)
    for match in _POSTNOMINAL.finditer(text):
        start = _walk_back(text, match.start())
        if start < match.start():
            yield start, match.start()


def _lower_word_at(text: str, position: int) -> bool:
    """Whether the word at ``position`` is in lower case ("dr. o'neil", "dictated by jennifer walsh")."""
    match = _TOKEN.match(text, position)
    return match is not None and match.group(1)[:1].islower()


def _upper_word_at(text: str, position: int) -> bool:
    match = _TOKEN.match(text, position)
    return match is not None and match.group(1).rstrip(".").isupper()


def _given(name: str) -> bool:
    first = name.split(maxsplit=1)[0].rstrip(".,")
    return first in GIVEN_NAMES or first.title() in GIVEN_NAMES


def _given_name_runs(text: str) -> Iterator[tuple[int, int]]:
    """A given name followed by at least one more name token: "Mary Ann O'Neil-Smith", "JOHN SMITH"."""
    for match in re.finditer(r"(?<![\w'-])[^\W\d_]+", text):
        word = match.group()
        if not word[0].isupper():
            continue
        if word not in GIVEN_NAMES and not (word.isupper() and word.title() in GIVEN_NAMES):
            continue
        upper = word.isupper()
        if upper and not _shouting(text, match.start()):
            continue
        end = _walk(text, match.end(), False, upper)
        if end > match.end():
            yield match.start(), end


def _walk_back(text: str, end: int) -> int:
    """Start of the run of up to four name tokens that ends at ``end`` (for "John A. Smith, MD")."""
    words = list(re.finditer(_WORD, text[max(0, end - 80) : end]))
    offset = max(0, end - 80)
    start = end
    upper = _shouting(text, end)
    for word in reversed(words[-_MAX_TOKENS:]):
        if offset + word.end() != start and text[offset + word.end() : start].strip():
            break
        if not (_name_like(word.group(), upper) or word.group().lower() in _PARTICLES):
            break
        start = offset + word.start()
    return start
