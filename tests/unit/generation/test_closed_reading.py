"""Table-driven tests of the extractive answerer's written rules (hand-written sentences, not benchmark text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.errors import ConfigError
from mmedrag.evaluation.alignment_questions import load_alignment_questions
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.generation.closed_reading import is_complete, parse_question, same_word
from mmedrag.generation.extractive import UNKNOWN, ClosedPolicy, ExtractiveGenerator, answer_closed
from mmedrag.types import Reference

COMPLETE = "Heart size is normal. The lungs are clear. No pleural effusion or pneumothorax. Bones are intact."


def refs(*texts: str, own: bool = True) -> list[Reference]:
    """References of the query's own study (the gold-report setting the reading rules are written for)."""
    return [Reference(number=i, record_id=f"r{i}", text=t, score=1.0, own=own) for i, t in enumerate(texts, 1)]


def ask(question: str, *reports: str, **policy: str) -> tuple[str | None, dict]:
    text, trace = answer_closed(question, refs(*reports), ClosedPolicy(**policy))
    return parse_yes_no(text), trace


@pytest.mark.parametrize(
    ("question", "report", "expected", "rule"),
    [
        # asked state "abnormal" against a normal statement, and the reverse
        ("Is the mediastinal contour remarkable?", "Mediastinal contour is unremarkable.", "no", "sentence"),
        (
            "Are the bony structures abnormal?",
            "Old fracture of the left clavicle. Bones otherwise normal.",
            "no",
            "sentence",
        ),
        ("Is the trachea deviated?", "The trachea is midline.", "no", "sentence"),
        (
            "Is the pulmonary vascularity outside normal limits?",
            "Pulmonary vascularity within normal limits.",
            "no",
            "sentence",
        ),
        ("Are the lungs clear?", "The lungs are clear.", "yes", "sentence"),
        # a finding put on the asked structure makes it abnormal, whatever else the sentence calls normal
        (
            "Are the lungs normal?",
            "Total right lung opacification and pericardial mass surounding normal sized heart.",
            "no",
            "sentence",
        ),
        ("Are the lungs normal?", "The lungs are clear without focal consolidation or effusion.", "yes", "sentence"),
        ("Is the heart normal?", "Normal heart size with a right lung nodule.", "yes", "sentence"),
        ("Is the heart size normal?", "The heart is not normal in size.", "no", "sentence"),
        # a negated finding beside a normal word stays negated
        (
            "Is there any focal airspace opacity?",
            "The lungs are clear, without focal airspace opacity.",
            "no",
            "sentence",
        ),
        # synonyms and compounds (lexicon), both directions
        ("Is there cardiomegaly?", "The cardiac silhouette is enlarged.", "yes", "sentence"),
        ("Is the heart enlarged?", "Mild cardiomegaly.", "yes", "sentence"),
        ("Is there cardiomegaly?", "Heart size is normal.", "no", "sentence"),
        ("Is there pleural fluid?", "Small left effusion.", "yes", "sentence"),
        ("Are the osseous structures intact?", "The bony structures are intact.", "yes", "sentence"),
        # word families the stemmer misses
        ("Is there atherosclerosis of the aorta?", "The aorta is atherosclerotic.", "yes", "sentence"),
        ("Is the right hemidiaphragm elevated?", "Mild elevation of the right hemidiaphragm.", "yes", "sentence"),
        # hedges are read as present by default (U-Ones)
        ("Is there atelectasis?", "Basilar opacity may represent atelectasis.", "yes", "hedged"),
        ("Is there pneumonia?", "Pneumonia cannot be excluded.", "yes", "hedged"),
        ("Is there a nodule?", "Possible nodule in the right upper lobe.", "yes", "hedged"),
        # temporal questions read "stable" as no change
        ("Has the granuloma changed since the prior study?", "Stable calcified granuloma.", "no", "sentence"),
        (
            "Are there degenerative changes of the spine?",
            "Stable degenerative changes of the spine.",
            "yes",
            "sentence",
        ),
        # a sentence naming only the place does not answer about a finding there
        (
            "Is there a fracture of the ribs?",
            COMPLETE + " Ribs are seen.",
            "no",
            "unmentioned_in_own_report",
        ),
        # unmentioned finding in a complete report: absent; for a "normal" question: normal
        (
            "Is there a pneumothorax?",
            "Heart normal. Lungs clear. Bones intact.",
            "no",
            "unmentioned_in_own_report",
        ),
        ("Is the aorta normal?", COMPLETE, "yes", "unmentioned_in_own_report"),
        ("Is there a mass?", "FINDINGS: Left effusion.", "no", "unmentioned_in_own_report"),
        ("Is there a mass?", "No acute cardiopulmonary abnormality.", "no", "unmentioned_in_own_report"),
        # states are read in the finding's own comma part when it names one, else in the whole clause
        (
            "Is the pulmonary vascularity abnormal?",
            "Heart is enlarged, pulmonary vascularity is normal.",
            "no",
            "sentence",
        ),
        ("Are the bones abnormal?", "The heart, lungs and bones are normal.", "no", "sentence"),
        # a finding in another organ or on the other side is not the asked one
        (
            "Is there a mass in the liver?",
            COMPLETE + " Mass in the right lower lobe.",
            "no",
            "unmentioned_in_own_report",
        ),
        (
            "Is there an opacity in the left lung?",
            COMPLETE + " Right lower lung opacity.",
            "no",
            "unmentioned_in_own_report",
        ),
        ("Is there an opacity in the right lung?", COMPLETE + " Right lower lung opacity.", "yes", "sentence"),
        (
            "Is there a nodule in the right apex?",
            "Nodule in the right apex, projecting over the third rib.",
            "yes",
            "sentence",
        ),
        # negated question flips
        ("Is there no pneumothorax?", "No pneumothorax.", "yes", "sentence"),
        # framing words in any inflection ("looking", "suggested"); "history of" frames
        ("Are the lungs looking hyperinflated?", "The lungs are mildly hyperinflated.", "yes", "sentence"),
        ("Is a history of appendectomy suggested?", COMPLETE + " Prior appendectomy clips.", "yes", "sentence"),
        # a thing asked by name alone, named whole in a normal state, is there; a finding beside it is not
        ("Are there sternotomy wires?", "Sternotomy wires are intact.", "yes", "sentence"),
        ("Is the sternotomy wire fractured?", "Sternotomy wires are intact.", "no", "sentence"),
        ("Is the cardiac silhouette visible?", "Normal cardiac silhouette.", "yes", "sentence"),
        ("Is the cardiac silhouette enlarged?", "Normal cardiac silhouette.", "no", "sentence"),
        # an asked attribute of a finding must be stated with it
        ("Is the mass calcified?", "Calcified mass in the right lower lobe.", "yes", "sentence"),
        ("Is the mass calcified?", COMPLETE + " Mass in the right lower lobe.", "no", "unmentioned_in_own_report"),
        # a spelled-out initialism matches either spelling in the report, and no more than that
        ("Is there chronic obstructive pulmonary disease (COPD)?", "Changes of COPD.", "yes", "sentence"),
        (
            "Is there COPD (chronic obstructive pulmonary disease)?",
            "Chronic obstructive pulmonary disease.",
            "yes",
            "sentence",
        ),
        ("Is there chronic obstructive pulmonary disease (COPD)?", COMPLETE, "no", "unmentioned_in_own_report"),
    ],
)
def test_rules(question: str, report: str, expected: str, rule: str) -> None:
    answer, trace = ask(question, report)
    assert answer == expected, trace
    assert trace["rule"] == rule


