"""Deterministic fakes for unit tests (never shipped in the package)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from conftest import make_image
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.generation.base import approx_token_count
from mmedrag.indexing import build_index
from mmedrag.io.manifest import read_manifest
from mmedrag.pipeline import Bundle, RAGPipeline
from mmedrag.retrieval.retriever import Retriever
from mmedrag.stores.index import FolderIndex
from mmedrag.types import Generation, Prompt, Question


class EchoGenerator:
    """Answers with the question, the task and the record ids of the references it was shown."""

    name = "echo"

    def __init__(self) -> None:
        self.calls: list[list[Prompt]] = []

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]:
        self.calls.append(list(prompts))
        return [
            Generation(
                text=f"{p.task}|{p.question}|" + ",".join(r.record_id for r in p.references),
                prompt_tokens=approx_token_count(p.text),
            )
            for p in prompts
        ]

    def count_tokens(self, text: str) -> int:
        return approx_token_count(text)


BEHAVIOUR = {
    # question word: (clean, noise, clean + refs, noise + refs) -> says "yes" (the gold answer) or not
    "copier": (True, True, True, True),  # answers right even on noise with refs: cross-modality
    "hurt": (True, True, False, False),  # right alone, misled by references: retrieval hurts
    "helped": (False, False, True, False),  # wrong alone, right with references (on the real image): helps
    "looker": (True, False, True, False),  # needs the real image: stage-1 pair (clean right, noise wrong)
}


class ScriptedVLM:
    """Answers by a script keyed on a word of the question: right or wrong per (noise image?, references?)."""

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


def mining_setup(tiny_manifest: Path, hash_encoder: HashEncoder, tmp_path: Path) -> tuple[RAGPipeline, list[Question]]:
    """An index of the tiny corpus, a scripted generator, and 12 questions (3 per behaviour) with their images."""
    build_index(read_manifest(tiny_manifest), tmp_path / "idx", hash_encoder, store="exact")
    retriever = Retriever(FolderIndex.load(tmp_path / "idx"), hash_encoder)
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
    return RAGPipeline(ScriptedVLM(), Bundle(retriever=retriever)), questions
