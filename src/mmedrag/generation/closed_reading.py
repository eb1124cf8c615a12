"""Reading one report for one closed (yes/no) question: the written rules of the extractive answerer.

1. **Question.** Framing words are dropped; the rest is mapped through the lexicon
   (:mod:`mmedrag.generation.lexicon`: synonyms, compounds such as "cardiomegaly" = heart + enlarged) into *content*
   terms (the finding or structure asked about) and an asked *state*: ``abnormal`` ("Is the mediastinum
   remarkable / enlarged?"), ``normal`` ("Are the lungs clear?") or none ("Is there an effusion?", i.e. is it
   present). Temporal questions ("since the prior study", "a new finding") ask whether something changed.
2. **Mention.** A sentence mentions the asked finding when it holds at least half of the content terms (words of
   one family match: "elevated"/"elevation"), including a finding term when the question names one besides
   anatomy ("Is there a fracture of the ribs?" is not answered by "Ribs are seen"), and does not place it in
   another organ, another body region or on the other side than asked ("mass in the right lower lobe" or "mass
   lesion proximal humerus" does not answer "Is there a mass in the liver?", "mass in the right lung" does not
   answer "... in the left lung?"). An asked attribute of a finding must be there too: "Infiltrative mass" does not
   answer "Is the mass calcified?". Regions are those of :mod:`mmedrag.anatomy`, read in the clause (else in the
   sentence); a place one study shows with the asked one ("projecting over the ribs" for a lung question) is not
   elsewhere. The mention is *negated* by NegEx triggers in its clause, *hedged* by an uncertainty phrase before it
   in its clause or just after it, and *normal* when it states a normal state ("unremarkable", "within normal
   limits", "clear", "midline"; for temporal questions also "stable", "unchanged"). States are read in the
   comma-separated part holding the finding when that part names one, else in the whole clause.
3. **Finding present?** A negated or normal mention says the asked abnormality is absent, a hedged one is
   uncertain, any other mention says it is present. A normal mention of everything a question names that asks no
   state ("Are there sternotomy wires?" and "Sternotomy wires intact") says it is present. A question asking a
   specific abnormal state ("enlarged", "widened", "deviated") is answered only by a mention of that state in any
   of its words ("large", "prominent", "cardiomegaly") or of a normal one: another state of the structure ("cardiac
   deviation", "the heart is small") or a finding beside it says nothing about it. A state question about a
   structure ("Are the lungs clear?") is answered by what the clause says of an abnormality on it (a few words
   from it, no other organ between): denied ("The lungs are free of focal airspace disease", "No cardiomegaly") it
   is normal, affirmed it is not; a clause that names the structure with no state of its own ("cardiac deviation
   ... with lung between the aorta and ...") says nothing about it. Among a report's mentions the one matching
   most content terms decides, preferring one that speaks to the asked state; among equals present beats uncertain
   beats absent, the CheXpert labeler's aggregation (Irvin et al., AAAI 2019).
4. **Hedges.** An uncertain finding is read by the ``hedged`` policy: ``yes`` (present: the "U-Ones" mapping of
   Irvin et al., since radiologists hedge about what they see), ``no`` ("U-Zeros") or ``abstain``.
5. **Unmentioned findings.** With ``unmentioned="absent_if_complete"`` a report that says nothing about the asked
   finding counts as saying it is absent, when the report reads as a complete study description: it has a
   FINDINGS or IMPRESSION section, a global normal statement ("no acute cardiopulmonary abnormality"), or it
   describes at least two of the four systems a chest radiograph report covers (heart/mediastinum, lungs, pleura,
   bones). Radiologists list what is present and summarise the rest as normal, so the CheXpert labeler likewise
   leaves unmentioned observations as "not positive". With ``unmentioned="abstain"`` (or an incomplete report,
   e.g. an image caption) the answer is ``unknown``.
6. **Answer.** For a ``normal`` question the answer is yes when the abnormality is absent; otherwise yes when it is
   present. "Is there no ...?" flips it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from mmedrag.anatomy import compatible, regions_in
from mmedrag.generation import lexicon
from mmedrag.generation.negation import clause_bounds, contains_phrase, is_negated, sentences, stem, words

State = Literal["normal", "abnormal"]
Finding = Literal["present", "absent", "uncertain"]
UNMENTIONED_POLICIES = ("abstain", "absent_if_complete")
HEDGE_POLICIES = ("yes", "no", "abstain")
_SECTION = re.compile(r"\b(findings|impression)\s*:", re.I)
_ORDER: dict[Finding, int] = {"absent": 0, "uncertain": 1, "present": 2}
# A hedge before the finding scopes over it ("possible small effusion"); after it, only close by ("atelectasis versus
# scarring", "effusion is suspected"): in "normal heart size with pericardial calcifications and question of mild
# venous engorgement" the question is of the engorgement, not of the heart (NegEx's scope, Chapman et al. 2001).
_HEDGE_AFTER = 3
# "coronary artery bypass grafting (CABG)" or "CABG (coronary artery bypass graft)": a term and its initialism, of
# three letters at least (shorter words are dropped from questions, so "computed tomography (CT)" keeps its words).
_SPELLED_OUT = re.compile(r"((?:[A-Za-z][\w-]*\s+){1,6})\(([A-Za-z]{3,6})\)")
_ABBREVIATED = re.compile(r"\b([A-Za-z]{3,6})\s+\(((?:[A-Za-z][\w-]*\s*){2,6})\)")


def canonical(token: str) -> tuple[str, ...]:
    """A word's canonical stems: its synonym group's head, or the parts of a compound ("cardiomegaly")."""
    stemmed = stem(token)
    return lexicon.COMPOUNDS.get(stemmed) or (lexicon.SYNONYMS.get(stemmed, stemmed),)


def same_word(a: str, b: str) -> bool:
    """Stems of one word family: equal, one a prefix of the other ("elevat"/"elevation", "calcifi"/"calcification")
    or sharing eight letters ("atherosclerosi"/"atherosclerot"); the stemmer alone misses derivations."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return (len(short) >= 5 and long.startswith(short)) or (len(short) >= 8 and short[:8] == long[:8])


