"""The command interface: each CLI verb is a small adapter over a public library function.

Heavy libraries are imported inside ``run`` so that ``mmedrag --help`` stays instant (TRL's CLI does the same).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from abc import ABC, abstractmethod
from typing import Any


class Command(ABC):
    name: str
    help: str
    description: str = ""

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int: ...


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of text")


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for people: never with --json, never when stderr is not a terminal."""
    return not getattr(args, "json", False) and sys.stderr.isatty()


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def speaks(device: str = "auto") -> bool:
    """Whether this process prints. Under `accelerate launch` only the main one does: the others' output, warnings
    included, would repeat it n times."""
    from mmedrag.training.workers import current_workers

    main = current_workers(device).main
    if not main:
        warnings.simplefilter("ignore")
    return main


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
