"""Evidence grades: the query's own report may answer by its silence, similar cases' silence never does."""

from __future__ import annotations

import pytest

from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.grading import closed_evidence, grade_generation
from mmedrag.types import Generation, Prompt, Reference

COMPLETE = "FINDINGS: Heart size is normal. The lungs are clear. No pneumothorax. Bones are intact."
EFFUSION = "Large left pleural effusion with compressive atelectasis."
NO_EFFUSION = "No pleural effusion. Lungs are clear."


def ref(number: int, text: str, own: bool = False) -> Reference:
    return Reference(number=number, record_id=f"r{number}", text=text, score=1.0, own=own)


def prompt(question: str, *references: Reference, task: str = "closed") -> Prompt:
    return Prompt(messages=(), images=(), task=task, question=question, domain="radiology", references=references)


def test_own_report_silence_infers_but_similar_cases_silence_is_weak() -> None:
    own = closed_evidence("Is there a pleural effusion?", [ref(1, COMPLETE, own=True)])
    assert (own.answer, own.grade, own.tier) == (False, "inferred", "own_silence")
    similar = closed_evidence("Is there a pleural effusion?", [ref(1, COMPLETE), ref(2, COMPLETE)])
    assert (similar.answer, similar.grade, similar.tier) == (False, "weak", "similar_silence")
    assert "[1], [2]" in similar.note and "pleural effusion" in similar.note


def test_a_stated_sentence_supports_and_disagreeing_cases_are_weak() -> None:
    stated = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION), ref(2, COMPLETE)])
    assert (stated.answer, stated.grade, stated.tier) == (True, "supported", "similar_sentence")
    assert stated.support is not None and stated.support["sentence"] == EFFUSION
    split = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION), ref(2, NO_EFFUSION)])
    assert (split.answer, split.grade) == (True, "weak")  # rank 1 outweighs rank 2, but they disagree
    tie = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION, own=True), ref(1, NO_EFFUSION, own=True)])
    assert (tie.answer, tie.grade) == (None, "abstained")


def test_a_similar_case_naming_only_part_of_the_question_is_weak_and_calibrated_apart() -> None:
    from mmedrag.generation.grading import evidence_verdict

    question = "Is the lesion wedge-shaped?"
    partial = closed_evidence(question, [ref(1, "Lobulated multicystic lesion of the pancreatic head.")])
    assert (partial.answer, partial.grade, partial.tier) == (True, "weak", "similar_sentence")
    assert "part of" in partial.note
    whole = closed_evidence(question, [ref(1, "Wedge-shaped lesion at the left lung base.")])
    assert (whole.answer, whole.grade) == (True, "supported")
    assert evidence_verdict(whole).group == "similar_sentence"
    assert evidence_verdict(partial).group == "similar_sentence/weak"
    placeless = closed_evidence("Is there a pleural effusion?", [ref(1, "Follow-up study: effusion unchanged.")])
    assert (placeless.answer, placeless.grade) == (True, "supported")  # only where it is was left out
    own = closed_evidence(question, [ref(1, "Lobulated multicystic lesion of the pancreatic head.", own=True)])
    assert own.grade == "supported"  # the query's own report: the reading rules decide, as before


def test_the_own_report_outranks_similar_cases() -> None:
    evidence = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION), ref(2, COMPLETE, own=True)])
    assert (evidence.answer, evidence.grade, evidence.tier) == (False, "inferred", "own_silence")


def test_confidence_grows_with_agreement_and_a_lone_vote_is_not_certainty() -> None:
    one = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION)])
    two = closed_evidence("Is there a pleural effusion?", [ref(1, EFFUSION), ref(2, "Small right pleural effusion.")])
    assert one.share is not None and two.share is not None and 0.5 < one.share < two.share < 1.0


@pytest.mark.parametrize(
    ("answer", "references", "grade"),
    [
        ("Yes.", [ref(1, EFFUSION)], "supported"),  # agrees with a stated sentence
        ("No.", [ref(1, EFFUSION)], "weak"),  # contradicts it
        ("No.", [ref(1, COMPLETE, own=True)], "inferred"),  # agrees with the own report's silence
        ("No.", [ref(1, COMPLETE)], "weak"),  # only a similar case's silence
        ("Yes.", [], "weak"),  # the model's own reading of the image, nothing states it
        ("It is hard to say.", [ref(1, EFFUSION)], "weak"),  # neither yes nor no
        ("unknown", [ref(1, EFFUSION)], "abstained"),
    ],
)
def test_other_generators_are_graded_by_the_same_reading(answer: str, references: list, grade: str) -> None:
    verdict = grade_generation(prompt("Is there a pleural effusion?", *references), Generation(answer))
    assert verdict.grade == grade


def test_a_vlm_confidence_is_its_probability_of_the_given_answer() -> None:
    verdict = grade_generation(prompt("Is there an effusion?", ref(1, EFFUSION)), Generation("no", yes_probability=0.2))
    assert verdict.raw_confidence == pytest.approx(0.8)


def test_free_text_is_supported_only_by_the_own_report() -> None:
    generator = ExtractiveGenerator()
    question = "Where is the pleural effusion?"
    similar = generator.generate([prompt(question, ref(1, EFFUSION), task="open")])[0]
    own = generator.generate([prompt(question, ref(1, EFFUSION, own=True), task="open")])[0]
    assert grade_generation(prompt(question, ref(1, EFFUSION), task="open"), similar).grade == "weak"
    assert grade_generation(prompt(question, ref(1, EFFUSION, own=True), task="open"), own).grade == "supported"
