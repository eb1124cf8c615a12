"""One ASGI middleware around the app: body-size limit, security headers, metrics, JSON access log, audit log.

Starlette does not cap uploads and uvicorn has no body limit, so the limit is enforced here, on the declared
``Content-Length`` and again on the bytes actually received (chunked bodies), before any parser sees them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from mmedrag.serve.errors import error_body
from mmedrag.serve.service import Service
from mmedrag.serve.stopping import Drain

log = logging.getLogger("mmedrag.serve.access")

# The page loads only its own script, style and images (thumbnails arrive as data: URLs); nothing from elsewhere.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_DOCS = ("/docs", "/redoc")  # FastAPI's documentation pages load their viewer from a CDN; the API itself does not


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class ServiceMiddleware:
    """See the module docstring."""

    def __init__(self, app: Any, service: Service, drain: Drain | None = None) -> None:
        self.app, self.service, self.drain = app, service, drain or Drain()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = uuid.uuid4().hex[:16]
        status_holder = {"status": 500, "started": False}
        limit = self.service.settings.max_body_bytes

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"], status_holder["started"] = message["status"], True
                message["headers"] = list(message.get("headers", [])) + _headers(scope["path"], state["request_id"])
            await send(message)

        if self.drain.stopping:  # SIGTERM: the client hears it was not served and reconnects elsewhere
            headers = [(b"connection", b"close"), (b"retry-after", str(self.service.settings.retry_after_s).encode())]
            await _reply(send, 503, "the service is shutting down; retry on a new connection", headers)
            self._record(scope, state, 503, started)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reply(send, 413, f"the request body has {declared} bytes, more than the limit of {limit}")
            self._record(scope, state, 413, started)
            return
        timeout = self.service.settings.body_timeout_s
        receive_wrapper = _Body(receive, limit, timeout)

        self.service.metrics.in_flight.inc()
        self.drain.active += 1
        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except _TooLarge:
            if not status_holder["started"]:
                await _reply(send, 413, f"the request body is larger than the limit of {limit} bytes")
            status_holder["status"] = 413
        except _TooSlow:
            if not status_holder["started"]:
                message = f"the request body took longer than {timeout:g} s to arrive; send it at once"
                await _reply(send, 408, message, [(b"connection", b"close")])
            status_holder["status"] = 408
        finally:
            self.service.metrics.in_flight.dec()
            self.drain.active -= 1
        self._record(scope, state, int(status_holder["status"]), started)

    def _record(self, scope: dict[str, Any], state: dict[str, Any], status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or ("static" if scope["path"].startswith("/static") else "-")
        metrics = self.service.metrics
        metrics.requests.labels(route, scope["method"], str(status)).inc()
        metrics.latency.labels(route).observe(seconds)
        if status >= 400:
            metrics.errors.labels(str(status)).inc()
        fields = {
            "request_id": state.get("request_id"),
            "method": scope["method"],
            "route": route,
            "status": status,
            "ms": round(seconds * 1000.0, 2),
            "key_id": state.get("key_id"),
        }
        log.info("request", extra={"fields": fields})
        if route.startswith("/v1") or (route == "/" and scope["method"] == "POST"):
            audit = state.get("audit") or {}
            self.service.audit.write({**fields, **audit})


class _Body:
    """``receive`` counting the body's bytes (past ``limit``: 413) within a deadline for the whole body (408)."""

    def __init__(self, receive: Any, limit: int, timeout: float) -> None:
        self.receive, self.limit, self.timeout = receive, limit, timeout
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received, self.done = 0, False

    async def __call__(self) -> dict[str, Any]:
        if self.done or not self.timeout:
            message = await self.receive()  # after the body: the disconnect a streaming response listens for
        else:
            left = max(0.0, self.deadline - asyncio.get_running_loop().time())
            try:
                message = await asyncio.wait_for(self.receive(), left)
            except asyncio.TimeoutError:
                raise _TooSlow from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
            if self.received > self.limit:
                raise _TooLarge
        return dict(message)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _headers(path: str, request_id: str) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-request-id", request_id.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]
    if not path.startswith(_DOCS):
        headers.append((b"content-security-policy", PAGE_CSP.encode()))
    return headers


async def _reply(send: Any, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            + _headers("", "-")
            + (extra or []),
        }
    )
    await send({"type": "http.response.body", "body": body})
