from __future__ import annotations

import pytest

from conftest import make_image
from mmedrag.generation.base import approx_token_count
from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.generation.prompts import (
    CAUTION,
    PromptBuilder,
    clean_reference,
    infer_task,
    refers_to_image,
    truncate_to_tokens,
)
from mmedrag.types import Context, Hit, Query, Record


def hits(*texts: str) -> Context:
    return Context(hits=tuple(Hit(Record(id=f"case{i}", text=t), 0.9 - i / 10, i) for i, t in enumerate(texts, 1)))


@pytest.mark.parametrize(
    ("question", "task"),
    [
        ("Is there a pleural effusion?", "closed"),
        ("Are the lungs clear?", "closed"),
        ("Does the patient have cardiomegaly?", "closed"),
        ("Has the lesion grown?", "closed"),
        ("What organ is shown?", "open"),
        ("Where is the mass located?", "open"),
        ("Please generate a report for this image.", "report"),
        ("Describe the findings", "report"),
        ("", "report"),
    ],
)
def test_infer_task(question: str, task: str) -> None:
    assert infer_task(question) == task


@pytest.mark.parametrize(
    ("domain", "modality", "role", "noun"),
    [
        ("radiology", "xray", "radiologist", "X-ray image"),
        ("radiology", "ct", "radiologist", "CT image"),
        ("ophthalmology", "fundus", "ophthalmologist", "fundus image"),
        ("pathology", None, "pathologist", "pathology image"),
        ("dermatology", "dermoscopy", "dermatologist", "dermoscopy image"),
        ("other", None, "physician", "medical image"),
    ],
)
def test_domain_role_and_image_noun(domain: str, modality: str | None, role: str, noun: str) -> None:
    prompt = PromptBuilder().build(Query(text="Is it normal?", modality=modality), hits("Normal."), domain)
    assert f"You are a professional {role}." in prompt.text and f"a {noun}" in prompt.text


def test_references_are_numbered_with_ids_and_the_caution_follows() -> None:
    prompt = PromptBuilder().build(
        Query(text="Is there an effusion?"), hits("No effusion.", "Small\n  effusion."), "radiology"
    )
    text = prompt.text
    assert "[1] (case case1) No effusion." in text and "[2] (case case2) Small effusion." in text
    assert CAUTION in text and text.index("[2]") < text.index(CAUTION) < text.index("Question: Is there an effusion?")
    assert "choosing one of two options: yes or no" in text
    assert [r.record_id for r in prompt.references] == ["case1", "case2"]


def test_no_references_means_no_caution_and_a_report_has_no_question_line() -> None:
    prompt = PromptBuilder().build(Query(text=""), Context(), "radiology")
    assert prompt.task == "report" and CAUTION not in prompt.text and "Question:" not in prompt.text
    assert "Write the report" in prompt.text


def test_image_part_is_present_only_with_an_image() -> None:
    image = make_image(1)
    with_image = PromptBuilder().build(Query(text="Is it normal?", image=image), Context(), "radiology")
    assert with_image.messages[0]["content"][0] == {"type": "image"} and with_image.images == (image,)
    without = PromptBuilder().build(Query(text="Is it normal?"), Context(), "radiology")
    assert all(part["type"] == "text" for part in without.messages[0]["content"]) and without.images == ()


def test_token_budget_keeps_cuts_and_drops_in_rank_order_and_traces_it() -> None:
    long = " ".join(f"word{i}" for i in range(40))  # 40 tokens
    builder = PromptBuilder(max_reference_tokens=60, min_reference_tokens=5)
    prompt = builder.build(Query(text="Is it normal?"), hits(long, long, long), "radiology")
    account = prompt.trace["references"]
    assert [a["status"] for a in account] == ["full", "truncated", "dropped"]
    assert account[0]["kept_tokens"] == 40 and account[1]["kept_tokens"] <= 20
    assert sum(a["kept_tokens"] for a in account) <= 60
    assert [r.truncated for r in prompt.references] == [False, True]
    assert prompt.references[1].text.endswith("...")


def test_a_reference_too_short_to_keep_is_dropped_not_stubbed() -> None:
    builder = PromptBuilder(max_reference_tokens=45, min_reference_tokens=10)
    long = " ".join(f"w{i}" for i in range(40))
    prompt = builder.build(Query(text="Is it normal?"), hits(long, long), "radiology")
    assert [a["status"] for a in prompt.trace["references"]] == ["full", "dropped"]
    assert len(prompt.references) == 1


def test_truncate_to_tokens_fits_the_budget_on_word_boundaries() -> None:
    text = "Large left pleural effusion with compressive atelectasis of the left lower lobe."
    cut = truncate_to_tokens(text, 6, approx_token_count)
    assert approx_token_count(cut) <= 6 and cut == "Large left pleural ..."
    assert truncate_to_tokens(text, 1, approx_token_count) == ""


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Is there a mass in this image?", True),
        ("Is the liver visible in the image?", True),
        ("Is this a CT?", True),
        ("Is this a PA film?", True),
        ("Does the patient have a large pleural effusion as seen on the chest X-ray?", True),
        ("Is there an infarct on this brain scan?", True),
        ("Please generate a report for this image.", True),
        ("Are the orbits in view?", True),
        ("Is there a pleural effusion?", False),
        ("Has the nodule grown since the prior film?", False),  # another study, not this image
        ("Compared with the previous x-ray, is the effusion larger?", False),
        ("What are the causes of a pleural effusion?", False),
    ],
)
def test_refers_to_image(question: str, expected: bool) -> None:
    assert refers_to_image(question) is expected


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("Small left <b>effusion</b>.", "Small left effusion."),
        ("Clear lungs.<script>alert('x')</script> No effusion.", "Clear lungs. No effusion."),
        ("<p>Heart normal.</p><p>Lungs clear.</p>", "Heart normal. Lungs clear."),
        ("&lt;script&gt;alert(1)&lt;/script&gt;Lungs clear.", "Lungs clear."),  # an escaped tag goes too
        ("Nodule <5 mm, AP & lateral views.", "Nodule <5 mm, AP & lateral views."),  # not markup: unchanged
        ("Heart  size normal .\n Lungs clear", "Heart size normal . Lungs clear"),  # plain text only collapses
    ],
)
def test_clean_reference_strips_markup(text: str, clean: str) -> None:
    assert clean_reference(text) == clean


def test_extractive_answers_never_quote_markup() -> None:
    report = "<div>Heart size normal.</div> Small left <b>effusion</b>.<script>document.cookie</script>"
    query = Query(text="Is there a pleural effusion?")
    prompt = PromptBuilder().build(query, hits(report), "radiology")
    answer = ExtractiveGenerator().generate([prompt])[0].text
    assert answer == 'Yes. Reference [1]: "Small left effusion."'
    report_prompt = PromptBuilder().build(Query(text=""), hits(report), "radiology")
    assert ExtractiveGenerator().generate([report_prompt])[0].text == "Heart size normal. Small left effusion."
