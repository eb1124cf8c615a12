"""``mmedrag`` command line: ``main(argv) -> int``; one module per verb."""

from __future__ import annotations

import argparse
import os
import sys

from mmedrag.cli.ask import AskCommand
from mmedrag.cli.base import Command
from mmedrag.cli.calibrate import CalibrateCommand
from mmedrag.cli.compare import CompareCommand
from mmedrag.cli.data import DataCommand
from mmedrag.cli.demo import DemoCommand
from mmedrag.cli.env import EnvCommand
from mmedrag.cli.evaluate import EvaluateCommand
from mmedrag.cli.guard import run_guarded, split_debug, undecodable_argument
from mmedrag.cli.index import IndexCommand
from mmedrag.cli.ingest import IngestCommand
from mmedrag.cli.kg import KgCommand
from mmedrag.cli.prefs import PrefsCommand
from mmedrag.cli.route import RouteCommand
from mmedrag.cli.search import SearchCommand
from mmedrag.cli.serve import ServeCommand
from mmedrag.cli.train_dpo import TrainDPOCommand
from mmedrag.cli.train_retriever import TrainRetrieverCommand
from mmedrag.cli.train_router import TrainRouterCommand
from mmedrag.cli.validate import ValidateCommand

COMMANDS: tuple[Command, ...] = (
    IngestCommand(),
    ValidateCommand(),
    IndexCommand(),
    SearchCommand(),
    AskCommand(),
    CalibrateCommand(),
    EvaluateCommand(),
    CompareCommand(),
    PrefsCommand(),
    TrainDPOCommand(),
    TrainRetrieverCommand(),
    TrainRouterCommand(),
    RouteCommand(),
    DemoCommand(),
    ServeCommand(),
    EnvCommand(),
    DataCommand(),
    KgCommand(),
)


def build_parser() -> argparse.ArgumentParser:
    from mmedrag import __version__

    parser = argparse.ArgumentParser(
        prog="mmedrag",
        description="Multimodal retrieval-augmented generation for medical vision-language models.",
        epilog="Run `mmedrag VERB --help` for the options of each verb.",
    )
    parser.add_argument("--version", action="version", version=f"mmedrag {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    for command in COMMANDS:
        sub = verbs.add_parser(
            command.name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Nothing may reach the Hugging Face hub unless the user allows it: offline is the safe default here.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # mmedrag draws its own progress bars; the library's per-model "Loading weights" bars are noise in logs.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    argv, debug = split_debug(sys.argv[1:] if argv is None else argv)
    bad = undecodable_argument(argv)
    if bad is not None:
        print(f"mmedrag: error: argument {bad!r} is not UTF-8 text; re-type it or fix the locale", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 2
    return run_guarded(args.verb, argv, lambda: args.command.run(args), debug=debug)


__all__ = ["COMMANDS", "main"]
