"""Readiness across ``--workers N`` processes: ``/readyz`` is 200 only once every worker has loaded its pipeline.

The workers share one listening socket, so the kernel hands each connection to whichever worker accepts it. A
worker still loading answers 503; if ``/readyz`` said "ready" as soon as *one* worker was, a load balancer would
send traffic that then got 503 from the others (seen in CI: the first request after ``/readyz`` = 200 got 503).
Each worker drops a marker named by its pid in a folder the supervisor made; a worker counts the markers of live
processes. A worker that died and was restarted by uvicorn leaves a stale marker, skipped because its pid is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FOLDER_VARIABLE = "MMEDRAG_SERVE_READY_DIR"
COUNT_VARIABLE = "MMEDRAG_SERVE_WORKERS"


@dataclass(frozen=True)
class Peers:
    """The marker folder and how many workers the supervisor started."""

    folder: Path
    workers: int

    @classmethod
    def from_environment(cls) -> Peers | None:
        """The peers of this worker, or ``None`` when the service runs as one process."""
        folder, count = os.environ.get(FOLDER_VARIABLE), os.environ.get(COUNT_VARIABLE)
        return cls(Path(folder), int(count)) if folder and count else None

    def mark_ready(self) -> None:
        (self.folder / str(os.getpid())).touch()

    def ready(self) -> int:
        """How many live workers have loaded their pipeline."""
        return sum(1 for marker in self.folder.iterdir() if marker.name.isdigit() and _alive(int(marker.name)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


@contextmanager
def shared_readiness(workers: int) -> Iterator[Peers]:
    """For the supervisor: a marker folder the workers inherit through the environment, removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="mmedrag-ready-"))
    os.environ[FOLDER_VARIABLE], os.environ[COUNT_VARIABLE] = str(folder), str(workers)
    try:
        yield Peers(folder, workers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for name in (FOLDER_VARIABLE, COUNT_VARIABLE):
            os.environ.pop(name, None)
