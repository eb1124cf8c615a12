"""``mmedrag route``: a router's probabilities and decision for one image (debugging)."""

from __future__ import annotations

import argparse

import mmedrag.cli.argtypes as argtype
from mmedrag.cli.base import Command, add_json_flag, emit_json


class RouteCommand(Command):
    name = "route"
    help = "show a router's probabilities and decision for one image (debugging)"
    description = """Run a router on one image and print every class probability and the decision, applying the
routing order: --domain (explicit) wins, then the router, then --default.

examples:
  mmedrag route --router routers/cnn --image chest.png
  mmedrag route --router zero_shot:biomedclip --image chart.png --json"""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--router", help="a router folder, or zero_shot:ENCODER_SPEC")
        parser.add_argument("--image", help="the query image")
        parser.add_argument("--domain", help="an explicit domain (wins over the router)")
        parser.add_argument("--default", help="the domain to use when there is no router or no image")
        parser.add_argument("--threshold", type=argtype.probability, help="override the router's abstention threshold")
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.io.images import load_image
        from mmedrag.routing import load_router, route

        overrides = {"threshold": args.threshold} if args.threshold is not None else {}
        router = load_router(args.router, **overrides) if args.router else None
        image = load_image(args.image) if args.image else None
        decision = route(args.domain, image, router, args.default)
        if args.json:
            emit_json(decision.to_dict())
            return 0
        for name, value in sorted(decision.probabilities.items(), key=lambda item: -item[1]):
            print(f"{name:14s} {value:.4f}")
        shown = decision.domain or "out of scope"
        print(f"decision: {shown} (source: {decision.source})")
        return 0
