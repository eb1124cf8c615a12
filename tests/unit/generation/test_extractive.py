from __future__ import annotations

import pytest

from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.generation.extractive import UNKNOWN, ExtractiveGenerator, answer_closed, answer_open, finding_terms
from mmedrag.generation.negation import find_mention, sentences, stem
from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Hit, Query, Record, Reference


def refs(*texts: str) -> list[Reference]:
    return [Reference(number=i, record_id=f"r{i}", text=t, score=1.0) for i, t in enumerate(texts, 1)]


@pytest.mark.parametrize(
    ("sentence", "terms", "negated"),
    [
        ("No pleural effusion or pneumothorax.", ["pneumothorax"], True),
        ("There is a small left pleural effusion.", ["effusion"], False),
        ("The lungs are free of focal airspace disease.", ["lung", "airspace"], True),
        ("Pneumothorax is not seen.", ["pneumothorax"], True),
        ("There is no change in the pneumothorax.", ["pneumothorax"], False),  # pseudo-negation
        ("No acute fracture, but there is a rib lesion.", ["lesion"], False),  # "but" ends the negation's scope
        ("Effusion has resolved.", ["effusion"], True),
    ],
)
def test_negex_polarity(sentence: str, terms: list[str], negated: bool) -> None:
    mention = find_mention(sentence, [stem(t) for t in terms], len(terms))
    assert mention is not None and mention.negated is negated


@pytest.mark.parametrize(
    ("question", "report", "expected"),
    [
        ("Is there a pleural effusion?", "No pleural effusion or pneumothorax.", "no"),
        ("Is there a pleural effusion?", "Small left pleural effusions are noted.", "yes"),
        ("Is the heart enlarged?", "The heart is normal in size.", "no"),
        ("Is the heart enlarged?", "Mild cardiomegaly.", "yes"),
        ("Is the cardiomediastinal silhouette abnormal?", "The cardiomediastinal silhouette is normal.", "no"),
        ("Is there evidence of an aortic aneurysm?", "Aneurysm of the descending aorta.", "yes"),
        ("Is there no pneumothorax?", "No pneumothorax.", "yes"),
        ("Is there a pneumothorax?", "Heart size is normal.", None),
        # Clinical derivations meet: the adjective in the report, the noun in the question, or the reverse.
        ("Is there scoliosis?", "Mild scoliotic curvature of the spine.", "yes"),
        ("Is the liver parenchyma homogeneous?", "The liver parenchyma is homogenous.", "yes"),
        # A specific state is answered by that state or a normal one, not by another state of the same structure.
        ("Is the heart enlarged?", "Left sided cardiac deviation.", None),
        ("Is the heart enlarged?", "The heart is small.", None),
        ("Is there cardiomegaly?", "Pericardial soft tissue surrounding the heart.", None),
        ("Is the heart enlarged?", "Heart is large, lungs are clear.", "yes"),
        ("Is the heart enlarged?", "Normal heart size, with a nodule by the left heart border.", "no"),
        ("Is the mediastinum widened?", "The mediastinum is prominent.", "yes"),
        ("Is the heart abnormal?", "Left sided cardiac deviation.", "yes"),
        # A hedge after the finding scopes only over what is close to it.
        (
            "Is the heart enlarged?",
            "Normal heart size with pericardial calcifications and question of mild pulmonary venous engorgement.",
            "no",
        ),
        # A structure's state is what the clause affirms or denies on it, not a negation of the structure itself.
        ("Are the lungs clear?", "The lungs are free of focal airspace disease.", "yes"),
        ("Are the lungs clear?", "Lungs without focal consolidation.", "yes"),
        ("Are the lungs normal?", "Hyperinflated lungs, no focal consolidation.", "no"),
        ("Is the heart normal?", "No cardiomegaly.", "yes"),
        ("Are the lungs clear?", "Absence of the pericardium with lung between the aorta and pulmonary artery.", None),
        ("Are the lungs normal?", "The lungs are mildly hyperexpanded.", "no"),
        ("Does the patient have any acute abnormalities in the lungs?", "The lungs show no acute abnormality.", "no"),
    ],
)
def test_closed_answers_read_the_finding_and_its_negation(question: str, report: str, expected: str | None) -> None:
    text, trace = answer_closed(question, refs(report))
    assert parse_yes_no(text) == expected
    if expected is None:
        assert text == UNKNOWN and trace["votes"] == []
    else:
        assert "Reference [1]" in text


def test_a_state_put_on_another_structure_does_not_answer() -> None:
    from mmedrag.generation.closed_reading import parse_question, read_sentence

    # Another patient's CT, retrieved for a chest film: the deviation is the heart's, the lung is only named.
    sentence = (
        "Axial CT images demonstrate left sided cardiac deviation with rotational component and absence of left "
        "sided pericardium with interposition of lung between aorta and left main pulmonary artery."
    )
    assert read_sentence(sentence, parse_question("Are the lungs clear?")) is None
    assert read_sentence(sentence, parse_question("Is the heart abnormal?")) is not None


def test_better_ranked_references_outvote_a_single_lower_one() -> None:
    text, trace = answer_closed(
        "Is there a pleural effusion?", refs("Large pleural effusion.", "No pleural effusion.", "Heart normal.")
    )
    assert parse_yes_no(text) == "yes" and len(trace["votes"]) == 2
    tied, _ = answer_closed("Is there a pleural effusion?", refs("Heart normal.", "No pleural effusion."))
    assert parse_yes_no(tied) == "no"


def test_question_terms_drop_the_framing_words() -> None:
    assert finding_terms("Is there evidence of a pleural effusion on the chest X-ray?") == (
        ["pleur", "effusion"],
        False,
    )


def test_open_question_returns_the_best_covering_sentence() -> None:
    text, _ = answer_open(
        "Where is the ring-enhancing lesion?",
        refs("Normal ventricles. Ring-enhancing lesion in the right frontal lobe.", "No lesion."),
    )
    assert text.startswith("Ring-enhancing lesion in the right frontal lobe.")
    assert answer_open("What is the cup to disc ratio?", refs("Lungs clear."))[0] == UNKNOWN


def test_sentence_splitting() -> None:
    assert sentences("A. B; C\nD? ") == ["A.", "B;", "C", "D?"]


def test_generator_routes_by_task_and_abstains_without_references() -> None:
    context = Context(hits=(Hit(Record(id="c1", text="Mild cardiomegaly. Lungs clear."), 0.8, 1),))
    builder, generator = PromptBuilder(), ExtractiveGenerator()
    prompts = [
        builder.build(Query(text="Is there cardiomegaly?"), context, "radiology"),
        builder.build(Query(text=""), context, "radiology"),
        builder.build(Query(text="Is there cardiomegaly?"), Context(), "radiology"),
    ]
    closed, report, silent = generator.generate(prompts)
    assert closed.text.startswith("Yes.") and report.text == "Mild cardiomegaly. Lungs clear."
    assert silent.text == UNKNOWN and closed.prompt_tokens > silent.prompt_tokens > 0
