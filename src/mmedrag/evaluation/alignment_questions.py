"""Closed questions from RULE's preference pairs: the development set for the extractive answerer.

RULE (EMNLP 2024) publishes ``rule_alignment.json``: closed questions about IU-Xray images of its *val* split
(method.md §7.5: preference mining and calibration, never evaluation), each with the reference report the model
was shown (a retrieved report of another patient) and a chosen (correct) and rejected answer. The chosen answer
is the ground truth. Each pair becomes a :class:`~mmedrag.types.Question` carrying

* ``metadata["gold_report"]``: the image's own report from ``retriever_val.json`` (the ceiling condition), and
* ``metadata["reference_reports"]``: the retrieved report in the prompt (the analogue of the authors' top-1 file),

so ``evaluate(..., EvalSettings(references=...))`` runs it exactly as it runs the test file. Labels: the chosen
answer parsed by :func:`~mmedrag.evaluation.closed.parse_yes_no`; when it does not parse ("The chest X-ray shows
..."), the opposite of the rejected answer; pairs where neither decides, or both say the same, are dropped.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mmedrag.errors import DataError
from mmedrag.evaluation.closed import YesNo, parse_yes_no
from mmedrag.io.readers.mmed_rag import clean_question
from mmedrag.types import Question

_REFERENCE = re.compile(r"reference report\(s\):\s*(.*?)\n\s*Please answer", re.S)
_QUESTION = re.compile(r"Question:\s*(.*)$", re.S)


def _label(chosen: str, rejected: str) -> YesNo | None:
    good, bad = parse_yes_no(chosen), parse_yes_no(rejected)
    if good is not None:
        return None if bad == good else good
    if bad is not None:
        return "no" if bad == "yes" else "yes"
    return None


def _gpt_turn(turns: list[dict[str, Any]]) -> str:
    return next((str(t["value"]) for t in turns if t.get("from") == "gpt"), "")


def load_alignment_questions(path: str | Path, gold_reports: str | Path | None = None) -> list[Question]:
    """RULE alignment pairs as closed questions (see the module docstring).

    Args:
        path: ``rule_alignment.json``.
        gold_reports: the MMed-RAG/RULE report list holding these images (default: ``retriever_val.json`` beside
            ``path``).

    Raises:
        DataError: a file is missing or not in the RULE format.
    """
    path = Path(path)
    reports_path = Path(gold_reports) if gold_reports else path.with_name("retriever_val.json")
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))
        reports = {str(e["id"]): str(e["report"]) for e in json.loads(reports_path.read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read RULE alignment data {path} / {reports_path}: {exc}") from exc
    questions: list[Question] = []
    for number, pair in enumerate(pairs, start=1):
        try:
            prompt = next(str(t["value"]) for t in pair["conversations"] if t.get("from") == "human")
            label = _label(_gpt_turn(pair["conversations"]), _gpt_turn(pair["rejected_conversations"]))
            study = str(pair["image"]).split("/")[0]
        except (KeyError, TypeError, StopIteration) as exc:
            raise DataError(f"{path}: pair {number} is not a RULE preference pair ({exc})") from exc
        reference, asked = _REFERENCE.search(prompt), _QUESTION.search(prompt)
        if label is None or reference is None or asked is None or study not in reports:
            continue
        questions.append(
            Question(
                id=f"rule:{number}",
                question=clean_question(asked.group(1)),
                answer=label,
                image_path=None,
                task="closed",
                domain="radiology",
                modality="xray",
                study_id=study.split("_")[0],
                split="val",
                source=path.stem,
                metadata={"gold_report": reports[study], "reference_reports": [reference.group(1).strip()]},
            )
        )
    return questions
