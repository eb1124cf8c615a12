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
        ("Nope", "no"),
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
    noes = [
        (label, a) for label, a, s in zip(labels, answers, starts, strict=True) if s.startswith(("no ", "no.", "no,"))
    ]
    assert all(label == "no" or a.startswith("No answer can be") for label, a in noes)
    assert labels.count(None) < 0.03 * len(labels)
    # the echoed-question answers of the file ("2. Are the hilum contours normal? - Yes") are read
    echoed = [(a, label) for a, label in zip(answers, labels, strict=True) if "? - " in a]
    assert echoed and all(label == ("yes" if a.endswith("Yes") else "no") for a, label in echoed)


def test_metrics_hand_computed() -> None:
    predictions = ["yes", "yes", "no", None, "no", "yes"]
    golds = ["yes", "no", "no", "yes", "yes", None]  # the last has no gold label and is left out
    m = closed_metrics(predictions, golds)
    assert m["n"] == 5 and m["accuracy"] == pytest.approx(2 / 5)
    assert m["answered_accuracy"] == pytest.approx(2 / 4) and m["abstention_rate"] == pytest.approx(1 / 5)
    assert m["precision"] == pytest.approx(1 / 2) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert closed_metrics([], []) == {"n": 0}


def test_balanced_accuracy_and_majority_baseline_hand_computed() -> None:
    golds = ["no", "no", "no", "yes"]
    m = closed_metrics(["no", "no", "yes", None], golds)  # recall(no) 2/3, recall(yes) 0 (abstained)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["majority_answer"] == "no" and m["majority_accuracy"] == pytest.approx(3 / 4)
    assert m["majority_balanced_accuracy"] == pytest.approx(0.5) and m["majority_f1"] == 0.0
    yes_heavy = closed_metrics(["yes"] * 3, ["yes", "yes", "no"])
    assert yes_heavy["majority_answer"] == "yes" and yes_heavy["majority_f1"] == pytest.approx(
        2 * (2 / 3) / (1 + 2 / 3)
    )
    assert yes_heavy["f1"] == yes_heavy["majority_f1"]  # a constant "yes" run is its own baseline


def test_bootstrap_intervals_cover_the_point_estimates_and_tables_show_the_baseline() -> None:
    from mmedrag.evaluation.closed_table import closed_summary, markdown_table

    golds = ["no"] * 70 + ["yes"] * 30
    predictions = ["no"] * 60 + ["yes"] * 10 + ["yes"] * 20 + [None] * 10
    summary = closed_summary(predictions, golds, samples=300, seed=1)
    for name in ("accuracy", "balanced_accuracy", "f1", "majority_accuracy"):
        low, high = summary[f"{name}_ci"]
        assert low <= summary[name] <= high and high - low > 0
    table = markdown_table([("run", summary)])
    assert "majority answer (always 'no')" in table and "balanced accuracy" in table
    assert f"{summary['majority_accuracy']:.3f}" in table and f"{summary['balanced_accuracy']:.3f}" in table
