"""Slow and greedy clients: a deadline for each request head and a cap on open connections per client address.

uvicorn times out idle kept-alive connections but not a client that sends its headers a byte at a time (each byte
re-arms nothing, and nothing else is watching), so 200 such connections stayed open for as long as they liked.
:class:`GuardedH11Protocol` is uvicorn's h11 protocol with two additions, configured per worker process by
:func:`configure`: the request head (request line and headers) must be complete within ``header_timeout_s`` of the
connection opening or of the previous response (else 408 and the connection is closed), and a client address may
hold at most ``max_connections_per_address`` open connections (more are answered 503 and closed at once). The body
has its own deadline in the ASGI middleware (``body_timeout_s``, 408).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from mmedrag.serve.errors import error_body

PROTOCOL = f"{__name__}:GuardedH11Protocol"  # how uvicorn's Config names it (an import string reaches workers too)


@dataclass
class Limits:
    header_timeout_s: float = 10.0
    max_connections_per_address: int = 128  # 0: no cap


LIMITS = Limits()
_OPEN: Counter[str] = Counter()  # open connections per client address, in this worker process


def configure(header_timeout_s: float, max_connections_per_address: int) -> None:
    """Set the limits of this process's connections (``mmedrag serve`` calls it in every worker)."""
    LIMITS.header_timeout_s, LIMITS.max_connections_per_address = header_timeout_s, max_connections_per_address


def _reply(status: int, message: str, extra: str = "") -> bytes:
    body = json.dumps(error_body(status, message)).encode()
    reason = {408: "Request Timeout", 503: "Service Unavailable"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"connection: close\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a per-address connection cap (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: str | None = None
        self._head_timer: Any = None
        self._waiting_cycle: Any = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._address = self.client[0] if self.client else "-"
        _OPEN[self._address] += 1
        cap = LIMITS.max_connections_per_address
        if cap and _OPEN[self._address] > cap:
            message = f"more than {cap} open connections from one address; close some and retry"
            transport.write(_reply(503, message, "retry-after: 1\r\n"))
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._address is not None:
            _OPEN[self._address] -= 1
            if _OPEN[self._address] <= 0:
                del _OPEN[self._address]
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and self.cycle is not self._waiting_cycle:
            self._disarm()  # a request head arrived whole: the body has its own deadline
            self._waiting_cycle = self.cycle

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's head, on this kept-alive connection

    def _arm(self) -> None:
        self._disarm()
        if LIMITS.header_timeout_s > 0:
            self._head_timer = self.loop.call_later(LIMITS.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        waiting = self.cycle is None or self.cycle is self._waiting_cycle and self.cycle.response_complete
        if self.transport.is_closing() or not waiting:
            return
        if self.conn.their_state in (h11.IDLE, h11.DONE) and not self.conn.trailing_data[0]:
            self.transport.close()  # nothing of a new request arrived: an idle connection, closed quietly
            return
        seconds = LIMITS.header_timeout_s
        self.transport.write(_reply(408, f"the request headers took longer than {seconds:g} s; send them at once"))
        self.transport.close()