@dataclass(frozen=True)
class ClosedQuestion:
    """What a yes/no question asks: content terms, the asked state, and whether it is temporal or negated."""

    content: tuple[str, ...]
    state: State | None
    temporal: bool
    negated: bool
    sides: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()  # the body regions the question names (mmedrag.anatomy)
    # Initialisms the question spells out: (initialism, stems of its words); a report may use either form.
    initialisms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    asked_states: frozenset[str] = frozenset()  # the specific abnormal states asked (lexicon.STATE_GROUPS heads)


def _initialisms(question: str) -> tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """The question with each spelled-out initialism kept in its short form only, and the pairs found. Reports
    write "interval CABG" or "coronary artery bypass grafting"; counting both spellings as content terms made
    the short form match too few of them."""
    found: list[tuple[str, tuple[str, ...]]] = []

    def keep(match: re.Match[str], prefix: list[str], spelled: list[str], short: str) -> str:
        if len(spelled) != len(short) or "".join(token[0] for token in spelled) != short.lower():
            return match.group(0)
        found.append((short.lower(), tuple(stem(token) for token in spelled)))
        return " ".join([*prefix, short]) + " "

    def spelled_out(match: re.Match[str]) -> str:
        before, short = words(match.group(1)), match.group(2)
        return keep(match, before[: -len(short)], before[-len(short) :], short)

    question = _SPELLED_OUT.sub(spelled_out, question)
    question = _ABBREVIATED.sub(lambda match: keep(match, [], words(match.group(2)), match.group(1)), question)
    return question, tuple(found)


