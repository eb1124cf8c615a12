"""Prompts and comparisons shared by the HFGenerator equality tests (prefix sharing, fast paths): a real chest image
(or seeded noise), three reports, four questions, and the "answers exactly alike" check."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from PIL import Image

from mmedrag.generation.prompts import PromptBuilder
from mmedrag.types import Context, Generation, Hit, Prompt, Query, Record

REAL_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "vqa_rad" / "images" / "synpic54610.jpg"
REPORTS = (
    "Small left pleural effusion. Heart size is normal; lungs are clear.",
    "Right lower lobe consolidation concerning for pneumonia. No pneumothorax.",
    "The cardiomediastinal silhouette is within normal limits. Degenerative changes of the spine.",
)
# The issue asks for 1e-4 in float32; the shared path is tighter than that (differences are float rounding, ~1e-8),
# and a tighter bound lets the tiny random models (whose P(yes) moves little) catch a wrong cache.
TOLERANCE = 1e-6
QUESTIONS = (
    "Is there a pleural effusion?",
    "Where is the lesion located in this image of the chest?",
    "Is the heart enlarged?",
    "Are the lungs clear?",
)


def two_images() -> tuple[Image.Image, Image.Image]:
    """The real chest image (seeded noise without the shared data) and its mirror image."""
    if REAL_IMAGE.is_file():
        with Image.open(REAL_IMAGE) as img:
            first = img.convert("RGB")
    else:
        rng = random.Random(0)
        first = Image.frombytes("RGB", (96, 80), bytes(rng.randrange(256) for _ in range(96 * 80 * 3)))
    return first, first.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def prompt(question: str, image: Image.Image | None, reports: tuple[str, ...]) -> Prompt:
    hits = [Hit(Record(id=f"case-{i}", text=text), 1.0 - i / 10, i) for i, text in enumerate(reports, start=1)]
    return PromptBuilder().build(Query(text=question, image=image), Context(hits=hits), "radiology")


def mixed_prompts(images: tuple[Image.Image, Image.Image]) -> list[Prompt]:
    """Three share groups (4 questions, 3 questions, a group of one) plus one prompt without references, shuffled so
    that groups interleave in the input and several land in one batch."""
    first, second = images
    prompts = [prompt(q, first, REPORTS) for q in QUESTIONS]
    prompts += [prompt(q, second, REPORTS[:1]) for q in QUESTIONS[:3]]
    prompts += [prompt(QUESTIONS[1], second, REPORTS[1:]), prompt(QUESTIONS[0], first, ())]
    random.Random(3).shuffle(prompts)
    return prompts


def assert_same(got: list[Generation], want: list[Generation], tolerance: float = TOLERANCE) -> None:
    """Identical texts and token counts, P(yes) within ``tolerance`` (None where the reference has none)."""
    assert [g.text for g in got] == [g.text for g in want]
    assert [g.completion_tokens for g in got] == [g.completion_tokens for g in want]
    assert [g.prompt_tokens for g in got] == [g.prompt_tokens for g in want]
    for mine, theirs in zip(got, want, strict=True):
        if theirs.yes_probability is None:
            assert mine.yes_probability is None
        else:
            assert mine.yes_probability == pytest.approx(theirs.yes_probability, abs=tolerance)
