"""Slow and greedy clients against a real ``mmedrag serve``: headers or a body trickled a byte at a time get 408 and
lose their connection, one address cannot hold more than its share of connections, and others are served meanwhile."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
pytest.importorskip("uvicorn", reason="needs uvicorn: pip install 'mmedrag[serve]'")

from serve_helpers import Server, knowledge_base

pytestmark = pytest.mark.integration

LIMITS = ["--header-timeout-s", "1", "--body-timeout-s", "2", "--max-connections-per-address", "6"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slow")
    index = knowledge_base(folder / "kb", with_dicom=False)
    started = Server(["--index", str(index), "--rate-limit", "0", *LIMITS], log=folder / "serve.log")
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.settimeout(30)
    return sock


def _trickle(sock: socket.socket, data: bytes, until_closed: float = 30.0) -> bytes:
    """Send ``data`` a byte at a time (0.2 s apart) until the server answers or closes; returns what it said."""
    received = b""
    sock.setblocking(False)
    deadline = time.monotonic() + until_closed
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            sock.send(bytes([byte]))
        except OSError:  # closed by the server
            break
        time.sleep(0.2)
        try:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        except BlockingIOError:
            continue
        except OSError:
            break
    sock.settimeout(10)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass
    return received


def test_headers_sent_a_byte_at_a_time_get_408_and_the_connection_closes(server) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    with _connect(server) as sock:
        answer = _trickle(sock, head)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"the request headers took longer than 1 s" in answer and b"connection: close" in answer.lower()


def test_a_body_sent_a_byte_at_a_time_gets_408(server) -> None:
    body = b'{"question": "Is there a pleural effusion?"}' * 4
    head = (
        b"POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with _connect(server) as sock:
        sock.sendall(head)
        answer = _trickle(sock, body)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"the request body took longer than 2 s" in answer


def test_one_address_holds_at_most_its_share_of_connections_and_others_are_served(server) -> None:
    held = [_connect(server) for _ in range(6)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # an unfinished head keeps each one open
        with _connect(server) as extra:
            refused = extra.recv(65536)
        assert refused.startswith(b"HTTP/1.1 503 "), refused[:200]
        assert b"more than 6 open connections from one address" in refused
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the server sees the closes a moment later
        if httpx.get(server.url + "/healthz", timeout=10).status_code == 200:
            break
        time.sleep(0.1)
    assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "alive"}


def test_a_kept_alive_connection_that_goes_quiet_is_closed_without_an_answer(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):  # nothing more is sent: the server closes the connection
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ") and received.count(b"HTTP/1.1") == 1  # no 408 for an idle one
