"""What readers produce: a stream of records, questions and per-item errors, and the :class:`Dataset` that
collects one.

Readers are generators, so ingestion streams: memory does not grow with the corpus. A reader yields a
:class:`~mmedrag.errors.DataError` for an item it cannot read (and goes on), and a :class:`SkippedItem` for one it
leaves out on purpose (e.g. a description whose image is not part of this copy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.types import Question, Record

Item = Record | Question | DataError


class SkippedItem(DataError):
    """An entry left out on purpose, counted but not an error; ``reason`` is a short category for the summary
    ("repeated SOP Instance UID"), the message names the item."""

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ReaderSpec:
    """A registered reader: ``read(source, **options)`` yields items; ``detect(path)`` says whether it applies."""

    name: str
    read: Callable[..., Iterator[Item]]
    detect: Callable[[Path], bool]
    description: str


@dataclass
class Dataset:
    """Records (knowledge-base cases) and questions read from one source, plus what could not be read."""

    name: str
    records: list[Record] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    errors: list[DataError] = field(default_factory=list)
    skipped: int = 0

    @classmethod
    def collect(cls, name: str, items: Iterable[Item]) -> Dataset:
        dataset = cls(name=name)
        for item in items:
            if isinstance(item, Record):
                dataset.records.append(item)
            elif isinstance(item, Question):
                dataset.questions.append(item)
            elif isinstance(item, SkippedItem):
                dataset.skipped += 1
            else:
                dataset.errors.append(item)
        return dataset

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "records": len(self.records),
            "questions": len(self.questions),
            "errors": len(self.errors),
            "skipped": self.skipped,
        }
