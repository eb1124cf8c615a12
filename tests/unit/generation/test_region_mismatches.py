"""The extractive reader's organ and region check on field data: a sentence about another body region than the
question asks about never decides.

Questions are VQA-RAD *train* questions, sentences MedPix 2.0 captions and case findings (both under shared/data),
and one sentence retrieved for the reported DICOM query; rules version 2 answered "yes" or "no" from each sentence.
Controls keep answering.
"""

from __future__ import annotations

import pytest

from mmedrag.generation.closed_reading import parse_question, read_sentence
from mmedrag.generation.extractive import UNKNOWN, answer_closed
from mmedrag.types import Reference

MISMATCHES = [
    # the reported case: pydicom's CT_small asked about the liver, decided by MedPix MPX2261's humerus caption
    ("Is there a mass in the liver?", "Coronal fat sat MR arthrogram\nSpace occupying mass lesion proximal humerus"),
    ("Is there a mass in the lung?", "• Enhancing plaque-like mass at base of the tongue."),
    ("Is the pleura thick?", "Additionally, there is marked thickening of the Achilles tendon."),
    (
        "Is this mass located in the liver?",
        "• MRI: T1 hypointense / T2 Hyperintense cystic cerebellar lesion with isointense mural nodule.",
    ),
    ("Are there fractures on the skull?", "L1 compression fracture with retropulsed fragment invading spinal canal."),
    (
        "is the peritoneum thickened?",
        "Sagittal T2 FatSat MR Image demonstrates increased signal and thickening of the patellar enthesis of the "
        "patellar tendon.",
    ),
    ("Is a skull fracture present?", "Fracture of left rib which follows one of the entrance tracts."),
    (
        "Is/Are the pulmonary arteries enlarged?",
        "In addition there is also a distal left common iliac artery dilation with a diameter of 1.5 cm.",
    ),
    (
        "Is there colon thickening?",
        "Axial T2 weighted MRI also showing the same coarse striations resulting from abnormally thick cerebellar "
        "folia.",
    ),
    ("Are the clavicles fractured?", "Foot: Healed fractures of the second/third metatarsals."),
    (
        "Is the gallbladder wall enhanced by contrast?",
        "Contrast enhanced axial CT images of the neck demonstrate a marked tortuosity of the right internal carotid "
        "artery just distal to the carotid bulb.",
    ),
    (
        "Is there pathology of the gallbladder?",
        "The overlying cortex is thinned, and there is a pathologic fracture of the humeral neck.",
    ),
    ("Is there fluid in the left lung?", "MR images of the left knee demonstrate a large joint effusion."),
    # retrieved for pydicom's CT_small (a MedPix index, hash encoder) and read as "Yes" by rules version 2
    (
        "Is there a mass in the liver?",
        "A heterogeneous cystic and solid lesion is seen at the right cerebellopontine angle with heterogeneous "
        "contrast enhancement of a mural nodule.",
    ),
    # the place is outside the finding's clause: the sentence places it
    (
        "Is there a skull fracture?",
        "There is also a comminuted fracture in the right posteriolateral portion of the c1 ring with a small, "
        "triangular fragment abutting, but not compromising the thecal sac.",
    ),
    (
        "Is there thickening of the gastric wall?",
        "There is enhancement of the thickened posterior wall of the left globe and adjacent retro-ocular tissues",
    ),
    (
        "Is there a mediastinal shift?",
        "The cerebral sulci and left lateral ventricle are effaced, and there is mild midline shift",
    ),
]

CONTROLS = [
    # a place one study shows with the asked one still answers
    ("Is there a nodule in the lung?", "Nodule projecting over the left humeral head.", "Yes"),
    ("Is there free air under the diaphragm?", "Free intraperitoneal air.", "Yes"),
    ("Are there degenerative changes on the chest X-ray?", "Degenerative changes of the thoracic spine.", "Yes"),
    ("Is there a fracture of the skull?", "Depressed fracture of the left parietal skull.", "Yes"),
    # "lobe" reads as the lung only where nothing places it in another organ
    ("Is there a mass in the liver?", "Large mass in the right hepatic lobe.", "Yes"),
    ("Is there a lesion in the brain?", "Ring-enhancing lesion in the right temporal lobe.", "Yes"),
    ("Is there a mass in the lung?", "Mass in the right lower lobe.", "Yes"),
    ("Is there a mass in the liver?", "Mass in the right lower lobe.", UNKNOWN),
]


@pytest.mark.parametrize(("question", "sentence"), MISMATCHES)
def test_a_sentence_about_another_region_does_not_decide(question: str, sentence: str) -> None:
    assert read_sentence(" ".join(sentence.split()), parse_question(question)) is None
    text, trace = answer_closed(question, [Reference(1, "other-case", sentence, 1.0)])
    assert text == UNKNOWN and trace["rule"] == "silent", trace


@pytest.mark.parametrize(("question", "sentence", "expected"), CONTROLS)
def test_a_sentence_about_the_asked_region_still_decides(question: str, sentence: str, expected: str) -> None:
    text, _ = answer_closed(question, [Reference(1, "case", sentence, 1.0)])
    assert text.split(".")[0] == expected
