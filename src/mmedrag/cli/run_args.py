"""Flags shared by the verbs that run a pipeline over a question set (``evaluate``, ``calibrate``, ``prefs``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.query_args import add_scope_flag

if TYPE_CHECKING:
    from mmedrag.config import PipelineConfig
    from mmedrag.types import Question


def add_question_arguments(parser: argparse.ArgumentParser, purpose: str) -> None:
    group = parser.add_argument_group("questions")
    group.add_argument("--questions", required=True, help=f"{purpose}: a dataset with questions, or a questions JSONL")
    group.add_argument("--format", default="auto", help="reader for --questions (default: detect)")
    group.add_argument("--split", help="only questions of this split")
    group.add_argument("--task", choices=("closed", "open", "report"), help="only questions of this task")
    group.add_argument("--limit", type=argtype.positive_int, help="only the first N questions")


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("pipeline")
    group.add_argument("--config", help="pipeline YAML (see configs/pipeline.yaml)")
    group.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
    group.add_argument("--index", help="index folder (overrides the config)")
    group.add_argument("--generator", help="generator spec (overrides the config)")
    group.add_argument(
        "--no-near-duplicate-guard",
        action="store_true",
        help="let retrieval return near copies (re-encodes, resizes, crops) of a question's image; only "
        "pixel-identical copies are then excluded (same as --set retrieval.near_duplicate_guard=false)",
    )
    add_scope_flag(group)


def questions_from_args(args: argparse.Namespace) -> list[Question]:
    from mmedrag.evaluation.questions import load_questions

    return load_questions(args.questions, args.format, split=args.split, task=args.task, limit=args.limit)


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    from mmedrag.config import load_config

    values: dict[str, object] = {
        key: value for key, value in (("index", args.index), ("generator", args.generator)) if value
    }
    if getattr(args, "no_near_duplicate_guard", False):
        values["retrieval.near_duplicate_guard"] = False
    if getattr(args, "no_scope_check", False):
        values["scope_check"] = False
    return load_config(args.config, args.set, values)
