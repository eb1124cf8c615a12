from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmedrag.evaluation.closed import closed_metrics, parse_yes_no


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Yes.", "yes"),
        ("No.", "no"),
        ("No (since the report says ...)", "no"),
        ("- No", "no"),
        ("- Yes.", "yes"),
        ('"Yes", it is.', "yes"),
        ("no, there is none", "no"),
        ("The answer is yes.", "yes"),
        ("unknown", None),
        ("", None),
        (None, None),
        ("Nope", None),
        ("Not sure; yes or no cannot be told.", None),
        ("Normal study.", None),
    ],
)
def test_parse_yes_no(text: str | None, label: str | None) -> None:
    assert parse_yes_no(text) == label


@pytest.mark.data
def test_parser_reads_the_reference_answer_styles(shared_data: Path) -> None:
    answers = [json.loads(line)["answer"] for line in (shared_data / "mmed_rag_iuxray/vqa_test.jsonl").open()]
    labels = [parse_yes_no(a) for a in answers]
    starts = [a.lstrip("- ").lower()[:3] for a in answers]
    assert all(label == "yes" for label, s in zip(labels, starts, strict=True) if s.startswith("yes"))
    assert all(label == "no" for label, s in zip(labels, starts, strict=True) if s.startswith(("no ", "no.", "no,")))
    assert labels.count(None) < 0.03 * len(labels)


def test_metrics_hand_computed() -> None:
    predictions = ["yes", "yes", "no", None, "no", "yes"]
    golds = ["yes", "no", "no", "yes", "yes", None]  # the last has no gold label and is left out
    m = closed_metrics(predictions, golds)
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(2 / 5)
    assert m["answered_accuracy"] == pytest.approx(2 / 4) and m["abstention_rate"] == pytest.approx(1 / 5)
    assert m["precision"] == pytest.approx(1 / 2) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert closed_metrics([], []) == {"n": 0}
