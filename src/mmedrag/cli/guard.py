"""The CLI's last line of defence: no command prints a traceback.

An :class:`~mmedrag.errors.MmedragError` is a one-line error (exit 2). Anything else is a bug or an environment
problem: the user gets one line naming the exception and the log file that holds the full trace (exit 1), and
``--debug`` (or ``MMEDRAG_DEBUG=1``) prints the trace instead. Arguments that are not valid text (bytes that are
not UTF-8, which Python keeps as lone surrogates) are refused before parsing, as nothing downstream can print them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from mmedrag.errors import MmedragError

DEBUG_FLAG = "--debug"


def split_debug(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--debug`` (accepted anywhere before ``--``), and whether it was given."""
    args: list[str] = []
    debug = os.environ.get("MMEDRAG_DEBUG", "") not in {"", "0"}
    for position, item in enumerate(argv):
        if item == "--":
            return args + list(argv[position:]), debug
        if item == DEBUG_FLAG:
            debug = True
        else:
            args.append(item)
    return args, debug


def undecodable_argument(argv: Sequence[str]) -> str | None:
    """The first argument holding bytes that are not UTF-8, shown escaped, or None."""
    for item in argv:
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            return item.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return None


def log_folder() -> Path:
    """Where crash logs go: ``$MMEDRAG_LOG_DIR``, else ``$XDG_CACHE_HOME/mmedrag/logs``, else the temp folder."""
    if os.environ.get("MMEDRAG_LOG_DIR"):
        return Path(os.environ["MMEDRAG_LOG_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "mmedrag" / "logs"


def write_crash_log(verb: str, argv: Sequence[str], error: BaseException) -> Path | None:
    """Write the full traceback to a new log file; None when no folder is writable."""
    text = (
        f"mmedrag {verb} crashed at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
        f"argv: {[a.encode('utf-8', 'backslashreplace').decode('utf-8') for a in argv]!r}\n\n"
        + "".join(traceback.format_exception(type(error), error, error.__traceback__))
    )
    for folder in (log_folder(), Path(tempfile.gettempdir()) / "mmedrag-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f"crash-{verb}-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log", dir=folder
            )
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            return Path(name)
        except OSError:
            continue
    return None


def run_guarded(verb: str, argv: Sequence[str], action: Callable[[], int], debug: bool = False) -> int:
    """Run one verb: its result, or one line on stderr for any error (2: a known error, 1: an unexpected one)."""
    try:
        return int(action())
    except MmedragError as exc:
        print(f"mmedrag {verb}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        if debug:
            traceback.print_exc(file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mmedrag {verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mmedrag search ... | head`: the reader left; stop quietly (Python docs, signal module)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # noqa: BLE001 - the point of this guard: a bug is one line plus a log, not a trace
        if debug:
            traceback.print_exc(file=sys.stderr)
            return 1
        log = write_crash_log(verb, argv, exc)
        where = f"full trace in {log}" if log else "no log folder was writable"
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(
            f"mmedrag {verb}: internal error: {type(exc).__name__}{': ' + detail if detail else ''} "
            f"({where}; rerun with --debug to show it, and please report it)",
            file=sys.stderr,
        )
        return 1


__all__ = ["log_folder", "run_guarded", "split_debug", "undecodable_argument", "write_crash_log"]
