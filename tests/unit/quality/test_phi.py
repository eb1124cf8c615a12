from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedrag.quality.phi import (
    PLACEHOLDER,
    PhiSummary,
    iter_strings,
    redact,
    redact_record,
    scan_phi,
    summarize_phi,
)
from mmedrag.quality.phi_patterns import DIGIT_FREE, RULES
from mmedrag.types import Record
from phi_cases import CLEAN_CASES, PHI_CASES, parse


@pytest.mark.parametrize(
    ("text", "kind", "found"),
    [
        ("Outside films dated 03/04/2019 were reviewed.", "date", "03/04/2019"),
        ("Prior CT on 2019-03-04.", "date", "2019-03-04"),
        ("Admitted March 4, 2019 with cough.", "date", "March 4, 2019"),
        ("Seen on 4 Mar 2019 in clinic.", "date", "4 Mar 2019"),
        ("Symptoms since March 2019.", "date", "March 2019"),
        ("Scan 04.03.2019 unremarkable.", "date", "04.03.2019"),
        ("COMPARISON: 11/7/ XXXX FINDINGS: clear", "date", "11/7/ XXXX"),  # IU-Xray CXR366: year masked, rest not
        ("Chest x-XXXX 6/8 XXXX", "date", "6/8"),
        ("Results called at 14:32 to the ward.", "time", "14:32"),
        ("Discussed at 2:30 pm with the team.", "time", "2:30 pm"),
        ("Message left at 142 pm XXXX.", "time", "142 pm"),
        ("Call 555-123-4567 with results.", "phone", "555-123-4567"),
        ("Call (555) 123-4567 with results.", "phone", "(555) 123-4567"),
        ("Send to jane.doe@example.org today.", "email", "jane.doe@example.org"),
        ("MRN: 1234567", "id", "1234567"),
        ("Accession number A12345 pending.", "id", "A12345"),
        ("Patient 48213377 was scanned.", "id", "48213377"),
        ("SSN 123-45-6789 on file.", "id", "123-45-6789"),
        ("Findings discussed with Dr. Smith.", "name", "Smith"),
        ("Mr. John Doe arrived.", "name", "John Doe"),
        ("Reviewed by Mrs. O'Neil.", "name", "O'Neil"),
        ("A 92-year-old woman with dyspnea.", "age", "92-year-old"),
    ],
)
def test_identifiers_are_flagged_with_their_kind_and_span(text: str, kind: str, found: str) -> None:
    matches = scan_phi(text)
    assert [(m.kind, m.text) for m in matches] == [(kind, found)]
    start, end = matches[0].span
    assert text[start:end] == found and found in matches[0].snippet


@pytest.mark.parametrize(
    "text",
    [
        "A 3.5 cm mass and a 12 mm nodule; 2.5 x 3.1 cm collection.",
        "Compression fracture of T12 and disc bulge at L4-5 and C5-C6.",
        "65-year-old male with cough.",  # HIPAA Safe Harbor: ages up to 89 may stay
        "Received 1000000 units of penicillin and 500 mg amoxicillin.",
        "XXXX-year-old male. Dr. XXXX XXXX was notified at XXXX p.m. on XXXX.",  # already de-identified
        "MR imaging of the brain shows MS plaques; DR cassette used.",  # modalities, not titles
        "Mass in the lower 1/3 of the esophagus; M:F ratio 1:2.",
        "Enhancing nodule at the 12:00 position of the right breast.",
        "Cancer Invest 1999; 17:47-55. PMID: 16775270. Incidence 1:50,000.",
        "See http://www.ncbi.nlm.nih.gov/pubmed/10894122 and Fig. 1a.",
        "Symptoms may persist for 2 weeks; first seen in 2019.",  # a bare year is allowed by Safe Harbor
        "No acute cardiopulmonary abnormality. Heart size normal.",
    ],
)
def test_clinical_numbers_and_masks_are_not_flagged(text: str) -> None:
    assert scan_phi(text) == []


def test_redact_removes_every_flagged_span_and_keeps_the_clinical_text() -> None:
    text = (
        "Seen 03/04/2019 at 14:32 by Dr. Smith (555-123-4567, smith@example.org), MRN: 1234567. "
        "A 3.5 cm mass at T12; 65-year-old male."
    )
    found = scan_phi(text)
    redacted = redact(text)
    assert {m.kind for m in found} == {"date", "time", "name", "phone", "email", "id"}
    assert redacted.count(PLACEHOLDER) == len(found)
    assert all(m.text not in redacted for m in found)
    assert "Dr. [REDACTED]" in redacted and "3.5 cm mass at T12; 65-year-old male." in redacted
    assert scan_phi(redacted) == []
    assert redact(text, placeholder="***").count("***") == len(found)


