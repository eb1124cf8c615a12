"""Deterministic fakes for unit tests (never shipped in the package)."""

from __future__ import annotations

from collections.abc import Sequence

from mmedrag.generation.base import approx_token_count
from mmedrag.types import Generation, Prompt


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
