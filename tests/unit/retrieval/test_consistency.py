"""Reference consistency: a case about another body region, or from another imaging domain, never becomes a reference;
whatever is unknown keeps the case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mmedrag.retrieval.consistency import query_profile, record_profile, screen
from mmedrag.types import Hit, Query, Record

HUMERUS = Record(
    id="medpix2:MPX2261_synpic13155",
    text="Coronal fat sat MR arthrogram\nSpace occupying mass lesion proximal humerus",
    domain="radiology",
    modality="mri",
    metadata={"location": "Musculoskeletal"},  # a system, not a place: the text decides
)
LIVER = Record(id="liver", text="Hypodense mass in the right hepatic lobe.", domain="radiology", modality="ct")
SILENT = Record(id="silent", text="No acute abnormality.", domain="radiology", modality="ct")
FUNDUS = Record(id="fundus", text="Optic disc cupping.", domain="ophthalmology", modality="fundus")
UNKNOWN_MODALITY = Record(id="unknown", text="A mass.")


def hits(*records: Record) -> list[Hit]:
    return [Hit(record, 1.0 - i / 10, i) for i, record in enumerate(records, 1)]


def test_a_humerus_case_does_not_answer_a_liver_question() -> None:
    kept, dropped = screen(Query(text="Is there a mass in the liver?", modality="ct"), hits(HUMERUS, LIVER, SILENT))
    assert [h.record.id for h in kept] == ["liver", "silent"]
    assert [d["id"] for d in dropped] == [HUMERUS.id]
    reason = dropped[0]["reason"]
    assert reason.startswith("body region:") and "abdomen (liver)" in reason and "upper limb (humerus)" in reason


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        # the question names no place: region unknown, nothing dropped on region
        (Query(text="Is there a mass?"), ["medpix2:MPX2261_synpic13155", "liver", "silent"]),
        # a place one study shows with the humerus (a chest film shows the shoulders)
        (Query(text="Is there a mass in the lung?"), ["medpix2:MPX2261_synpic13155", "liver", "silent"]),
        (Query(text="Is there a fracture of the humerus?"), ["medpix2:MPX2261_synpic13155", "silent"]),
    ],
)
def test_only_a_clear_contradiction_drops(query: Query, kept: list[str]) -> None:
    assert [h.record.id for h in screen(query, hits(HUMERUS, LIVER, SILENT))[0]] == kept


@pytest.mark.parametrize(
    ("query", "dropped"),
    [
        (Query(text="Is there a mass?", modality="ct"), ["fundus"]),  # CT query, fundus photograph reference
        (Query(text="Is there a mass?", domain="radiology"), ["fundus"]),  # the caller's domain, no modality
        (Query(text="Is there a mass?", modality="mri"), ["fundus"]),
        (Query(text="Is the cup enlarged?", modality="fundus"), ["medpix2:MPX2261_synpic13155", "liver"]),
        (Query(text="Is there a mass?"), []),  # nothing known about the query: nothing dropped
        (Query(text="Is there a mass?", domain="other"), []),
    ],
)
def test_another_imaging_domain_drops(query: Query, dropped: list[str]) -> None:
    records = (HUMERUS, LIVER, FUNDUS, UNKNOWN_MODALITY)
    _, out = screen(query, hits(*records))
    assert [d["id"] for d in out] == dropped
    assert all(d["reason"].startswith("modality:") for d in out)


def test_ct_and_mri_of_one_region_agree() -> None:
    liver_mri = replace(LIVER, modality="mri")
    assert screen(Query(text="Is there a mass in the liver?", modality="ct"), hits(liver_mri))[1] == []


def test_record_metadata_names_the_region() -> None:
    chest = Record(id="c", text="A nodule.", metadata={"BodyPartExamined": "CHEST"})
    assert record_profile(chest).regions == {"chest"}
    kept, dropped = screen(Query(text="Is there a nodule in the brain?"), hits(chest))
    assert kept == [] and dropped[0]["id"] == "c" and "BodyPartExamined=CHEST" in dropped[0]["reason"]


def test_no_hits() -> None:
    assert screen(Query(text="Is there a mass in the liver?"), []) == ([], [])


pydicom = pytest.importorskip("pydicom", reason="DICOM queries need the dicom extra: pip install 'mmedrag[dicom]'")


def ct_small() -> Path:
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file("CT_small.dcm")))


def test_the_reported_dicom_case() -> None:
    """pydicom's CT_small.dcm asked about the liver: the header says CT, the question the abdomen."""
    query = Query(text="Is there a mass in the liver?", image_path=str(ct_small()))
    profile = query_profile(query)
    assert profile.modality == "ct" and profile.family == "radiology" and profile.regions == {"abdomen"}
    kept, dropped = screen(query, hits(HUMERUS, FUNDUS, LIVER))
    assert [h.record.id for h in kept] == ["liver"]
    assert [d["id"] for d in dropped] == [HUMERUS.id, "fundus"]


def test_body_part_examined_of_the_query(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(ct_small())
    dataset.BodyPartExamined = "KNEE"
    path = tmp_path / "knee.dcm"
    dataset.save_as(path)
    query = Query(text="Is there a mass?", image_path=str(path))  # the question names no place; the header does
    assert query_profile(query).regions == {"lower_limb"}
    assert [d["id"] for d in screen(query, hits(HUMERUS, SILENT))[1]] == [HUMERUS.id]


def test_an_unreadable_header_says_nothing(tmp_path: Path) -> None:
    path = tmp_path / "broken.dcm"
    path.write_bytes(b"not dicom at all")
    assert query_profile(Query(text="Is there a mass?", image_path=str(path))).regions == frozenset()


@pytest.mark.parametrize(
    ("text", "metadata"),
    [
        # MedPix cases the demo retrieved for CT_small: a passing word (sigmoid sinus, femoral) named the pelvis,
        # which borders the abdomen, and let a head and a knee case answer a liver question.
        ("Petrous temporal bone mass, mastoid air cells fluid filled, sigmoid sinus patent.", {}),
        ("Sclerotic lesion of the left tibia; fibula and patella normal; femoral condyles spared.", {}),
        ("Mass of the sigmoid sinus.", {"location": "Head and Neck"}),
    ],
)
def test_a_passing_word_does_not_move_a_case_to_another_region(text: str, metadata: dict) -> None:
    reference = Record(id="r", text=text, domain="radiology", modality="ct", metadata=metadata)
    kept, dropped = screen(Query(text="Is there a mass in the liver?"), [Hit(reference, 1.0, 1)])
    assert kept == [] and dropped[0]["id"] == "r"
