from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import make_image
from mmedrag.cli import main
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.errors import DataError
from mmedrag.evaluation.questions import write_questions_jsonl
from mmedrag.generation.base import approx_token_count
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.pipeline import RAGPipeline
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import KnowledgeIndex
from mmedrag.training.preferences import MiningSettings, balance, mine_preferences
from mmedrag.types import Generation, Prompt, Question

BEHAVIOUR = {
    # question word: (clean, noise, clean + refs, noise + refs) -> says "yes" (the gold answer) or not
    "copier": (True, True, True, True),  # answers right even on noise with refs: cross-modality
    "hurt": (True, True, False, False),  # right alone, misled by references: retrieval hurts
    "helped": (False, False, True, False),  # wrong alone, right with references (on the real image): helps
    "looker": (True, False, True, False),  # needs the real image: stage-1 pair (clean right, noise wrong)
}


class ScriptedVLM:
    name = "scripted"

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        out = []
        for p in prompts:
            gray = np.asarray(p.images[0].convert("L"), dtype=float)
            noise = np.abs(np.diff(gray, axis=1)).mean() > 30
            word = next(w for w in BEHAVIOUR if w in p.question)
            right = BEHAVIOUR[word][(2 if p.references else 0) + (1 if noise else 0)]
            out.append(Generation(text=f"Yes, {word}." if right else f"No, {word}."))
        return out

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


@pytest.fixture
def setup(tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path) -> tuple[RAGPipeline, list[Question]]:
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store="exact")
    retriever = Retriever(KnowledgeIndex.load(tmp_path / "idx"), hash_encoder)
    questions = []
    for i, word in enumerate([w for w in BEHAVIOUR for _ in range(3)]):
        make_image(100 + i, size=(64, 64)).save(tmp_path / f"q{i}.png")
        questions.append(
            Question(
                id=f"q{i}",
                question=f"Is this the {word} finding?",
                answer="yes",
                image_path=str(tmp_path / f"q{i}.png"),
                task="closed",
                split="mining",
            )
        )
    return RAGPipeline(generator=ScriptedVLM(), retriever=retriever), questions


def test_each_behaviour_yields_its_pair_type(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    report = mine_preferences(pipeline, questions, tmp_path / "prefs", MiningSettings(ratio=None, stage1=True))
    assert report.found == {"cross_modality": 3, "retrieval_helps": 3, "retrieval_hurts": 3, "stage1": 3}
    pairs = [json.loads(line) for line in (tmp_path / "prefs" / "prefs.jsonl").open()]
    by_type = {kind: [p for p in pairs if p["pair_type"] == kind] for kind in report.found}
    cross = by_type["cross_modality"][0]
    assert cross["chosen"][0]["content"][0]["text"].startswith("Yes") and cross["rejected_images"][0].startswith(
        "noise/"
    )
    assert (tmp_path / "prefs" / cross["rejected_images"][0]).is_file()
    assert any(part.get("type") == "image" for part in cross["prompt"][0]["content"])
    assert "[1] (case" in cross["prompt"][0]["content"][-1]["text"]  # the RAG prompt, with its reference
    hurt = by_type["retrieval_hurts"][0]
    assert (
        hurt["chosen"][0]["content"][0]["text"] == "Yes, hurt."
        and hurt["rejected"][0]["content"][0]["text"] == "No, hurt."
    )
    assert hurt["rejected_images"] is None
    stage1 = by_type["stage1"][0]
    assert "[1] (case" not in stage1["prompt"][0]["content"][-1]["text"] and stage1["rejected_images"]
    summary = json.loads((tmp_path / "prefs" / "summary.json").read_text())
    assert summary["written"] == report.written


def test_ground_truth_chosen_and_balancing(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    report = mine_preferences(pipeline, questions, tmp_path / "p", MiningSettings(chosen="ground_truth", ratio=0.5))
    assert report.written["cross_modality"] == 3  # 0.5 x (3 helps + 3 hurts)
    pairs = [json.loads(line) for line in (tmp_path / "p" / "prefs.jsonl").open()]
    assert all(p["chosen"][0]["content"][0]["text"] == "yes" for p in pairs)
    many = [{"id": f"c{i}", "pair_type": "cross_modality"} for i in range(10)] + [
        {"id": "h", "pair_type": "retrieval_helps"},
        {"id": "u", "pair_type": "retrieval_hurts"},
    ]
    kept = balance(many, 1.0, seed=3)
    assert sum(p["pair_type"] == "cross_modality" for p in kept) == 2 and kept == balance(many, 1.0, seed=3)


def test_questions_from_the_knowledge_base_split_are_refused_and_nothing_is_written(setup, tmp_path: Path) -> None:
    pipeline, questions = setup
    leaked = [replace(q, split="train") for q in questions[:2]]
    with pytest.raises(DataError, match="disjoint from the knowledge base"):
        mine_preferences(pipeline, leaked, tmp_path / "leak")
    assert not (tmp_path / "leak").exists() and not list(tmp_path.glob(".leak.*"))
    no_image = [Question(id="x", question="Is it?", answer="yes", image_path=None, task="closed")]
    with pytest.raises(DataError, match="have no image"):
        mine_preferences(pipeline, no_image, tmp_path / "x")


def test_cli_prefs_json(setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, questions = setup
    write_questions_jsonl(questions, tmp_path / "q.jsonl")
    code = main(
        [
            "prefs",
            "--questions",
            str(tmp_path / "q.jsonl"),
            "--index",
            str(tmp_path / "idx"),
            "--out",
            str(tmp_path / "cli"),
            "--json",
        ]
    )
    assert code == 0 and json.loads(capsys.readouterr().out)["questions"] == 12
