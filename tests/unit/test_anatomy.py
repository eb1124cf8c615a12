"""The body-region vocabulary: words, DICOM Body Part Examined terms, and which regions one study shows together."""

from __future__ import annotations

import pytest

from mmedrag.anatomy import ADJACENT, REGIONS, body_part_regions, compatible, region_words, regions_in


@pytest.mark.parametrize(
    ("text", "regions"),
    [
        ("Space occupying mass lesion proximal humerus", {"upper_limb"}),
        ("Is there a mass in the liver?", {"abdomen"}),
        ("Is there a pleural effusion?", {"chest"}),
        ("Ring-enhancing lesion in the cerebellum.", {"head"}),
        ("MR images of the left knee demonstrate a large joint effusion.", {"lower_limb"}),
        ("L1 compression fracture.", {"spine"}),  # a vertebral level
        ("T2 weighted image, no fracture.", set()),  # T1/T2 are MRI weightings, not levels
        ("Head and neck squamous cell carcinoma.", {"head", "neck"}),
        ("Fracture of the femoral head.", {"lower_limb", "pelvis"}),  # "head" of a bone is not the head
        ("Stone in the neck of the gallbladder.", {"abdomen"}),
        ("Is there a mass?", set()),
        ("Are the kidneys normal?", {"abdomen"}),  # plurals
    ],
)
def test_regions_named_in_text(text: str, regions: set[str]) -> None:
    assert regions_in(text) == regions


def test_region_words_name_their_evidence() -> None:
    assert region_words("mass of the humerus abutting the elbow") == {
        "humerus": frozenset({"upper_limb"}),
        "elbow": frozenset({"upper_limb"}),
    }


@pytest.mark.parametrize(
    ("value", "regions"),
    [
        ("CHEST", {"chest"}),
        ("ABDOMENPELVIS", {"abdomen", "pelvis"}),
        ("KNEE", {"lower_limb"}),
        ("CSPINE", {"spine", "neck"}),
        ("ABD", {"abdomen"}),  # VQA-RAD's organ field
        ("Chest, Pulmonary", {"chest"}),  # MedPix location
        ("Brain and Neuro", {"head"}),
        ("Musculoskeletal", set()),  # a system, not a place: unknown
        ("WHOLEBODY", set()),
    ],
)
def test_body_part_examined(value: str, regions: set[str]) -> None:
    assert body_part_regions(value) == regions


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ({"abdomen"}, {"upper_limb"}, False),  # the liver question and the humerus case
        ({"head"}, {"spine"}, False),
        ({"chest"}, {"lower_limb"}, False),
        ({"chest"}, {"upper_limb"}, True),  # a chest film shows the shoulders
        ({"chest"}, {"abdomen"}, True),  # a chest CT shows the upper abdomen
        ({"pelvis"}, {"lower_limb"}, True),  # hips
        ({"abdomen"}, {"skin"}, True),  # skin covers every region
        (set(), {"eye"}, True),  # unknown never contradicts
        ({"chest", "abdomen"}, {"head", "chest"}, True),
    ],
)
def test_compatible(first: set[str], second: set[str], expected: bool) -> None:
    assert compatible(first, second) is expected
    assert compatible(second, first) is expected


def test_adjacency_is_symmetric_and_closed() -> None:
    for region, neighbours in ADJACENT.items():
        assert region in REGIONS and neighbours <= set(REGIONS)
        assert all(region in ADJACENT[other] for other in neighbours), region
