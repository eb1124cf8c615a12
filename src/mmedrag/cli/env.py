"""``mmedrag env``: versions and capabilities, for bug reports."""

from __future__ import annotations

import argparse

from mmedrag.cli.base import Command, add_json_flag, emit_json


class EnvCommand(Command):
    name = "env"
    help = "print versions, installed extras and devices (paste into bug reports)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_json_flag(parser)

    def run(self, args: argparse.Namespace) -> int:
        from mmedrag.envinfo import environment_report

        report = environment_report()
        if args.json:
            emit_json(report)
            return 0
        for section, values in report.items():
            print(f"{section}:")
            for key, value in values.items():
                print(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
        return 0
