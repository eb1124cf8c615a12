"""How well the references support an answer: the evidence grade and the raw confidence, for every generator.

The references are read with the closed-question rules of :mod:`mmedrag.generation.closed_reading`. Each reference
votes yes or no; the votes fall in four tiers, strongest first, and the first tier that holds any vote decides:

1. a sentence of the query's *own* report (same study or patient) that names the finding -> ``supported``;
2. the silence of the query's own report when it reads as complete -> ``inferred`` (the CheXpert labeler's
   convention, Irvin et al., AAAI 2019: radiologists list what is present and summarise the rest as normal);
3. a sentence of a similar case's report that names the finding -> ``supported`` (``weak`` when such sentences
   disagree, or when the deciding one names only part of what is asked: "lobulated lesion" for "Is the lesion
   wedge-shaped?");
4. the silence of similar cases' reports -> at most ``weak``: another patient's report says nothing about this one.

Within the deciding tier the references vote with weight 1/rank; the raw confidence is the agreeing share of that
weight with one pseudo-vote each way (Laplace), so that a lone reference never reads as certainty before the
pipeline's calibrator (:mod:`mmedrag.calibration.confidence`, keyed by the tier) maps it to a probability.

A generator other than the extractive answerer (a VLM) is graded by the same reading: its answer is
``supported``/``inferred`` when the deciding tier agrees with it and ``weak`` otherwise (no reference states it, or
one contradicts it). Open questions and report requests are ``supported`` only by the query's own report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mmedrag.generation.closed_reading import (
    ClosedQuestion,
    answer_from,
    is_complete,
    parse_question,
    read_report,
)
from mmedrag.generation.lexicon import is_frame
from mmedrag.generation.negation import words
from mmedrag.generation.prompts import understood
from mmedrag.types import UNKNOWN, Generation, Grade, Prompt, Reference

WEAK_POLICIES = ("abstain", "lean")
Tier = Literal["own_sentence", "own_silence", "similar_sentence", "similar_silence"]
_TIER_GRADE: dict[Tier, Grade] = {
    "own_sentence": "supported",
    "own_silence": "inferred",
    "similar_sentence": "supported",
    "similar_silence": "weak",
}


@dataclass(frozen=True)
class Evidence:
    """What the references say about a closed question: the leaning answer, its grade, and why."""

    answer: bool | None  # True yes, False no, None: nothing to go on (or a tie)
    grade: Grade
    share: float | None  # agreeing share of the deciding tier's weight, Laplace-smoothed
    tier: Tier | None = None
    support: dict[str, Any] | None = None  # the deciding vote: reference number, id, sentence, rule
    votes: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def asked_phrase(question: str) -> str:
    """The words of a question that name what is asked ("pleural effusion"), for notes a person reads."""
    kept = [w for w in words(question) if not is_frame(w) and w not in {"no", "not", "xxxx"} and len(w) > 1]
    return " ".join(kept) or "it"


def _vote(reference: Reference, question: ClosedQuestion, unmentioned: str, hedged: str) -> dict[str, Any] | None:
    """One reference's vote with its tier; None when the reference is silent (or an incomplete one)."""
    reading = read_report(reference.text, question)
    vote: dict[str, Any]
    if reading is not None:
        says_yes = answer_from(reading.finding, question, hedged)
        rule = "hedged" if reading.finding == "uncertain" else "sentence"
        tier: Tier = "own_sentence" if reference.own else "similar_sentence"
        vote = {
            "sentence": reading.sentence,
            "finding": reading.finding,
            "rule": rule,
            "whole": reading.states_all_asked(question),
        }
    elif unmentioned == "absent_if_complete" and is_complete(reference.text):
        says_yes = answer_from("absent", question, hedged)
        tier = "own_silence" if reference.own else "similar_silence"
        rule = "unmentioned_in_own_report" if reference.own else "unmentioned_in_similar_case"
        vote = {"sentence": None, "finding": "absent", "rule": rule}
    else:
        return None
    if says_yes is None:
        return None
    return {"reference": reference.number, "id": reference.record_id, "yes": says_yes, "tier": tier, **vote}


def closed_evidence(
    question: str, references: Sequence[Reference], unmentioned: str = "absent_if_complete", hedged: str = "yes"
) -> Evidence:
    """The references' answer to a yes/no question, graded (see the module docstring for the tiers)."""
    parsed = parse_question(question)
    phrase = asked_phrase(question)
    if not parsed.content:
        return Evidence(None, "abstained", None, note="The question names no finding the references could speak to.")
    votes = [v for r in references if (v := _vote(r, parsed, unmentioned, hedged))]
    for tier in _TIER_GRADE:
        deciding = [v for v in votes if v["tier"] == tier]
        if deciding:
            break
    else:
        note = f'No reference mentions "{phrase}".' if references else "No reference was given."
        return Evidence(None, "abstained", None, votes=votes, note=note)
    weight_yes = sum(1.0 / v["reference"] for v in deciding if v["yes"])
    weight_no = sum(1.0 / v["reference"] for v in deciding if not v["yes"])
    if weight_yes == weight_no:
        return Evidence(None, "abstained", 0.5, tier, votes=votes, note=f'The references disagree about "{phrase}".')
    answer = weight_yes > weight_no
    share = (max(weight_yes, weight_no) + 1.0) / (weight_yes + weight_no + 2.0)
    unanimous = min(weight_yes, weight_no) == 0
    support = next(v for v in deciding if v["yes"] == answer)
    grade = _TIER_GRADE[tier]
    if tier == "similar_sentence" and not unanimous:
        grade = "weak"
        note = f'Similar cases disagree about "{phrase}"; the best-ranked ones lean {"yes" if answer else "no"}.'
    elif tier == "similar_sentence" and not support["whole"]:
        # Another patient's sentence that names only part of the question ("lobulated lesion" for "Is the lesion
        # wedge-shaped?") does not state the answer: the reading rules accept half the terms, the grade does not.
        grade = "weak"
        note = (
            f"Reference [{support['reference']}] (a similar case, another patient's report) mentions only part of "
            f'"{phrase}", so it does not answer: "{support["sentence"]}"'
        )
    elif tier == "similar_silence":
        cited = ", ".join(f"[{v['reference']}]" for v in deciding)
        note = (
            f'Similar cases {cited} do not mention "{phrase}"; another patient\'s silence says nothing about this one.'
        )
    elif tier == "own_silence":
        note = f'This study\'s own report [{support["reference"]}] does not mention "{phrase}" and reads as complete.'
    else:
        whose = "this study's own report" if tier == "own_sentence" else "a similar case, another patient's report"
        note = f'Reference [{support["reference"]}] ({whose}) states: "{support["sentence"]}"'
    return Evidence(answer, grade, share, tier, support, votes, note)