def test_redact_record_counts_spans_and_leaves_clean_records_alone() -> None:
    record = Record(id="a", text="Discussed with Dr. Smith on 2019-03-04.", metadata={"k": 1})
    redacted = redact_record(record)
    assert redacted.text == "Discussed with Dr. [REDACTED] on [REDACTED]."
    assert redacted.metadata == {"k": 1, "phi_redacted": 2} and redacted.id == "a"
    clean = Record(id="b", text="Clear lungs.")
    assert redact_record(clean) is clean


def test_summary_counts_matches_and_records_per_kind_with_capped_examples() -> None:
    records = [Record(id=f"r{i}", text=f"Called Dr. Jones at 1{i}:30.") for i in range(4)]
    records.append(Record(id="clean", text="No acute disease."))
    summary = summarize_phi(records, max_examples=2)
    data = summary.to_dict()
    assert data["records_scanned"] == 5 and data["records_with_phi"] == 4
    assert data["matches"] == {"time": 4, "name": 4} and data["records"] == {"time": 4, "name": 4}
    assert [e["record_id"] for e in data["examples"]["name"]] == ["r0", "r1"]
    assert isinstance(summary, PhiSummary)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789 :/-.,XDrMsJanMay@abcpm()\n", max_size=80))
def test_matches_are_ordered_disjoint_and_redaction_keeps_the_rest(text: str) -> None:
    matches = scan_phi(text)
    kept, position = [], 0
    for match in matches:
        start, end = match.span
        assert position <= start < end <= len(text) and text[start:end] == match.text
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    assert redact(text, placeholder="\0") == "\0".join(kept)


@pytest.mark.data
def test_iu_xray_reports_leave_few_hits_and_they_are_real(shared_data: Path) -> None:
    summary = PhiSummary(max_examples=50)
    with (shared_data / "iu_xray_reports" / "reports.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            text = "\n".join(f"{key.upper()}: {report[key]}" for key in ("indication", "comparison", "findings",
                                                                         "impression") if report[key])  # fmt: skip
            summary.add(report["uid"], text)
    assert summary.records_scanned == 3955
    # The collection is de-identified with XXXX marks; what leaks through is partial dates and times.
    assert set(summary.matches) <= {"date", "time"} and sum(summary.matches.values()) <= 15
    found = {(e["record_id"], e["text"]) for examples in summary.examples.values() for e in examples}
    assert {("CXR1448", "02/010/XXXX"), ("CXR2642", "142 pm"), ("CXR642", "12:30p")} <= found


# --- the labelled set (tests/phi_cases.py): every Safe Harbor class that can occur in report text ----------------


@pytest.mark.parametrize("marked", PHI_CASES)
def test_every_labelled_identifier_is_redacted_with_its_kind(marked: str) -> None:
    text, gold = parse(marked)
    found = scan_phi(text)
    for kind, start, end in gold:
        covering = [m for m in found if m.span[0] <= start and end <= m.span[1]]
        assert [m.kind for m in covering] == [kind], (text[start:end], [(m.kind, m.text) for m in found])
    assert not [m for m in found if not any(m.span[0] < e and s < m.span[1] for _, s, e in gold)]
    redacted = redact(text)
    assert all(text[start:end] not in redacted for _, start, end in gold)


@pytest.mark.parametrize("text", CLEAN_CASES)
def test_clean_radiology_text_is_left_alone(text: str) -> None:
    assert scan_phi(text) == []
    assert redact(text) == text


def test_redaction_is_stable_on_its_own_output() -> None:
    for marked in PHI_CASES:
        once = redact(parse(marked)[0])
        assert scan_phi(once) == [], once


def test_redact_record_cleans_every_metadata_string_and_keeps_structural_ids() -> None:
    record = Record(
        id="openi:CXR9",
        text="FINDINGS: Clear lungs.",
        patient_id="p9",
        metadata={
            "findings": "Clear lungs. Discussed with Dr. SMITH on March 3, 2014.",
            "indication": "97 y.o. male, call 555-123-4567",
            "image_captions": {"CXR9_IM-1": "PA chest [REDACTED] 11/7/ [REDACTED]"},
            "notes": [{"who": "Patient name: DOE, JOHN"}, 3, None],
            "PatientID": "12345678",
            "mesh_major": ["normal"],
        },
    )
    redacted = redact_record(record)
    assert redacted.text == record.text  # the text was clean; the copy of the report in metadata was not
    meta = redacted.metadata
    assert meta["findings"] == "Clear lungs. Discussed with Dr. [REDACTED] on [REDACTED]."
    assert meta["indication"] == "[REDACTED] male, call [REDACTED]"
    assert meta["image_captions"] == {"CXR9_IM-1": "PA chest [REDACTED] [REDACTED]"}
    assert meta["notes"] == [{"who": "Patient name: [REDACTED]"}, 3, None]
    assert meta["PatientID"] == "12345678" and meta["mesh_major"] == ["normal"] and meta["phi_redacted"] == 6
    assert record.metadata["findings"].endswith("March 3, 2014.")  # the input record is not changed
    assert all(not scan_phi(value) for _, value in iter_strings(meta))


