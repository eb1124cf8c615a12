"""``mmedrag compare``: a paired significance test between two ``mmedrag evaluate`` runs."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json


class CompareCommand(Command):
    name = "compare"
    help = "paired significance test between two `mmedrag evaluate` folders"
    description = """Join the two runs' per-question results by question id and report, per task, the mean score
difference B - A with a paired bootstrap 95% interval and an approximate-randomization p-value (questions must
match exactly, and both runs must have used the same report-metrics protocol, which results.json records).

example:
  mmedrag compare runs/no_retrieval runs/retrieval"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("a", help="baseline evaluation folder")
        parser.add_argument("b", help="evaluation folder to compare against it")
        parser.add_argument(
            "--samples", type=argtype.positive_int, default=10_000, help="randomization samples (default 10000)"
        )
        parser.add_argument("--seed", type=int, default=0)
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.evaluation.compare import compare

        result = compare(args.a, args.b, samples=args.samples, seed=args.seed)
        if args.json:
            emit_json(result)
            return 0
        for task, row in result["tasks"].items():
            print(
                f"{task} (n={row['n']}, score={row['score']}): A {row['mean_a']:.4f}, B {row['mean_b']:.4f}, "
                f"B-A {row['difference']:+.4f} [95% CI {row['ci95'][0]:+.4f}, {row['ci95'][1]:+.4f}], "
                f"p = {row['p_value']:.4g}"
            )
        return 0
