"""mmedrag's metrics against numbers the reference implementations computed once (tests/fixtures/oracles/, made by
compute_oracles.py there): the CARES yes/no scorer, pycocoevalcap with the Java PTBTokenizer, NLTK + rouge_score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import needs
from mmedrag.evaluation.cares import cares_metrics, parse_cares
from mmedrag.evaluation.closed import parse_yes_no
from mmedrag.evaluation.report_metrics import report_metrics
from mmedrag.evaluation.report_tokens import FALLBACK_BOUND, java_available, ptb_tokenize, ptb_tokenize_python

ORACLES = Path(__file__).parents[2] / "fixtures" / "oracles"
ADVERSARIAL = json.loads((ORACLES / "closed_adversarial.json").read_text(encoding="utf-8"))
PAIRS = json.loads((ORACLES / "report_pairs.json").read_text(encoding="utf-8"))
needs_java = pytest.mark.skipif(
    not java_available(), reason="needs Java (default-jre-headless) and pycocoevalcap for the PTBTokenizer/METEOR jars"
)


@pytest.mark.parametrize("row", ADVERSARIAL, ids=lambda row: repr(row["text"])[:40])
def test_adversarial_answers_read_as_the_table_says(row: dict) -> None:
    assert parse_yes_no(row["text"]) == row["expected"]
    assert parse_cares(row["text"]) == row["cares"]  # the reference script's own reading of the same string


def test_the_table_covers_the_known_disagreements() -> None:
    readings = {row["text"]: (row["expected"], row["cares"]) for row in ADVERSARIAL}
    # the reference reads refusals and negative words as "yes"; mmedrag abstains or reads "no"
    assert readings["unknown"] == (None, "yes") and readings["None."] == ("no", "yes")
    assert readings["Yes and no."] == (None, "no") and readings["Probably not."] == ("no", "no")
    assert sum(e is not None and e != c for e, c in readings.values()) >= 10


def test_cares_mode_reproduces_the_reference_scorer() -> None:
    oracle = json.loads((ORACLES / "closed_cares.json").read_text(encoding="utf-8"))
    result = cares_metrics([a for a, _ in oracle["pairs"]], [g for _, g in oracle["pairs"]])
    expected = oracle["expected"]
    assert {k: result[k] for k in ("tp", "fp", "tn", "fn")} == {k: expected[k] for k in ("tp", "fp", "tn", "fn")}
    for name in ("accuracy", "precision", "recall", "f1"):
        assert result[name] == pytest.approx(expected[name], abs=1e-6)
    assert result["n"] == len(oracle["pairs"])


def test_cares_mode_says_none_where_the_reference_divides_by_zero() -> None:
    result = cares_metrics(["No.", "No."], ["Yes.", "No."])
    assert result["precision"] is None and result["f1"] is None and result["accuracy"] == 0.5


@needs("pycocoevalcap", "eval")
@needs_java
def test_coco_protocol_matches_pycocoevalcap_with_the_java_tokenizer() -> None:
    oracle = json.loads((ORACLES / "report_coco.json").read_text(encoding="utf-8"))
    predictions, references = [p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS]
    tokens, used = ptb_tokenize(predictions + references, "java")
    assert used == "ptb-java"
    assert [[h, r] for h, r in zip(tokens[: len(PAIRS)], tokens[len(PAIRS) :], strict=True)] == oracle["tokens"]
    result = report_metrics(predictions, references, protocol="coco", tokenizer="java")
    assert result["metrics_protocol"] == "coco" and result["tokenizer"] == "ptb-java"
    for name, value in oracle["expected"].items():
        assert result[name] == pytest.approx(value, abs=1e-6), name


@needs("pycocoevalcap", "eval")
def test_python_tokenizer_fallback_stays_within_its_measured_bound() -> None:
    oracle = json.loads((ORACLES / "report_coco.json").read_text(encoding="utf-8"))
    predictions, references = [p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS]
    metrics = ("bleu", "rouge_l", "cider", "meteor") if java_available() else ("bleu", "rouge_l", "cider")
    result = report_metrics(predictions, references, metrics, protocol="coco", tokenizer="python")
    assert result["tokenizer"] == "ptb-python"
    for name, value in oracle["expected"].items():
        if name in result:
            assert abs(result[name] - value) <= FALLBACK_BOUND[name] + 1e-9, name
    # the punctuation that made the old tokenizer wrong is gone, brackets stay as the jar writes them
    assert ptb_tokenize_python('No "acute" disease (mild), can\'t exclude.') == (
        "no acute disease -lrb- mild -rrb- ca n't exclude"
    )


@needs("nltk", "eval")
@needs("rouge_score", "eval")
def test_nltk_protocol_matches_nltk_and_rouge_score() -> None:
    oracle = json.loads((ORACLES / "report_nltk.json").read_text(encoding="utf-8"))
    predictions, references = [p["prediction"] for p in PAIRS], [p["reference"] for p in PAIRS]
    result = report_metrics(predictions, references, ("bleu", "rouge_l", "cider"), protocol="nltk")
    assert result["metrics_protocol"] == "nltk" and "skipped" in result["cider"]
    for name, value in oracle["expected"].items():
        assert result[name] == pytest.approx(value, abs=1e-6), name


@needs("pycocoevalcap", "eval")
def test_punctuation_no_longer_scores() -> None:
    """The old tokenizer kept punctuation as tokens: unrelated reports shared "." and "," n-grams."""
    unrelated = report_metrics(["Big dog, small cat."], ["Heart, lungs."], ("bleu",), tokenizer="python")
    assert unrelated["bleu_1"] < 1e-9  # pycocoevalcap adds a tiny epsilon to zero matches
    bare = report_metrics(["heart size normal"], ["Heart size normal."], ("bleu", "rouge_l"), tokenizer="python")
    assert bare["rouge_l"] == pytest.approx(1.0) and bare["bleu_1"] == pytest.approx(1.0)