def test_summary_screens_metadata_and_names_the_field() -> None:
    summary = PhiSummary()
    summary.add("a", "Clear lungs.", {"impression": "Call Dr. Jones.", "nested": {"list": ["MRN: 1234567"]}})
    summary.add("b", "Clear lungs.", {"impression": "Normal."})
    data = summary.to_dict()
    assert summary.found and data["records_with_phi"] == 1 and data["records_scanned"] == 2
    assert data["fields"] == {"impression": 1, "nested.list[0]": 1} and data["matches"] == {"name": 1, "id": 1}
    assert data["examples"]["id"][0] == {"record_id": "a", "field": "nested.list[0]", "text": "1234567",
                                         "snippet": "MRN: 1234567"}  # fmt: skip
    assert not PhiSummary().found


@pytest.mark.data
def test_iu_xray_sentences_are_rarely_flagged_and_every_flag_is_a_date_or_time_fragment(shared_data: Path) -> None:
    sentences = flagged = 0
    with (shared_data / "iu_xray_reports" / "reports.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            report = json.loads(line)
            for key in ("indication", "comparison", "findings", "impression"):
                for sentence in re.split(r"(?<=[.!?])\s+", report[key] or ""):
                    if sentence.strip():
                        sentences += 1
                        found = scan_phi(sentence)
                        flagged += bool(found)
                        assert {m.kind for m in found} <= {"date", "time"}, (report["uid"], sentence)
    assert sentences > 30_000 and flagged / sentences <= 0.002


@pytest.mark.parametrize(
    "text",
    [
        "CXR1063_IM-0044-84654001",  # Open-i image ids in metadata are not record or phone numbers
        "CXR2625_IM-1112-0001-0001",
        "http://creativecommons.org/licenses/by-nc-nd/4.0/",  # the licence URL every Open-i record carries
        "https://www.kjronline.org/DOIx.php?id=10.3348/kjr.2020.0132",  # a URL holding a DOI cites literature
        "Cysts are present on non-contrast MR. Cysts do not enhance.",  # "MR." ends a sentence here
        "Typical findings of an Arnold Chiari II malformation.",
    ],
)
def test_metadata_values_of_the_shared_datasets_are_not_flagged(text: str) -> None:
    assert scan_phi(text) == []


def test_deeply_nested_metadata_is_screened_and_redacted_without_recursion_errors() -> None:
    deep: object = "Call Dr. Jones at 555-123-4567."
    for _ in range(3000):
        deep = {"next": [deep]}
    record = Record(id="deep", text="Clear.", metadata={"tree": deep})
    summary = PhiSummary()
    assert [m.kind for m in summary.add("deep", record.text, record.metadata)] == ["name", "phone"]
    assert next(iter(summary.fields)).endswith(".next[0]")
    redacted = redact_record(record)
    assert "Jones" not in repr(redacted.metadata) and redacted.metadata["phi_redacted"] == 2


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PHI_CASES), st.text(alphabet="abcXY.,:;/@#-() \nMrDSt", max_size=40))
def test_rules_skipped_on_digit_free_text_cannot_match_it(marked: str, noise: str) -> None:
    # scan_phi runs only DIGIT_FREE rules on text without a digit; no other rule may ever match such text.
    text = "".join(c for c in parse(marked)[0] + noise if not c.isdigit())
    assert [p.pattern for _, p in RULES if p not in DIGIT_FREE and p.search(text)] == []


def test_overlapping_candidates_are_merged_so_nothing_flagged_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmedrag.quality import phi

    text = "Anna Lee Oak Street ok 3/4/19."
    # A short name that starts first and a longer address that overlaps it: the redaction must cover both.
    monkeypatch.setattr(phi, "_candidates", lambda _: [(0, 8, "name"), (5, 19, "address"), (23, 29, "date")])
    assert [(m.kind, m.span) for m in scan_phi(text)] == [("name", (0, 19)), ("date", (23, 29))]
    assert redact(text) == "[REDACTED] ok [REDACTED]."
