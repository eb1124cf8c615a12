"""The pipeline flags, written once for every verb that builds a pipeline or a retriever from a config.

``ask``, ``search``, ``serve``, ``evaluate``, ``calibrate`` and ``prefs`` take ``--config``, ``--set``, ``--index``
(and, where they generate, ``--generator``, ``--router``, ``-k``) here, with one validation each, and turn them into
the dotted ``values`` of :func:`mmedrag.config.load_config` (explicit flags win over the YAML and ``--set``). Verbs
that take a query (``ask``, ``search``) add the retrieval flags of :mod:`mmedrag.cli.query_args`, which map here too.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.query_args import add_scope_flag

if TYPE_CHECKING:
    from mmedrag.config import PipelineConfig

# argparse destination -> the config key it sets (only flags the verb has and the user gave are set).
FLAG_KEYS = {
    "index": "index",
    "encoder": "encoder",
    "generator": "generator",
    "router": "router.path",
    "k": "selector.k",
    "mode": "retrieval.mode",
    "filter_domain": "retrieval.domain",
    "filter_modality": "retrieval.modality",
    "filter_split": "retrieval.split",
    "answer_weak": "answers.answer_weak",
    "knowledge": "prompt.knowledge",
}


def add_pipeline_arguments(
    parser: argparse.ArgumentParser,
    generation: bool = True,
    guard_flag: bool = True,
    k: bool = True,
    scope: bool = True,
    answer_weak: bool = False,
) -> None:
    """The pipeline group.

    Args:
        generation: add ``--generator`` and ``--router``.
        guard_flag: add ``--no-near-duplicate-guard`` (verbs with query flags have it there already).
        k: with ``generation``, add ``-k`` (references given to the generator; a verb with its own ``-k`` says no,
            and leaves ``selector.k`` out of :func:`config_from_args`).
        scope: add ``--no-scope-check`` (the in-scope check of query images).
        answer_weak: add ``--answer-weak`` (what a weakly supported answer does).
    """
    group = parser.add_argument_group("pipeline")
    group.add_argument("--config", help="pipeline YAML (see configs/)")
    group.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. selector.k=5"
    )
    group.add_argument(
        "--index",
        help="index: a folder, a folder pointing to Milvus, or milvus:URI|collection=NAME (overrides the config)",
    )
    if generation:
        group.add_argument("--generator", help="extractive | hf:FOLDER_OR_HUB_ID | openai:MODEL@BASE_URL")
        group.add_argument("--router", help="domain router: a `mmedrag train-router` folder or zero_shot:ENCODER")
        group.add_argument(
            "--knowledge",
            metavar="GRAPH",
            help="explain the question's terms from a concept graph: hpo (Human Phenotype Ontology, the kg extra) or "
            "a `mmedrag kg build` file",
        )
        if k:
            group.add_argument("-k", type=argtype.top_k, help="number of references given to the generator")
    if answer_weak:
        group.add_argument(
            "--answer-weak",
            choices=("abstain", "lean"),
            help="weakly supported answers (similar cases' silence, disagreeing references): abstain and say why "
            "(default) or give the leaning answer graded weak",
        )
    if scope:
        add_scope_flag(group)
    if guard_flag:
        group.add_argument(
            "--no-near-duplicate-guard",
            action="store_true",
            help="let retrieval return near copies (re-encodes, resizes, crops) of a question's image; only "
            "pixel-identical copies are then excluded (same as --set retrieval.near_duplicate_guard=false)",
        )


def pipeline_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the verb's flags set (dotted), for :func:`mmedrag.config.load_config`'s ``values``."""
    given = vars(args)
    values: dict[str, Any] = {key: given[dest] for dest, key in FLAG_KEYS.items() if given.get(dest) is not None}
    if given.get("no_leakage_guard"):
        values["retrieval.leakage_guard"] = False
    if given.get("no_near_duplicate_guard"):
        values["retrieval.near_duplicate_guard"] = False
    if given.get("no_scope_check"):
        values["scope_check"] = False
    return values


def config_from_args(args: argparse.Namespace, without: tuple[str, ...] = ()) -> PipelineConfig:
    """The checked config: defaults < ``--config`` < ``--set`` < the verb's flags (``without``: keys it uses
    itself, e.g. ``search``'s ``-k``, which is a result count, not the selector's)."""
    from mmedrag.config import load_config

    values = {key: value for key, value in pipeline_values(args).items() if key not in without}
    return load_config(args.config, args.set, values)
