"""Shared by the benchmark scripts: the machine description and the marked-section writer for BENCHMARKS.md.

Each script owns one section between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``; rewriting it leaves the
other sections as they were. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from pathlib import Path


def machine() -> str:
    """CPU model, cores, RAM, Python, date and load average: what a reader needs to compare numbers."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    ram = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split()[1])
        ram = f", {kib / 2**20:.0f} GiB RAM"
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").is_file() else ["?"]
    return (
        f"{cpu}, {os.cpu_count()} cores{ram}, Python {platform.python_version()}, "
        f"{dt.date.today().isoformat()}, load average {' '.join(load)}"
    )


def write_section(path: str | Path, name: str, body: str) -> None:
    """Replace the ``name`` section of ``path`` (append it, or create the file), atomically."""
    path = Path(path)
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1].removeprefix("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
