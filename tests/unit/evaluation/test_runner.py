from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import make_image, needs
from mmedrag._optional import available
from mmedrag.cli import main
from mmedrag.errors import ConfigError, DataError
from mmedrag.evaluation.compare import compare
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.evaluation.reliance import noise_image, reliance_metrics
from mmedrag.evaluation.report_metrics import report_metrics
from mmedrag.evaluation.runner import EvalSettings, evaluate
from mmedrag.generation.base import approx_token_count
from mmedrag.generation.extractive import ExtractiveGenerator
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.types import Generation, Prompt, Query, Question


def closed_questions(tmp_path: Path, n: int = 8) -> list[Question]:
    questions = []
    for i in range(n):
        image = tmp_path / f"q{i}.png"
        make_image(i).save(image)
        finding = "effusion" if i % 2 else "pneumothorax"
        questions.append(
            Question(
                id=f"q{i}",
                question=f"Is there a {finding}?",
                answer="yes" if i < 4 else "no",
                image_path=str(image),
                task="closed",
                metadata={
                    "gold_report": f"There is a {finding}." if i < 4 else f"No {finding}.",
                    "reference_reports": ["Heart normal."],
                },
            )
        )
    return questions


class LooksAtTheImage:
    """Says yes when references are given and the image is not noise (neighbouring pixels agree); counts calls."""

    name = "looks-at-the-image"

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.calls += len(prompts)
        out = []
        for p in prompts:
            gray = np.asarray(p.images[0].convert("L"), dtype=float) if p.images else None
            smooth = gray is not None and np.abs(np.diff(gray, axis=1)).mean() < 30
            out.append(Generation(text="Yes." if p.references and smooth else "No."))
        return out

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


def test_gold_references_with_the_extractive_answerer_are_scored_exactly(tmp_path: Path) -> None:
    questions = closed_questions(tmp_path)
    results = evaluate(
        RAGPipeline(generator=ExtractiveGenerator()),
        questions,
        tmp_path / "out",
        EvalSettings(references="gold_report", bootstrap=200),
    )
    closed = results["summary"]["tasks"]["closed"]
    assert closed["n"] == 8 and closed["accuracy"] == 1.0 and closed["f1"] == 1.0 and closed["abstention_rate"] == 0
    assert closed["auroc"] is None and "P(yes)" in closed["auroc_note"]
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"results.json", "results.md", "per_question.jsonl", "answers.sqlite"} <= files
    assert ("summary.png" in files) == available("matplotlib") == (results["plot"] == "summary.png")
    assert closed["balanced_accuracy"] == 1.0 and closed["majority_accuracy"] < 1.0 and "f1_ci" in closed
    table = (tmp_path / "out" / "results.md").read_text()
    assert f"majority answer (always {closed['majority_answer']!r})" in table and "balanced accuracy" in table
    silent = evaluate(
        RAGPipeline(generator=ExtractiveGenerator()),
        questions,
        tmp_path / "out2",
        EvalSettings(references="reference_reports", bootstrap=200),
    )
    assert silent["summary"]["tasks"]["closed"]["abstention_rate"] == 1.0 and silent["summary"]["abstentions"] == 8


def test_reliance_runs_and_answer_cache(tmp_path: Path) -> None:
    questions = closed_questions(tmp_path)
    generator = LooksAtTheImage()
    pipeline = RAGPipeline(generator=generator)
    settings = EvalSettings(references="gold_report", reliance=True, bootstrap=100)
    results = evaluate(pipeline, questions, tmp_path / "out", settings)
    reliance = results["summary"]["reliance"]
    # Without references it always says no (right for the 4 "no" questions); with them yes (right for the 4 "yes").
    assert reliance["accuracy_without_retrieval"] == 0.5 and reliance["accuracy_with_retrieval"] == 0.5
    assert reliance["retrieval_helps"] == 4 and reliance["retrieval_hurts"] == 4
    assert reliance["over_reliance_rate"] == 1.0  # every RAG error was right without retrieval
    assert reliance["copy_reference_rate"] == 0.5  # with a noise image it says no: right only for the "no" half
    calls = generator.calls
    evaluate(pipeline, questions, tmp_path / "out", settings)
    assert generator.calls == calls  # everything came from the cache


