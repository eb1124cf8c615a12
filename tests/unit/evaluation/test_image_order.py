"""`mmedrag evaluate` groups questions by image before batching, and reports rows in the input order."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from conftest import make_image
from mmedrag.evaluation.runner import EvalSettings, evaluate, image_order
from mmedrag.generation.base import approx_token_count
from mmedrag.pipeline import RAGPipeline
from mmedrag.types import Generation, Prompt, Question


class RecordsBatches:
    """Answers with the question text and records which questions arrived in each generate() call."""

    name = "records-batches"

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.batches.append([p.question for p in prompts])
        return [Generation(text=p.question) for p in prompts]

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


def _questions(tmp_path: Path, images: list[int | None]) -> list[Question]:
    questions = []
    for number, image in enumerate(images):
        path = None
        if image is not None:
            path = tmp_path / f"img{image}.png"
            make_image(image).save(path)
        questions.append(
            Question(
                id=f"q{number}", question=f"question {number}?", answer="x", image_path=path and str(path), task="open"
            )
        )
    return questions


def test_image_order_puts_questions_about_one_image_together(tmp_path: Path) -> None:
    questions = _questions(tmp_path, [1, 2, None, 1, 3, 2, 1])
    assert image_order(questions) == [0, 3, 6, 1, 5, 2, 4]
    assert image_order([]) == []


def test_evaluate_batches_by_image_and_keeps_the_input_order(tmp_path: Path) -> None:
    questions = _questions(tmp_path, [1, 2, 1, 2, 1, 3])
    generator = RecordsBatches()
    settings = EvalSettings(references="none", batch_size=3, bootstrap=10, report_metrics=())

    evaluate(RAGPipeline(generator=generator), questions, tmp_path / "out", settings)

    assert generator.batches == [
        ["question 0?", "question 2?", "question 4?"],
        ["question 1?", "question 3?", "question 5?"],
    ]
    rows = (tmp_path / "out" / "per_question.jsonl").read_text().splitlines()
    assert [row.split('"id": "')[1].split('"')[0] for row in rows] == [q.id for q in questions]


def test_pipeline_calls_hold_at_least_two_generator_batches(tmp_path: Path) -> None:
    questions = _questions(tmp_path, [1, 1, 2, 2, 3, 3, 4, 4, 5])
    generator = RecordsBatches()
    generator.batch_size = 3  # type: ignore[attr-defined]
    settings = EvalSettings(references="none", batch_size=2, bootstrap=10, report_metrics=())

    results = evaluate(RAGPipeline(generator=generator), questions, tmp_path / "out", settings)

    assert [len(batch) for batch in generator.batches] == [6, 3]
    assert results["settings"]["batch_size"] == 6  # the size actually used is the one recorded