def _shorten(tokens: list[str], initialisms: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """Report words with each spelled-out initialism the question uses replaced by its short form."""
    for short, spelled in initialisms:
        stems = [stem(token) for token in tokens]
        n, i, kept = len(spelled), 0, []
        while i < len(tokens):
            if tuple(stems[i : i + n]) == spelled:
                kept.append(short)
                i += n
            else:
                kept.append(tokens[i])
                i += 1
        tokens = kept
    return tokens


def parse_question(question: str) -> ClosedQuestion:
    """Split a yes/no question into content terms and the asked state (rule 1 of the module docstring)."""
    question, initialisms = _initialisms(question)
    tokens = words(question)
    negated = bool({"no", "not"} & set(tokens[1:3]))  # "Is there no ...?", "Is it not ...?"
    temporal = any(t in lexicon.TEMPORAL_CUES for t in tokens)
    content: list[str] = []
    state: State | None = None
    asked: set[str] = set()
    for token in tokens:
        if lexicon.is_frame(token) or token in {"no", "not", "without", "xxxx"} or len(token) < 3:
            continue
        for term in canonical(token):
            if temporal and (token in lexicon.TEMPORAL_CUES or term in lexicon.CHANGE_STATE):
                state = state or "abnormal"
            elif term in lexicon.NORMAL_STATE:
                state = state or "normal"
            elif term in lexicon.ABNORMAL_STATE:
                state = state or "abnormal"
                if term in lexicon.STATE_GROUPS and not temporal:
                    asked.add(lexicon.STATE_GROUPS[term])
            elif term not in content:
                content.append(term)
    sides = frozenset(tokens) & lexicon.SIDES
    return ClosedQuestion(
        tuple(content),
        state,
        temporal,
        negated,
        sides if len(sides) == 1 else frozenset(),
        regions_in(question),
        initialisms,
        frozenset(asked) if state == "abnormal" else frozenset(),
    )


@dataclass(frozen=True)
class Reading:
    """What one sentence says about the asked finding."""

    sentence: str
    found: frozenset[str]  # the question's content terms the sentence names
    finding: Finding
    states: bool  # the clause names a state (normal or abnormal)

    @property
    def matched(self) -> int:
        return len(self.found)

    def states_all_asked(self, question: ClosedQuestion) -> bool:
        """Whether the reading speaks to everything the question asks: it names every content term but where it is
        ("effusion unchanged" for "Is there a pleural effusion?"; not "lobulated lesion" for "Is the lesion
        wedge-shaped?"), or it denies what it names ("No lesion", "The liver is normal" rule out a wedge-shaped
        lesion or a liver mass)."""
        named = all(term in self.found or term in lexicon.PLACES for term in question.content)
        return named or self.finding == "absent"


def read_sentence(sentence: str, question: ClosedQuestion) -> Reading | None:
    """The sentence's reading of the asked finding (rules 2-3), or None when it does not mention it."""
    parts = [_shorten(words(part), question.initialisms) for part in sentence.split(",")]
    tokens = [token for part in parts for token in part]
    segment = [number for number, part in enumerate(parts) for _ in part]
    terms = [canonical(token) for token in tokens]
    found: dict[str, int] = {}
    for term in question.content:
        at = next((i for i, group in enumerate(terms) if any(same_word(term, t) for t in group)), None)
        if at is not None:
            found[term] = at
    if len(found) < max(1, math.ceil(0.5 * len(question.content))):
        return None
    findings = [c for c in question.content if c not in lexicon.ANATOMY]
    if findings and not any(c in found for c in findings):
        return None  # the place without the finding
    if any(c in lexicon.ATTRIBUTES and c not in found for c in question.content):
        return None  # the finding without the asked attribute ("Is the mass calcified?" and "mass in the liver")
    positions = list(found.values())
    start, end = clause_bounds(tokens, min(positions), max(positions))
    # States and sites are read in the comma-separated part(s) holding the finding when they name any ("Heart size
    # is mildly enlarged, pulmonary vascularity within normal limits" says nothing abnormal about the vascularity),
    # else in the whole clause ("The contours, lungs and bones are normal"; "Nodule left midlung, stable").
    near = [i for i in range(start, end) if segment[min(positions)] <= segment[i] <= segment[max(positions)]]
    clause = {term for i in near for term in terms[i]}
    stated = lexicon.NORMAL_STATE | lexicon.ABNORMAL_STATE | lexicon.STABLE_STATE
    if question.asked_states:  # "Heart is large, lungs clear": the size is stated beside the heart
        stated |= lexicon.STATE_GROUPS.keys()
    if not clause & stated:
        near = list(range(start, end))
        clause = {term for i in near for term in terms[i]}
    if _elsewhere(question, clause, [tokens[i] for i in near], tokens):
        return None
    return _reading(sentence, question, tokens, terms, found, (start, end), clause)


def _reading(
    sentence: str,
    question: ClosedQuestion,
    tokens: list[str],
    terms: list[tuple[str, ...]],
    found: dict[str, int],
    span: tuple[int, int],
    clause: set[str],
) -> Reading | None:
    """What the clause around the mention says of the asked finding (rule 3), or None when it says nothing of the
    asked state."""
    start, end = span
    about_structure = question.state is not None and set(question.content) <= lexicon.ANATOMY
    structure = about_structure and not question.temporal
    on_structure = about_structure and _put_on_structure(terms, tokens, found, range(start, end), lexicon.FINDINGS, 3)
    normal = bool(clause & lexicon.NORMAL_STATE) or (question.temporal and bool(clause & lexicon.STABLE_STATE))
    if question.asked_states:  # "cardiac deviation" and "a nodule by the heart" say nothing about the heart's size
        abnormal = bool({lexicon.STATE_GROUPS.get(term) for term in clause} & question.asked_states)
    elif structure:  # the abnormal state must be the structure's own
        abnormal = on_structure or _put_on_structure(terms, tokens, found, range(start, end), lexicon.ABNORMAL_STATE, 5)
    else:
        abnormal = bool(clause & lexicon.ABNORMAL_STATE) or on_structure
    last = max(found.values())
    if structure:
        negated = _denies_abnormality(tokens, terms, start, end, last, on_structure)
    else:
        negated = is_negated(tokens, start, end, last)
    if not (normal or abnormal) and (question.asked_states or (structure and not negated)):
        return None  # the asked state, or the structure's, not said
    finding: Finding
    if negated:
        # "not normal" is abnormal; "clear, without opacity" is a negated finding beside a normal word.
        not_normal = any(
            tokens[i] in {"not", "no"} and any(t in lexicon.NORMAL_STATE for t in terms[i + 1])
            for i in range(start, end - 1)
        )
        finding = "present" if not_normal else "absent"
    elif contains_phrase(tokens, lexicon.HEDGES, start, min(end, last + _HEDGE_AFTER + 1)):
        finding = "uncertain"
    else:
        # A question that names a thing and asks no state ("Are there sternotomy wires?") is answered by a sentence
        # naming all of it in a normal state ("Sternotomy wires intact"): it is there, and looks as it should.
        named_whole = question.state is None and len(found) == len(question.content)
        finding = "absent" if normal and not abnormal and not named_whole else "present"
    return Reading(sentence, frozenset(found), finding, normal or abnormal)


def _denies_abnormality(
    tokens: list[str], terms: list[tuple[str, ...]], start: int, end: int, last: int, on_structure: bool
) -> bool:
    """NegEx for a state question about a structure: what is denied is an abnormality, not the structure. "The lungs
    are free of focal airspace disease" and "No cardiomegaly" deny one (the structure is normal), unless the clause
    affirms another ("hyperinflated lungs, no consolidation"); "absence of the pericardium with lung between the
    aorta and ..." denies the pericardium and says nothing of the lungs; "The heart is not enlarged" negates its
    state."""
    if is_negated(tokens, last, end, last):
        return True
    stated = lexicon.FINDINGS | lexicon.ABNORMAL_STATE | lexicon.NORMAL_STATE  # "not normal in size" too
    said = [is_negated(tokens, start, end, i) for i in range(start, end) if set(terms[i]) & stated]
    return any(said) and all(said) and not on_structure


def _put_on_structure(
    terms: list[tuple[str, ...]],
    tokens: list[str],
    found: dict[str, int],
    span: range,
    kind: frozenset[str],
    reach: int,
) -> bool:
    """Whether the clause puts a word of ``kind`` (a finding, an abnormal state) on the asked structure: not negated,
    within ``reach`` words of it, with no other organ named in between ("normal heart with a right lung nodule" puts
    the nodule on the lung, not the heart; "cardiac deviation ... with lung between the aorta and ..." puts the
    deviation on the heart)."""
    for i in span:
        if not set(terms[i]) & kind or is_negated(tokens, span.start, span.stop, i):
            continue
        for at in found.values():
            between = range(min(i, at) + 1, max(i, at))
            if abs(i - at) <= reach and not any(set(terms[j]) & lexicon.ORGANS for j in between):
                return True
    return False


def _elsewhere(question: ClosedQuestion, clause: set[str], clause_words: list[str], sentence: list[str]) -> bool:
    """Whether the mention is placed in another organ, another body region, or on the other side, than the question
    asks about. A clause that names no region is placed by its sentence ("Expansile mass which extends from the
    calvarium" is about the head)."""
    places = regions_in(" ".join(clause_words)) or regions_in(" ".join(sentence))
    asked_organs = _organs(set(question.content), question.regions)
    organs = _organs(clause, places)
    if asked_organs and organs and not asked_organs & organs:
        return True
    if not compatible(question.regions, places):
        return True
    sides = set(clause_words) & lexicon.SIDES
    return bool(question.sides and sides and not question.sides & sides)


def _organs(terms: set[str], regions: frozenset[str]) -> set[str]:
    """The organs among canonical terms. "Lobe" reads as the lung (lexicon), unless the words place it elsewhere
    ("hepatic lobe", "temporal lobe": a region other than the chest and no lung word)."""
    organs = terms & lexicon.ORGANS
    if _LUNG in organs and regions and "chest" not in regions:
        organs.discard(_LUNG)
    return organs


_LUNG = stem("lung")


def is_complete(report: str) -> bool:
    """Whether a report reads as a complete study description (rule 5 of the module docstring)."""
    if _SECTION.search(report):
        return True
    text = " ".join(words(report))
    if any(phrase in text for phrase in lexicon.GLOBAL_NORMAL):
        return True
    terms = {term for token in words(report) for term in canonical(token)}
    return sum(bool(system & terms) for system in lexicon.SYSTEMS) >= 2


def read_report(report: str, question: ClosedQuestion) -> Reading | None:
    """The deciding mention in one report (rule 3), or None when the report does not mention the finding."""
    readings = [r for s in sentences(report) if (r := read_sentence(s, question)) is not None]
    if not readings:
        return None
    wants_state = question.state is not None
    return max(readings, key=lambda r: (r.matched, wants_state and r.states, _ORDER[r.finding]))


def answer_from(finding: Finding, question: ClosedQuestion, hedged: str) -> bool | None:
    """Yes (True), no (False) or abstain (None) from what the report says about the finding (rules 4 and 6)."""
    if finding == "uncertain":
        if hedged == "abstain":
            return None
        finding = "present" if hedged == "yes" else "absent"
    says_yes = (finding == "present") != (question.state == "normal")
    return says_yes != question.negated
