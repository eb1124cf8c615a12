"""``mmedrag ask``: the whole pipeline for one image and question; prints the answer and the cases it cites."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from mmedrag.cli.base import Command, add_json_flag, emit_json
from mmedrag.cli.pipeline_args import add_pipeline_arguments, config_from_args
from mmedrag.cli.query_args import add_query_arguments, query_from_args
from mmedrag.types import Answer


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
        add_pipeline_arguments(parser, guard_flag=False, answer_weak=True)
        add_query_arguments(parser)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.factory import build_pipeline

        pipeline = build_pipeline(config_from_args(args))
        answer = pipeline.answer(query_from_args(args, args.question))
        if args.json:
            emit_json(answer.to_dict())
            return 0
        print(f"answer: {answer.text}")
        print(f"evidence: {evidence_line(answer)}")
        if answer.note:
            print(f"note: {answer.note}")
        for concept in (answer.trace.get("prompt") or {}).get("knowledge", []):
            print(f'knowledge: {concept["name"]} ({concept["id"]}) <- "{concept["matched"]}" ({concept["relation"]})')
        route = answer.trace.get("route") or {}
        probability = f", p={route['probability']:.3f}" if route.get("probability") is not None else ""
        print(
            f"domain: {answer.domain} ({answer.trace['domain_source']}{probability}), task: {answer.task}, "
            f"k: {answer.context.k}"
        )
        for number, hit in enumerate(answer.context.hits, start=1):
            print(f"  [{number}] {hit.record.id}  score {hit.score:.4f}  {hit.record.first_line[:100]}")
        budget = budget_line(answer.trace)
        if budget:
            print(budget)
        return 0


def evidence_line(answer: Answer) -> str:
    """``supported, confidence 0.91 (calibrated)``: the grade and, when there is one, the confidence."""
    if answer.confidence is None:
        return answer.grade
    calibrated = "calibrated" if answer.confidence_calibrated else "uncalibrated"
    return f"{answer.grade}, confidence {answer.confidence:.2f} ({calibrated})"


def budget_line(trace: Mapping[str, Any]) -> str:
    """What the prompt's token budget did to the selected references, when it dropped or cut any."""
    prompt = trace.get("prompt") or {}
    account = prompt.get("references") or []
    dropped = sum(entry.get("status") == "dropped" for entry in account)
    cut = sum(entry.get("status") == "truncated" for entry in account)
    if not dropped and not cut:
        return ""
    return (
        f"token budget ({prompt.get('reference_budget')} tokens): {dropped} of {len(account)} selected reference(s) "
        f"dropped, {cut} cut short; raise prompt.max_reference_tokens (--set) to give the generator more"
    )