def test_answer_files_are_scored_and_mismatches_refused(tmp_path: Path) -> None:
    questions = closed_questions(tmp_path)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"id": q.id, "answer": "Yes"}) + "\n" for q in questions))
    results = evaluate(None, questions, tmp_path / "out", EvalSettings(bootstrap=50), answers=answers)
    assert results["summary"]["tasks"]["closed"]["accuracy"] == 0.5
    answers.write_text(json.dumps({"id": "q0", "answer": "Yes"}) + "\n" + json.dumps({"id": "zz", "answer": ""}))
    with pytest.raises(DataError, match=r"does not match the questions: 7 unanswered .* 1 unknown ids"):
        evaluate(None, questions, tmp_path / "out3", answers=answers)


def test_compare_reports_a_paired_difference_and_refuses_other_questions(tmp_path: Path) -> None:
    questions = closed_questions(tmp_path)
    for name, answer in (("a", "No"), ("b", "Yes")):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": q.id, "answer": answer}) + "\n" for q in questions))
        evaluate(None, questions, tmp_path / name, EvalSettings(bootstrap=50), answers=path)
    result = compare(tmp_path / "a", tmp_path / "b", samples=500)
    assert result["tasks"]["closed"]["difference"] == 0.0  # half right each way
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"id": q.id, "answer": "Yes"}) + "\n" for q in questions[:4]))
    evaluate(None, questions[:4], tmp_path / "c", EvalSettings(bootstrap=50), answers=tmp_path / "c.jsonl")
    with pytest.raises(DataError, match="answered different questions"):
        compare(tmp_path / "a", tmp_path / "c")


@needs("pycocoevalcap", "eval")
def test_report_metrics_name_their_implementation_and_skip_meteor_without_java(monkeypatch) -> None:
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = report_metrics(
        ["no acute cardiopulmonary abnormality .", ""], ["No acute cardiopulmonary abnormality.", "Mild cardiomegaly."]
    )
    assert result["bleu_1"] > 0 and 0 < result["rouge_l"] <= 1 and "pycocoevalcap" in result["implementation"]
    assert result["empty_predictions"] == 1
    assert "Java" in result["meteor"]["skipped"]
    with pytest.raises(ConfigError, match="unknown report metric"):
        report_metrics(["a"], ["b"], ["bleurt"])


def test_clinical_metrics_say_why_they_cannot_run() -> None:
    result = report_metrics(["No effusion."], ["No effusion."], ["chexbert", "radgraph"])
    assert "skipped" in result["chexbert"] and "skipped" in result["radgraph"]


def test_reliance_definitions_by_hand_and_noise_is_seeded() -> None:
    m = reliance_metrics([True, True, False, False], [True, False, True, False], [False, False, True, True])
    assert (m["retrieval_helps"], m["retrieval_hurts"], m["over_reliance_rate"]) == (1, 1, 0.5)
    assert m["copy_reference_rate"] == 0.5
    assert noise_image((8, 6), "q1").tobytes() == noise_image((8, 6), "q1").tobytes()
    assert noise_image((8, 6), "q1").tobytes() != noise_image((8, 6), "q2").tobytes()


