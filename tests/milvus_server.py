"""Start a real Milvus standalone server (PyPI ``milvus`` 2.3.x bundles the binary and an embedded etcd) on loopback.

Every component's ``ip`` is set to 127.0.0.1 (otherwise they advertise the machine's first non-loopback address),
ports are picked free by the package, and all state lives in a temporary base folder (docs/offline.md §12).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")
RUNNING: list[Any] = []  # servers started and not yet stopped (benchmarks read the server's process id)
INSTALL_HINT = "pip install -c constraints.txt -e '.[milvus,milvus-server]'"


@contextmanager
def milvus_server(timeout_s: float = 180) -> Iterator[str]:
    """Yield the ``http://127.0.0.1:PORT`` URI of a freshly started server; stop it and delete its data after."""
    from milvus import MilvusServer, MilvusServerConfig

    base = tempfile.mkdtemp(prefix="milvus-server-")
    server: Any = MilvusServer(MilvusServerConfig(), wait_for_started=False)
    server.set_base_dir(base)
    for component in COMPONENTS:
        server.config.set(f"{component}.ip", "127.0.0.1")
    # Strong-consistency reads wait for the next time tick: 20 ms instead of 200 ms keeps the tests quick.
    server.config.set("proxy.timeTickInterval", 20)
    try:
        server.start()
        server.wait_started(timeout=int(timeout_s * 1000))
        RUNNING.append(server)
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        if server in RUNNING:
            RUNNING.remove(server)
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def milvus_uri() -> Iterator[str]:
    """One real Milvus standalone server for the whole test session (skips with the install line when missing)."""
    pytest.importorskip("pymilvus", reason=f"pymilvus missing: {INSTALL_HINT}")
    try:
        import milvus  # noqa: F401
    except ImportError:
        pytest.skip(f"the Milvus standalone server package is missing: {INSTALL_HINT}")
    with milvus_server() as uri:
        yield uri
