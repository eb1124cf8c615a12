"""Argument types that check a flag's value where it is parsed, so a bad value is one ``usage`` line (exit 2).

argparse turns an ``ArgumentTypeError`` raised here into ``mmedrag VERB: error: argument -k: ...`` without a
traceback; every numeric flag of the CLI goes through one of these instead of a bare ``int`` or ``float``.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

MAX_K = 10_000  # more references or hits than any prompt or screen can use: a typo, refused rather than truncated


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def int_range(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An integer type bounded to ``low..high`` (either may be open)."""

    def parse(text: str) -> int:
        value = _parse_int(text)
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:,}, got {value:,}")
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid <name> value" messages
    return parse


positive_int = int_range(1)


def shard(text: str) -> tuple[int, int]:
    """``I/N`` -> (I, N): shard I of N, numbered from 1 (``--shard`` of evaluate, prefs and index)."""
    number, sep, count = text.partition("/")
    if not sep or not number.strip().isdigit() or not count.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected I/N, e.g. 1/4 (shards are numbered from 1), got {text!r}")
    value = (int(number), int(count))
    if not 1 <= value[0] <= value[1]:
        raise argparse.ArgumentTypeError(f"I must be between 1 and N, got {text!r}")
    return value


nonnegative_int = int_range(0)
top_k = int_range(1, MAX_K)


def float_range(
    low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False
) -> Callable[[str], float]:
    """A finite float bounded to ``low..high`` (NaN and infinities are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and (value < low or (low_open and value == low)):
            raise argparse.ArgumentTypeError(f"must be {'above' if low_open else 'at least'} {low}, got {value}")
        if high is not None and (value > high or (high_open and value == high)):
            raise argparse.ArgumentTypeError(f"must be {'below' if high_open else 'at most'} {high}, got {value}")
        return value

    parse.__name__ = "number"
    return parse


finite_float = float_range()
positive_float = float_range(0.0, low_open=True)
nonnegative_float = float_range(0.0)
probability = float_range(0.0, 1.0)
open_fraction = float_range(0.0, 1.0, low_open=True, high_open=True)


def output_file(text: str) -> str:
    """A file to write: not an existing folder, and its parent is not a file."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a file name")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; name a file to write")
    if path.parent.exists() and not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{path.parent} is a file, not a folder")
    return text


def output_dir(text: str) -> str:
    """A folder to write into: not an existing file."""
    path = Path(text)
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder name")
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is an existing file; name a folder")
    return text


def existing_dir(text: str) -> str:
    """A folder that exists (a data root)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    return text


def device(text: str) -> str:
    """``auto``, ``cpu``, ``mps``, ``cuda`` or ``cuda:N``; a GPU only when torch sees one (checked only when named)."""
    value = text.strip().lower()
    if value in {"auto", "cpu"}:
        return value
    is_cuda = value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit())
    if not is_cuda and value != "mps":
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; use auto, cpu, cuda or cuda:N")
    try:
        import torch
    except ImportError:
        raise argparse.ArgumentTypeError(f"{text}: torch is not installed; use --device cpu") from None
    if value == "mps":
        if not torch.backends.mps.is_available():
            raise argparse.ArgumentTypeError("mps: no Apple GPU available; use --device cpu or auto")
        return value
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (int(value[5:]) if ":" in value else 0) >= available:
        found = f"only {available} CUDA device(s)" if available else "no CUDA GPU"
        raise argparse.ArgumentTypeError(f"{text}: this machine has {found}; use --device cpu or auto")
    return value


__all__ = [
    "MAX_K",
    "add_data_root",
    "reader_options",
    "device",
    "existing_dir",
    "finite_float",
    "float_range",
    "int_range",
    "nonnegative_float",
    "nonnegative_int",
    "open_fraction",
    "output_dir",
    "output_file",
    "positive_float",
    "positive_int",
    "probability",
    "top_k",
]


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """``--data-root``: the folder a manifest's image paths must stay in (every verb that reads manifests has it)."""
    parser.add_argument(
        "--data-root",
        type=existing_dir,
        metavar="DIR",
        help="folder that JSONL manifest image paths resolve against and must stay inside (default: the "
        "manifest's folder); ../, absolute paths and symlinks out of it are refused per line",
    )


def reader_options(args: argparse.Namespace) -> dict[str, str]:
    """The ``image_root`` / ``data_root`` reader options given on the command line."""
    names = ("image_root", "data_root")
    return {name: getattr(args, name) for name in names if getattr(args, name, None)}