def test_cli_evaluate_errors_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    questions = closed_questions(tmp_path)
    write_questions_jsonl(questions, tmp_path / "q.jsonl")
    code = main(
        [
            "evaluate",
            "--questions",
            str(tmp_path / "q.jsonl"),
            "--references",
            "gold_report",
            "--out",
            str(tmp_path / "o"),
            "--bootstrap",
            "50",
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["summary"]["n"] == 8
    code = main(
        ["evaluate", "--questions", str(tmp_path / "q.jsonl"), "--metrics", "bleu,bleurt", "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "unknown metric(s) ['bleurt']" in capsys.readouterr().err


def test_retrieval_metrics_when_questions_name_their_relevant_records(tiny_manifest: Path, tmp_path: Path) -> None:
    from mmedrag.encoders.hashing import HashEncoder
    from mmedrag.indexing import build_index
    from mmedrag.io.manifest import read_manifest
    from mmedrag.retrieval.retriever import Retriever
    from mmedrag.stores.index import FolderIndex

    encoder = HashEncoder(32)
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", encoder, store="exact")
    retriever = Retriever(FolderIndex.load(tmp_path / "idx"), encoder)
    pipeline = RAGPipeline(ExtractiveGenerator(), Bundle(retriever=retriever, retrieval_mode="text"))
    questions = [
        Question(
            id="q1",
            question="Is there a ring-enhancing lesion in the right frontal lobe?",
            answer="yes",
            image_path=None,
            task="closed",
            metadata={"relevant_ids": ["r4"]},
        ),
        Question(
            id="q2",
            question="Is there optic disc cupping?",
            answer="yes",
            image_path=None,
            task="closed",
            metadata={"relevant_ids": ["r5"]},
        ),
    ]
    results = evaluate(pipeline, [replace(q) for q in questions], tmp_path / "out", EvalSettings(bootstrap=20))
    retrieval = results["summary"]["retrieval"]
    assert retrieval["n"] == 2 and retrieval["recall@1"] == 1.0 and retrieval["mrr"] == 1.0


def test_questions_asked_without_their_images_on_purpose_are_answered(tmp_path: Path) -> None:
    """``images=False`` (IU-Xray: images absent) answers "... on the chest X-ray?" from the reports, text-only; the
    same questions without images asked of the pipeline directly abstain."""
    questions = [
        replace(q, question=q.question.replace("?", " on the chest X-ray?")) for q in closed_questions(tmp_path, n=4)
    ]
    pipeline = RAGPipeline(generator=ExtractiveGenerator())
    results = evaluate(pipeline, questions, tmp_path / "out", EvalSettings(references="gold_report", images=False))
    assert results["summary"]["tasks"]["closed"]["accuracy"] == 1.0
    assert pipeline.answer(Query(text=questions[0].question)).trace["abstained"]


def report_questions(n: int = 4) -> list[Question]:
    return [
        Question(f"r{i}", "Describe the image.", f"Heart size normal. Lungs clear {i}.", image_path=None, task="report")
        for i in range(n)
    ]


def _answer_file(path: Path, answers: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "answer": a}) + "\n" for i, a in answers.items()))
    return path


@needs("pycocoevalcap", "eval")
def test_bootstrap_zero_means_no_intervals_on_every_task(tmp_path: Path) -> None:
    questions = [*closed_questions(tmp_path, 4), *report_questions()]
    answers = _answer_file(
        tmp_path / "a.jsonl", {q.id: "Yes." if q.task == "closed" else "Heart normal." for q in questions}
    )
    settings = EvalSettings(bootstrap=0, report_metrics=("bleu", "rouge_l"), tokenizer="python")
    results = evaluate(None, questions, tmp_path / "out", settings, answers=answers)
    tasks = results["summary"]["tasks"]
    assert tasks["report"]["n"] == 4 and tasks["report"]["bleu_1"] > 0
    assert not [k for task in tasks.values() for k in task if k.endswith("_ci")]
    assert "no intervals" in (tmp_path / "out" / "results.md").read_text()


@needs("pycocoevalcap", "eval")
def test_results_name_their_protocol_and_compare_refuses_mixed_protocols(tmp_path: Path) -> None:
    questions = report_questions()
    answers = _answer_file(tmp_path / "a.jsonl", {q.id: "Heart size normal." for q in questions})
    for name, protocol in (("coco", "coco"), ("coco2", "coco"), ("nltk", "nltk")):
        settings = EvalSettings(bootstrap=0, report_metrics=("bleu",), metrics_protocol=protocol, tokenizer="python")
        results = evaluate(None, questions, tmp_path / name, settings, answers=answers)
        saved = json.loads((tmp_path / name / "results.json").read_text())
        assert saved["metrics_protocol"] == protocol == results["summary"]["tasks"]["report"]["metrics_protocol"]
        assert f"protocol: {protocol}" in (tmp_path / name / "results.md").read_text()
    assert compare(tmp_path / "coco", tmp_path / "coco2", samples=100)["metrics_protocol"] == "coco"
    with pytest.raises(DataError, match="protocol 'coco'.*'nltk'"):
        compare(tmp_path / "coco", tmp_path / "nltk")


def test_unparsable_gold_labels_are_listed_and_the_reference_scorer_row_shown(tmp_path: Path) -> None:
    questions = closed_questions(tmp_path)
    questions[0] = replace(questions[0], answer="Cannot be determined.")  # not a yes/no gold label
    answers = _answer_file(tmp_path / "a.jsonl", {q.id: "unknown" if i < 2 else "No." for i, q in enumerate(questions)})
    results = evaluate(None, questions, tmp_path / "out", EvalSettings(bootstrap=0), answers=answers)
    closed = results["summary"]["tasks"]["closed"]
    assert (closed["n"], closed["questions"], closed["unparsable_gold"]) == (7, 8, 1)
    listed = [json.loads(line) for line in (tmp_path / "out" / "unparsable_gold.jsonl").open()]
    assert listed == [{"id": "q0", "question": questions[0].question, "gold": "Cannot be determined."}]
    # the reference scorer reads "unknown" as yes and the unparsable gold label as yes: every question counts
    assert closed["cares"]["n"] == 8 and closed["cares"]["tp"] == 2
    table = (tmp_path / "out" / "results.md").read_text()
    assert "reference scorer (CARES" in table and "n = 7 of 8 questions" in table and "unparsable_gold.jsonl" in table
