from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from mmedrag._optional import available
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import ConfigError
from mmedrag.evaluation.calibration import run_calibration
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.generation.base import approx_token_count
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.context import CalibratedK
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Generation, Prompt, Query, Question


class NeedsTwoReferences:
    """Right ("yes", the gold answer) only with at least two references: the risk is 1 for k < 2, 0 from k = 2."""

    name = "needs-two"

    def __init__(self) -> None:
        self.generated = 0

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.generated += len(prompts)
        return [Generation(text="Yes." if len(p.references) >= 2 else "unknown") for p in prompts]

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


@pytest.fixture
def setup(tiny_manifest: Path, hash_encoder: HashEncoder) -> tuple[RAGPipeline, list[Question]]:
    build_index(read_manifest(tiny_manifest), tiny_manifest.parent / "idx", hash_encoder, store="exact")
    retriever = Retriever(FolderIndex.load(tiny_manifest.parent / "idx"), hash_encoder)
    questions = [
        Question(id=f"q{i}", question=f"Is there finding {i}?", answer="yes", image_path=None, task="closed")
        for i in range(60)
    ]
    return RAGPipeline(NeedsTwoReferences(), Bundle(retriever=retriever)), questions


def test_calibration_certifies_the_k_values_that_work_and_caches_answers(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    result = run_calibration(
        pipeline, questions, [0, 1, 2, 3], alpha=0.2, delta=0.1, out_dir=tmp_path, gammas=[0.0, 10.0]
    )
    assert result.risks == {0: 1.0, 1: 1.0, 2: 0.0, 3: 0.0}
    assert result.certified == [2, 3] and result.k_star == 2
    plot = {"calibration.png"} if available("matplotlib") else set()  # the plot needs the eval extra
    assert {p.name for p in tmp_path.iterdir()} >= {"calibration.json", "calibration.md", "answers.sqlite", *plot}
    first_run = pipeline.generator.generated
    again = run_calibration(pipeline, questions, [0, 1, 2, 3], alpha=0.2, delta=0.1, out_dir=tmp_path)
    assert pipeline.generator.generated == first_run and again.meta["cache"]["misses"] == 0
    # gamma=0 cuts at the first drop (one reference: always wrong here); gamma=10 keeps every positive hit
    assert result.meta["gamma_accuracy"][0.0] == 0.0 < result.meta["gamma_accuracy"][10.0]
    assert result.meta["best_gamma"] == 10.0


def test_calibrated_selector_uses_k_star_or_abstains(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    run_calibration(pipeline, questions, [1, 2], alpha=0.2, delta=0.1, out_dir=tmp_path / "ok")
    pipeline.default.selector = CalibratedK(str(tmp_path / "ok" / "calibration.json"))
    answer = pipeline.answer(Query(text="Is there a finding?"))
    assert answer.trace["selector"]["cut"] == 2 and answer.trace["selector"]["k_star"] == 2
    pipeline.default.selector = CalibratedK(str(tmp_path / "ok" / "calibration.json"), k=1)  # the config's k caps k*
    capped = pipeline.answer(Query(text="Is there a finding?"))
    assert capped.trace["selector"]["cut"] == 1 and capped.trace["selector"]["k_star"] == 2
    assert pipeline.default.selector.max_k == 1
    run_calibration(pipeline, questions, [0, 1], alpha=0.2, delta=0.1, out_dir=tmp_path / "none")
    pipeline.default.selector = CalibratedK(str(tmp_path / "none" / "calibration.json"))
    abstained = pipeline.answer(Query(text="Is there a finding?"))
    assert abstained.text == "unknown" and "no k certified" in abstained.trace["abstained"]
    pipeline.default.selector = CalibratedK(str(tmp_path / "none" / "calibration.json"), on_uncertified="no_retrieval")
    assert pipeline.answer(Query(text="Is there a finding?")).trace["selector"]["cut"] == 0


def test_cli_calibrate_writes_the_result(
    setup, tiny_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, questions = setup
    write_questions_jsonl(questions, tmp_path / "q.jsonl")
    code = main(
        [
            "calibrate",
            "--questions",
            str(tmp_path / "q.jsonl"),
            "--index",
            str(tiny_manifest.parent / "idx"),
            "--alpha",
            "0.3",
            "--candidates",
            "0,1,2",
            "--out",
            str(tmp_path / "cal"),
            "--json",
        ]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["candidates"] == [0, 1, 2] and "k_star" in data
    with pytest.raises(ConfigError):
        run_calibration(setup[0], questions, [], alpha=0.2, delta=0.1, out_dir=tmp_path / "x")
