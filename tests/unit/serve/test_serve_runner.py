"""How ``mmedrag serve --workers N`` hands uvicorn its listening socket."""

from __future__ import annotations

import socket
from typing import Any

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="needs the serve extra: pip install 'mmedrag[serve]'")


def test_worker_processes_share_a_tcp_socket_whose_connections_send_without_delay(monkeypatch) -> None:
    # uvicorn's own socket says protocol 0, so asyncio left Nagle's algorithm on and each response waited ~40 ms.
    from uvicorn import supervisors

    from mmedrag.serve import runner

    seen: dict[str, Any] = {}

    class Supervisor:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            seen["config"], seen["sockets"] = config, sockets

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(supervisors, "Multiprocess", Supervisor)
    runner._run_workers(uvicorn, 2, {"host": "127.0.0.1", "port": 0})
    (sock,) = seen["sockets"]
    try:
        assert seen["ran"] and seen["config"].workers == 2
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        sock.listen(1)
        with socket.create_connection(sock.getsockname()[:2]):
            connection, _ = sock.accept()  # what a worker's event loop gets
            with connection:
                assert connection.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY itself only then
                assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()