@dataclass(frozen=True)
class Verdict:
    """The grade of one generated answer, its raw confidence, and the sentence a reader sees.

    A generator that reads its own references (the extractive answerer) puts its verdict in ``Generation.meta``
    under ``"evidence"`` (:meth:`to_meta`); every other answer is graded by :func:`grade_generation`.
    """

    grade: Grade
    raw_confidence: float | None
    note: str
    answer: bool | None = None  # the yes/no the answer gives (closed questions)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """What the confidence is calibrated per: the evidence tier that decided, else the grade. A grade below the
        tier's own ("weak" from similar cases' sentences that disagree, name only part of the question, or that a
        VLM's answer contradicts) is its own group: such answers are right less often than those the tier supports.
        """
        tier = self.evidence.get("tier")
        if not tier:
            return str(self.grade)
        return tier if self.grade == _TIER_GRADE[tier] else f"{tier}/{self.grade}"

    def to_meta(self) -> dict[str, Any]:
        support = self.evidence.get("support") or {}
        return {
            "grade": self.grade,
            "share": self.raw_confidence,
            "note": self.note,
            "answer": self.answer,
            "tier": self.evidence.get("tier"),
            "reference": support.get("reference"),
            "sentence": support.get("sentence"),
        }


def evidence_verdict(evidence: Evidence) -> Verdict:
    """The verdict on the references' own answer (what the extractive answerer says)."""
    trace = {"tier": evidence.tier, "share": evidence.share, "support": evidence.support}
    return Verdict(evidence.grade, evidence.share, evidence.note, evidence.answer, trace)


def _label(text: str) -> bool | None:
    """Yes/no from an answer's first word ("Yes.", "no, ..."); None when it gives neither."""
    tokens = words(text)
    first = tokens[0] if tokens else ""
    return True if first == "yes" else False if first == "no" else None


def grade_generation(prompt: Prompt, generation: Generation) -> Verdict:
    """Grade a generator's answer against the prompt's references (see the module docstring)."""
    own = generation.meta.get("evidence")
    if isinstance(own, dict):
        return Verdict(own["grade"], own.get("share"), str(own.get("note") or ""), own.get("answer"), dict(own))
    if generation.text.strip().lower().rstrip(".") == UNKNOWN:
        return Verdict("abstained", None, "The generator declined to answer.")
    if prompt.task != "closed":
        return free_text_verdict(prompt, None, generation.confidence)
    return _grade_closed(prompt, generation)


def _grade_closed(prompt: Prompt, generation: Generation) -> Verdict:
    """A generator's yes/no graded by whether the references' deciding tier states the same answer."""
    evidence = closed_evidence(understood(prompt), prompt.references)
    trace = {"tier": evidence.tier, "share": evidence.share, "support": evidence.support}
    answer = _label(generation.text)
    raw = generation.confidence
    if raw is None and generation.yes_probability is not None and answer is not None:
        raw = generation.yes_probability if answer else 1.0 - generation.yes_probability
    if answer is None:
        return Verdict("weak", raw, "The answer gives neither yes nor no.", None, trace)
    if evidence.answer is None or evidence.grade == "weak":
        note = "No reference states it: the answer is the model's own reading of the image. " + evidence.note
        return Verdict("weak", raw, note.strip(), answer, trace)
    if evidence.answer != answer:
        return Verdict("weak", raw, f"The answer contradicts the references. {evidence.note}", answer, trace)
    return Verdict(evidence.grade, raw, evidence.note, answer, trace)


def free_text_verdict(prompt: Prompt, quoted: str | None, raw: float | None = None) -> Verdict:
    """Open answers and reports: only the query's own report supports them; similar cases' text is weak.

    Args:
        quoted: the record id of the reference the answer quotes (the extractive answerer knows it).
    """
    if quoted and any(r.own and r.record_id == quoted for r in prompt.references):
        return Verdict("supported", raw, "Quoted from this study's own report.")
    what = "Drafted from" if prompt.task == "report" else "Taken from"
    if prompt.references:
        note = f"{what} similar cases' reports, not this image's own: check it against the image."
    else:
        note = "No reference was used: the answer is the model's own reading of the image."
    return Verdict("weak", raw, note)
