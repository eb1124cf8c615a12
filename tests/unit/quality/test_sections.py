from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mmedrag.quality.sections import drop_prior_references, mark_prior_references, parse_sections, split_sentences

IU_FIELDS = ("indication", "comparison", "findings", "impression")


def test_iu_xray_fields_joined_on_one_line_split_back() -> None:
    text = (
        "INDICATION: XXXX-year-old male, chest pain. COMPARISON: Chest radiographs XXXX. FINDINGS: The "
        "cardiomediastinal silhouette is within normal limits. IMPRESSION: No acute cardiopulmonary process."
    )
    assert parse_sections(text) == {
        "indication": "XXXX-year-old male, chest pain.",
        "comparison": "Chest radiographs XXXX.",
        "findings": "The cardiomediastinal silhouette is within normal limits.",
        "impression": "No acute cardiopulmonary process.",
    }


def test_headers_on_their_own_line_any_case_with_or_without_colon() -> None:
    text = (
        "CHEST PA AND LATERAL\n"
        "Clinical History:\nCough.\n"
        "Technique: Two views.\n"
        "findings\nThe lungs are clear.\nNo effusion.\n"
        "Impression\nNormal chest.\n"
        "Conclusion: No change needed.\n"
    )
    assert parse_sections(text) == {
        "preamble": "CHEST PA AND LATERAL",
        "history": "Cough.",
        "technique": "Two views.",
        "findings": "The lungs are clear. No effusion.",
        "impression": "Normal chest. No change needed.",  # a repeated section is joined
    }


def test_text_without_headers_is_all_findings_and_prose_mentions_are_not_headers() -> None:
    assert parse_sections("The lungs are clear.\nNo effusion.") == {"findings": "The lungs are clear. No effusion."}
    assert parse_sections("the findings: are subtle; impression is of edema") == {
        "findings": "the findings: are subtle; impression is of edema"
    }
    assert parse_sections("   \n") == {}


def test_medpix_text_keeps_caption_as_preamble_and_diagnosis() -> None:
    text = "Axial CT shows a mass.\nFindings: Large right renal mass.\nDiagnosis: Renal cell carcinoma"
    assert parse_sections(text) == {
        "preamble": "Axial CT shows a mass.",
        "findings": "Large right renal mass.",
        "diagnosis": "Renal cell carcinoma",
    }


def test_sentences_split_at_ends_but_not_at_titles_or_decimals() -> None:
    text = "Discussed with Dr. Smith today. A 3.5 cm mass is seen!\nNo effusion"
    assert split_sentences(text) == ["Discussed with Dr. Smith today.", "A 3.5 cm mass is seen!", "No effusion"]


@pytest.mark.parametrize(
    ("sentence", "trigger"),
    [
        ("Heart size is normal compared with the prior study.", "compared with"),
        ("Compared to the previous radiograph, the effusion has decreased.", "Compared to"),
        ("Stable calcified granuloma in the right upper lobe.", "Stable"),
        ("The left effusion is unchanged.", "unchanged"),
        ("Cardiomegaly is again seen.", "again seen"),
        ("Interval placement of a right PICC.", "Interval"),
        ("The previously described nodule is not seen.", "previously"),
        ("No change since the last exam.", "No change"),
        ("No significant interval change.", "No significant interval change"),
        ("Atelectasis has improved since the prior.", "improved"),
        ("Persistent right basilar opacity.", "Persistent"),
        ("Redemonstration of a left pneumothorax.", "Redemonstration"),
        ("The nodule has increased in size.", "increased in size"),
        ("No new focal consolidation.", "new"),
    ],
)
def test_prior_referring_sentences_are_marked_with_their_trigger(sentence: str, trigger: str) -> None:
    [mark] = mark_prior_references(sentence)
    assert mark.refers_to_prior and mark.trigger == trigger and mark.sentence == sentence


@pytest.mark.parametrize(
    "sentence",
    [
        "No pleural effusion or pneumothorax.",
        "Calcified granulomas, sequela of prior granulomatous disease.",  # patient history, visible on this image
        "High-resolution CT is recommended.",
        "Degenerative changes of the thoracic spine.",
        "The patient is hemodynamically stable.",
        "Old healed rib fractures on the left.",
    ],
)
def test_sentences_about_this_image_are_not_marked(sentence: str) -> None:
    assert [mark.refers_to_prior for mark in mark_prior_references(sentence)] == [False]


def test_drop_prior_references_keeps_other_sentences_and_lines() -> None:
    text = (
        "FINDINGS:\nThe lungs are clear. Heart size is unchanged.\nStable granuloma.\n\nIMPRESSION:\nNo acute disease."
    )
    assert drop_prior_references(text) == "FINDINGS:\nThe lungs are clear.\n\nIMPRESSION:\nNo acute disease."


@pytest.mark.data
def test_iu_xray_reports_round_trip_through_section_parsing(shared_data: Path) -> None:
    rows = [json.loads(line) for line in (shared_data / "iu_xray_reports" / "reports.jsonl").open(encoding="utf-8")]
    headed = re.compile(r"\b(?:INDICATION|COMPARISON|FINDINGS|IMPRESSION)\s*:")
    mismatched, quirks, marked = [], 0, 0
    for row in rows:
        text = " ".join(f"{key.upper()}: {row[key]}" for key in IU_FIELDS if row[key])
        sections = parse_sections(text)
        if any(headed.search(row[key]) for key in IU_FIELDS):
            quirks += 1  # the source field carries its own header, or a second report: not a round trip
        elif any(sections.get(key, "") != " ".join(row[key].split()) for key in IU_FIELDS):
            mismatched.append(row["uid"])
        marked += any(mark.refers_to_prior for mark in mark_prior_references(f"{row['findings']} {row['impression']}"))
    assert len(rows) == 3955 and mismatched == [] and quirks <= 12
    assert 0.15 < marked / len(rows) < 0.4  # about a quarter of IU-Xray reports compare with an earlier study