@pytest.mark.parametrize(
    ("policy", "expected"),
    [({"hedged": "yes"}, "yes"), ({"hedged": "no"}, "no"), ({"hedged": "abstain"}, None)],
)
def test_hedge_policy(policy: dict[str, str], expected: str | None) -> None:
    assert ask("Is there atelectasis?", "Opacity, likely atelectasis.", **policy)[0] == expected


def test_unmentioned_policy_abstain_and_incomplete_reports() -> None:
    assert ask("Is there a pneumothorax?", COMPLETE + " Mild scoliosis.", unmentioned="abstain")[0] == "no"  # stated
    assert ask("Is there a mass?", COMPLETE, unmentioned="abstain") == (
        None,
        ask("Is there a mass?", COMPLETE, unmentioned="abstain")[1],
    )
    # an image caption is not a complete study description: no guess
    answer, trace = ask("Is there a mass?", "Axial CT of the abdomen, contrast enhanced.")
    assert answer is None and trace["rule"] == "silent"


def test_a_named_finding_in_a_lower_reference_outvotes_an_unmentioned_one() -> None:
    answer, trace = ask("Is there a nodule?", COMPLETE, "Nodule in the right lung.")
    assert answer == "yes" and trace["decided_by"] == 2


@pytest.mark.parametrize(
    ("report", "complete"),
    [
        ("FINDINGS: heart size normal.", True),
        ("IMPRESSION: No acute disease.", True),
        ("No acute cardiopulmonary process.", True),
        ("Heart size normal. Lungs are clear.", True),
        ("Heart size normal.", False),
        ("Axial T2 image of the brain.", False),
    ],
)
def test_completeness(report: str, complete: bool) -> None:
    assert is_complete(report) is complete


