"""What every reader returns: the records, the questions, and the per-item errors it skipped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmedrag.errors import DataError
from mmedrag.types import Question, Record


@dataclass
class Dataset:
    """Records (knowledge-base cases) and questions read from one source, plus what could not be read."""

    name: str
    records: list[Record] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)
    skipped: int = 0
    """Entries left out on purpose (e.g. descriptions whose image is not part of this copy), not errors."""

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "records": len(self.records),
            "questions": len(self.questions),
            "errors": len(self.errors),
            "skipped": self.skipped,
        }


ReaderFn = Callable[..., Dataset]
"""``reader(source: Path, **options) -> Dataset``; options differ per format (image_root, splits, ...)."""
