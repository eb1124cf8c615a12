"""The generator protocol every backend satisfies, and the token counter used where no tokenizer exists."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from mmedrag.backends import GENERATORS
from mmedrag.registry import Spec
from mmedrag.types import Generation, Prompt

_TOKEN = re.compile(r"\w+|[^\w\s]")


@runtime_checkable
class Generator(Protocol):
    """Turns rendered prompts into answers. Backends batch internally and decode greedily by default.

    ``count_tokens`` lets the prompt builder keep references inside a token budget with the backend's own tokenizer.
    """

    name: str

    def generate(self, prompts: Sequence[Prompt]) -> list[Generation]: ...

    def count_tokens(self, text: str) -> int: ...


def approx_token_count(text: str) -> int:
    """Words and punctuation marks: close to (slightly under) a BPE count for English report text."""
    return len(_TOKEN.findall(text))


def create_generator(spec: Spec, **overrides: Any) -> Generator:
    """Build the generator ``spec`` names (:data:`mmedrag.backends.GENERATORS`); ``overrides`` win over the spec.

    Example:
        >>> create_generator("extractive").name
        'extractive'
    """
    generator: Generator = GENERATORS.create(spec, **overrides)
    return generator