def test_question_parsing_and_word_families() -> None:
    parsed = parse_question("Is the mediastinal contour remarkable on the chest X-ray?")
    assert parsed.state == "abnormal" and "mediastinum" in parsed.content and not parsed.temporal
    assert parse_question("Are the lungs clear?").state == "normal"
    assert same_word("calcifi", "calcification") and not same_word("pneumothorax", "pneumonia")


def test_policy_is_validated_and_reaches_the_generator() -> None:
    with pytest.raises(ConfigError, match="unmentioned"):
        ExtractiveGenerator(unmentioned="guess")
    with pytest.raises(ConfigError, match="hedged"):
        ClosedPolicy(hedged="maybe")
    assert ExtractiveGenerator(unmentioned="abstain").policy.unmentioned == "abstain"
    from mmedrag.generation.base import create_generator

    spec = {"kind": "extractive", "unmentioned": "abstain", "hedged": "no"}  # what a config's `generator:` holds
    assert create_generator(spec).policy == ClosedPolicy(unmentioned="abstain", hedged="no")  # type: ignore[attr-defined]
    assert answer_closed("Is the chest normal?", refs(COMPLETE))[0] == UNKNOWN  # no finding terms: no guess


def test_alignment_pairs_become_labelled_dev_questions(tmp_path: Path) -> None:
    def pair(image: str, question: str, chosen: str, rejected: str) -> dict:
        human = f"... 1 reference report(s): Retrieved text.\nPlease answer ... Question: {question}\n<image>"
        return {
            "image": image,
            "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": chosen}],
            "rejected_conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": rejected}],
        }

    pairs = [
        pair("CXR1_IM-1/0.png", "Is there an effusion?", "No, there is none.", "Yes."),
        pair("CXR1_IM-1/0.png", "Is the heart normal?", "The heart looks normal.", "No, it is enlarged."),
        pair("CXR1_IM-1/0.png", "Is it ambiguous?", "Yes, clear lungs.", "Yes, clear lungs and more."),
        pair("CXR9_IM-9/0.png", "Unknown image?", "Yes.", "No."),
    ]
    (tmp_path / "rule_alignment.json").write_text(json.dumps(pairs))
    (tmp_path / "retriever_val.json").write_text(json.dumps([{"id": "CXR1_IM-1", "report": "Own report."}]))
    questions = load_alignment_questions(tmp_path / "rule_alignment.json")
    assert [(q.question, q.answer) for q in questions] == [
        ("Is there an effusion?", "no"),
        ("Is the heart normal?", "yes"),
    ]
    assert questions[0].metadata == {"gold_report": "Own report.", "reference_reports": ["Retrieved text."]}


@pytest.mark.data
def test_dev_accuracy_regression_guard(shared_data: Path) -> None:
    """A regression guard on the DEV set the rules were written on (RULE val-split questions, own report): 0.974
    when written; the floor leaves room for rule changes that trade a little here for generality."""
    questions = load_alignment_questions(shared_data / "mmed_rag_iuxray" / "rule_alignment.json")
    assert len(questions) > 1000
    correct = sum(
        parse_yes_no(answer_closed(q.question, refs(q.metadata["gold_report"]))[0]) == q.answer for q in questions
    )
    assert correct / len(questions) >= 0.95


def test_answer_cache_keys_differ_by_policy(tmp_path: Path) -> None:
    from mmedrag.generation.cache import CachedGenerator
    from mmedrag.generation.prompts import PromptBuilder
    from mmedrag.types import Context, Hit, Query, Record

    context = Context(hits=(Hit(Record(id="c1", text=COMPLETE), 0.9, 1),))
    prompt = PromptBuilder().build(Query(text="Is there a mass?"), context, "radiology")
    cache = tmp_path / "answers.sqlite"
    absent = CachedGenerator(ExtractiveGenerator(), cache).generate([prompt])[0]
    abstain = CachedGenerator(ExtractiveGenerator(unmentioned="abstain"), cache).generate([prompt])[0]
    assert parse_yes_no(absent.text) == "no" and abstain.text == UNKNOWN
