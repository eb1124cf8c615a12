"""``mmedrag ask``: the whole pipeline for one image and question; prints the answer and the cases it cites."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json
from mmedrag.cli.query_args import add_query_arguments, add_scope_flag, query_from_args


class AskCommand(Command):
    name = "ask"
    help = "answer a question about an image with retrieval-augmented generation"
    description = """Retrieve similar cases, build the prompt and generate an answer. Without --index the
generator answers without retrieval. The default generator is the extractive CPU-only answerer; use
--generator hf:FOLDER for a local VLM (MedGemma, Qwen2.5-VL, LLaVA) or openai:MODEL@URL for a vLLM server.

examples:
  mmedrag ask --index idx/medpix --image scan.png --question "Is there a mass in the liver?"
  mmedrag ask --index idx/medpix --image scan.png --question "..." --generator hf:/models/medgemma-4b-it --json
  mmedrag ask --config pipeline.yaml --image cxr.png --question "..." --set selector.k=5"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--question", default="", help="the question; empty asks for a report")
        parser.add_argument("--index", help="index folder (omit to answer without retrieval)")
        parser.add_argument("--config", help="pipeline YAML (see configs/)")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config value, e.g. selector.k=5 (repeatable)",
        )
        parser.add_argument("--generator", help="extractive | hf:FOLDER_OR_HUB_ID | openai:MODEL@BASE_URL")
        parser.add_argument("--router", help="domain router: a `mmedrag train-router` folder or zero_shot:ENCODER")
        parser.add_argument("-k", type=argtype.top_k, help="number of references given to the generator")
        add_scope_flag(parser)
        add_query_arguments(parser)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.config import load_config
        from mmedrag.factory import build_pipeline

        flags = {
            "index": args.index,
            "generator": args.generator,
            "router.path": args.router,
            "selector.k": args.k,
            "retrieval.mode": args.mode,
            "retrieval.domain": args.filter_domain,
            "retrieval.modality": args.filter_modality,
            "retrieval.split": args.filter_split,
            "retrieval.leakage_guard": False if args.no_leakage_guard else None,
            "retrieval.near_duplicate_guard": False if args.no_near_duplicate_guard else None,
            "scope_check": False if args.no_scope_check else None,
        }
        values = {key: value for key, value in flags.items() if value is not None}
        pipeline = build_pipeline(load_config(args.config, args.set, values))
        answer = pipeline.answer(query_from_args(args, args.question))
        if args.json:
            emit_json(answer.to_dict())
            return 0
        print(f"answer: {answer.text}")
        route = answer.trace.get("route") or {}
        probability = f", p={route['probability']:.3f}" if route.get("probability") is not None else ""
        print(
            f"domain: {answer.domain} ({answer.trace['domain_source']}{probability}), task: {answer.task}, "
            f"k: {answer.context.k}"
        )
        for number, hit in enumerate(answer.context.hits, start=1):
            print(f"  [{number}] {hit.record.id}  score {hit.score:.4f}  {hit.record.first_line[:100]}")
        return 0
