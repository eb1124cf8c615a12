"""Question sets for evaluation and calibration: read from any reader that yields questions, or a JSONL file of
``{id, question, answer, image_path, task, ...}`` objects, filtered by split and task."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.io.atomic import atomic_open
from mmedrag.types import TASKS, Question

_QUESTION_FIELDS = set(Question.__dataclass_fields__)


def read_questions_jsonl(path: Path) -> list[Question]:
    """A JSONL file of questions; each bad line is an error naming the file and line."""
    questions = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
                if not isinstance(data, dict):
                    raise DataError(f"expected a JSON object, got {type(data).__name__}")
                unknown = set(data) - _QUESTION_FIELDS
                if unknown:
                    raise DataError(f"unknown field(s) {sorted(unknown)}")
                if data.get("task") not in TASKS:
                    raise DataError(f"task must be one of {TASKS}")
                questions.append(Question(**data))
            except (UnicodeDecodeError, RecursionError, json.JSONDecodeError, TypeError, DataError) as exc:
                raise DataError(f"{path}:{number}: not a question ({exc})") from exc
    return questions


def write_questions_jsonl(questions: Iterable[Question], path: str | Path) -> None:
    with atomic_open(path) as handle:
        for question in questions:
            data: dict[str, Any] = {name: getattr(question, name) for name in sorted(_QUESTION_FIELDS)}
            data["metadata"] = dict(question.metadata)
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")


def load_questions(
    source: str | Path,
    fmt: str = "auto",
    split: str | None = None,
    task: str | None = None,
    limit: int | None = None,
    **options: Any,
) -> list[Question]:
    """Questions from ``source`` (a questions JSONL, or a dataset a reader turns into questions)."""
    path = Path(source)
    if fmt == "questions" or (fmt == "auto" and path.suffix == ".jsonl" and _looks_like_questions(path)):
        questions = read_questions_jsonl(path)
    else:
        from mmedrag.io.readers import read_source

        questions = read_source(path, fmt, **options).questions
    chosen = [q for q in questions if (split is None or q.split == split) and (task is None or q.task == task)]
    if not chosen:
        raise DataError(f"{source}: no questions (split={split}, task={task}); check the source and the filters")
    return chosen[:limit] if limit else chosen


def _looks_like_questions(path: Path) -> bool:
    with path.open("rb") as handle:
        first = next((line for line in handle if line.strip()), b"{}")
    try:
        data = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and {"question", "answer", "task"} <= set(data) and set(data) <= _QUESTION_FIELDS
