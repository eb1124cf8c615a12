"""Fitting answer confidence on a validation split: out-of-sample ECE falls, the file is found beside a config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmedrag.cli import main
from mmedrag.config import load_config
from mmedrag.evaluation.confidence_fit import fit_confidence, split_by_image
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.generation.base import approx_token_count
from mmedrag.pipeline import RAGPipeline
from mmedrag.types import Generation, Prompt, Query, Question


class Overconfident:
    """Says P(yes) = 0.99 every time; right on questions whose number is not a multiple of 3 (about 67%)."""

    name = "overconfident"

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        out = []
        for prompt in prompts:
            number = int(prompt.question.split()[-1].rstrip("?"))
            gold = number % 2 == 1  # questions(): odd numbers are "yes"
            says_yes = gold if number % 3 else not gold
            out.append(Generation("yes" if says_yes else "no", yes_probability=0.99 if says_yes else 0.01))
        return out

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


def questions(n: int = 300) -> list[Question]:
    return [
        Question(
            id=f"q{i}",
            question=f"Is there a finding {i}?",
            answer="yes" if i % 2 else "no",
            image_path=None,
            task="closed",
        )
        for i in range(n)
    ]


def test_questions_about_one_image_stay_in_one_half() -> None:
    items = [
        Question(id=str(i), question="Is it?", answer="yes", image_path=f"img{i // 3}.png", task="closed")
        for i in range(30)
    ]
    fit, held = split_by_image(items, seed=1)
    assert sorted(fit + held) == list(range(30)) and fit and held
    assert not {items[i].image_path for i in fit} & {items[i].image_path for i in held}


def test_the_fitted_calibrator_lowers_held_out_ece_and_a_config_finds_it(tmp_path: Path) -> None:
    report = fit_confidence(RAGPipeline(Overconfident(), answer_weak="lean"), questions(), tmp_path)
    assert report["ece_raw_held_out"] > 0.2 and report["ece_held_out"] < 0.08
    (tmp_path / "pipeline.yaml").write_text("answers:\n  answer_weak: lean\n", encoding="utf-8")
    config = load_config(tmp_path / "pipeline.yaml")
    assert config.answers.confidence_calibration == str(tmp_path / "confidence.json")
    from mmedrag.calibration.confidence import ConfidenceCalibrator

    pipeline = RAGPipeline(
        Overconfident(), answer_weak="lean", calibrator=ConfidenceCalibrator.load(tmp_path / "confidence.json")
    )
    answer = pipeline.answer(Query(text="Is there a finding 4?"))
    assert answer.confidence_calibrated and 0.55 < (answer.confidence or 0) < 0.8  # not the model's 0.99


def test_cli_calibrate_confidence(tmp_path: Path, capsys) -> None:
    write_questions_jsonl(questions(), tmp_path / "q.jsonl")
    # The CLI builds generators from the registry; with the extractive default and no index every answer abstains,
    # which must be one clear line, not a traceback.
    code = main(["calibrate", "--questions", str(tmp_path / "q.jsonl"), "--confidence", "--out", str(tmp_path / "c")])
    assert code == 2 and "calibrating confidence needs more closed questions" in capsys.readouterr().err
    code = main(["calibrate", "--questions", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "c")])
    assert code == 2 and "--alpha" in capsys.readouterr().err
