"""Flags shared by the verbs that run a pipeline over a question set (``evaluate``, ``calibrate``, ``prefs``); the
pipeline flags themselves are :mod:`mmedrag.cli.pipeline_args`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import mmedrag.cli.argtypes as argtype

if TYPE_CHECKING:
    from mmedrag.types import Question


def add_question_arguments(parser: argparse.ArgumentParser, purpose: str) -> None:
    group = parser.add_argument_group("questions")
    group.add_argument("--questions", required=True, help=f"{purpose}: a dataset with questions, or a questions JSONL")
    group.add_argument("--format", default="auto", help="reader for --questions (default: detect)")
    group.add_argument("--split", help="only questions of this split")
    group.add_argument("--task", choices=("closed", "open", "report"), help="only questions of this task")
    group.add_argument("--limit", type=argtype.positive_int, help="only the first N questions")


def questions_from_args(args: argparse.Namespace) -> list[Question]:
    from mmedrag.evaluation.questions import load_questions

    return load_questions(args.questions, args.format, split=args.split, task=args.task, limit=args.limit)
