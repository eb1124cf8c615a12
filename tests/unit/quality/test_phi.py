from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmedrag.quality.phi import PLACEHOLDER, PhiSummary, redact, redact_record, scan_phi, summarize_phi
from mmedrag.types import Record


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
