"""The pipeline's input checks: contradicting references are set aside (and traced), a question about "this image"
without one abstains with a note, and a question without an image is answered text-only and says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from conftest import make_image
from fakes import EchoGenerator
from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.pipeline import NO_IMAGE, TEXT_ONLY, Bundle, RAGPipeline
from mmedrag.retrieval.context import TopK
from mmedrag.retrieval.scope import OFF
from mmedrag.types import UNKNOWN, Hit, Query, Record

# The first sentence names no place, so only the record (its findings) says the case is about the humerus.
HUMERUS = Record(
    id="humerus",
    text="Space occupying mass lesion. Findings: lytic process of the proximal humerus.",
    domain="radiology",
    modality="mri",
)
LIVER = Record(id="liver", text="FINDINGS: The liver is normal. No focal lesion.", domain="radiology", modality="ct")


class StaticRetriever:
    """Returns the same records for every query, best first (a stand-in for an index)."""

    def __init__(self, *records: Record) -> None:
        self.records = records
        self.queries: list[Query] = []

    def search_batch(self, queries: Sequence[Query], k: int = 5, mode: Any = "auto", filters: Any = None) -> list:
        self.queries.extend(queries)
        return [[Hit(r, 1.0 - i / 10, i) for i, r in enumerate(self.records[:k], 1)] for _ in queries]

    def search_checked(self, queries: Sequence[Query], k: int = 5, mode: Any = "auto", filters: Any = None, **_: Any):
        return self.search_batch(queries, k, mode, filters), [OFF] * len(queries)  # no in-scope fit to check


def pipeline(generator: Any = None, **checks: bool) -> RAGPipeline:
    bundle = Bundle(retriever=StaticRetriever(HUMERUS, LIVER), selector=TopK(2))  # type: ignore[arg-type]
    return RAGPipeline(generator or ExtractiveGenerator(), bundle, **checks)


def test_a_case_about_another_region_never_decides() -> None:
    query = Query(text="Is there a mass in the liver?", image=make_image(1), modality="ct")
    answer = pipeline().answer(query)
    assert answer.trace["inconsistent"] == [
        {
            "id": "humerus",
            "reason": "body region: the query is about abdomen (liver), the reference about upper limb (humerus)",
        }
    ]
    assert [c["id"] for c in answer.citations] == ["liver"]
    assert answer.text.startswith("No.")
    # switched off, the humerus case reaches the reader, and its first sentence votes yes
    unchecked = pipeline(consistency=False).answer(query)
    votes = unchecked.trace["generation"]["extractive"]["votes"]
    assert unchecked.trace["inconsistent"] == [] and [v["id"] for v in votes if v["yes"]] == ["humerus"]


def test_the_reported_dicom_case_is_not_decided_by_the_humerus() -> None:
    pytest.importorskip("pydicom", reason="DICOM queries need the dicom extra: pip install 'mmedrag[dicom]'")
    from pydicom.data import get_testdata_file

    query = Query(text="Is there a mass in the liver?", image_path=str(get_testdata_file("CT_small.dcm")))
    answer = pipeline().answer(query)
    assert [d["id"] for d in answer.trace["inconsistent"]] == ["humerus"]
    assert "humerus" not in answer.text and TEXT_ONLY not in answer.note


@pytest.mark.parametrize(
    "question", ["Is there a mass in this image?", "Is this a CT?", "Is there an effusion on the chest X-ray?"]
)
def test_a_question_about_this_image_without_one_abstains(question: str) -> None:
    generator = EchoGenerator()
    answer = pipeline(generator).answer(Query(text=question))
    assert answer.text == UNKNOWN and answer.grade == "abstained" and answer.context.k == 0
    assert answer.note == NO_IMAGE and answer.trace["abstained"] == NO_IMAGE
    assert generator.calls == [[]]  # called with no prompt: nothing generated from other patients' cases


def test_a_question_without_an_image_is_answered_text_only() -> None:
    # Cases found by the question's words are other patients' reports, not cases like this one: never "supported".
    answer = pipeline().answer(Query(text="Is there a mass in the liver?"))
    assert answer.note.endswith(TEXT_ONLY) and answer.text == UNKNOWN and "found by the question's words" in answer.note
    leaning = replace(pipeline(), answer_weak="lean").answer(Query(text="Is there a mass in the liver?"))
    assert leaning.text.startswith("No.") and leaning.grade == "weak"
    assert leaning.trace["grading"]["group"] == "similar_sentence/weak"
    with_image = pipeline().answer(Query(text="Is there a mass in this image?", image=make_image(2)))
    assert TEXT_ONLY not in with_image.note and "abstained" not in with_image.trace


def test_image_questions_off_answers_text_only() -> None:
    answer = pipeline(image_questions=False).answer(Query(text="Is there a mass in this image?"))
    assert answer.trace["prompt"]["references"] and answer.note.endswith(TEXT_ONLY)
