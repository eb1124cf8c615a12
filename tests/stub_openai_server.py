"""A tiny OpenAI-compatible chat-completions server for tests: runs in a background thread, records every request and
can be scripted to fail, stall or answer emptily. Stdlib only."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it (headers lower-cased)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def last_text(body: dict[str, Any]) -> str:
    """The text of the last text part (or string content) of the last message in a chat-completions body."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    texts = [part["text"] for part in content if part.get("type") == "text"]
    return texts[-1] if texts else ""


def yes_if_effusion(body: dict[str, Any]) -> str:
    """The default reply: "yes" when the last text mentions an effusion, else "no"."""
    return "yes" if "effusion" in last_text(body).lower() else "no"


@dataclass
class StubOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 with a free port, for use as a context manager.

    Args:
        reply: maps a request body to the answer text.
        fail_first: the first this-many requests (counted across threads) get ``fail_status``.
        fail_status: HTTP status of the scripted failures (500, 429, ...).
        retry_after_ms: sent as ``retry-after-ms`` on failures; the openai SDK honours it instead of its own backoff.
        delay_s: every answer waits this long first (to outlast a client timeout).
        jitter_s: plus a random extra wait in ``[0, jitter_s)`` (to shuffle completion order under concurrency).
        empty: answer with no choices at all.
        top_logprobs: when a request asks for ``logprobs``, the first answer token's alternatives (token -> log p).

    ``requests`` lists what arrived; ``max_in_flight`` is the most answers that were pending at once.

    Example:
        >>> with StubOpenAIServer() as server:  # doctest: +SKIP
        ...     OpenAICompatGenerator(server.base_url, "stub-model").generate(prompts)
    """

    reply: Callable[[dict[str, Any]], str] = yes_if_effusion
    fail_first: int = 0
    fail_status: int = 500
    retry_after_ms: int | None = None
    delay_s: float = 0.0
    jitter_s: float = 0.0
    empty: bool = False
    top_logprobs: dict[str, float] | None = None
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    max_in_flight: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        # Set on exit so that stalled handlers wake up at once instead of holding the shutdown for delay_s.
        self._stopping = threading.Event()
        self._in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client (ends in ``/v1``)."""
        if self._httpd is None:
            raise RuntimeError("the stub server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, in arrival order."""
        with self._lock:
            return [request.body for request in self.requests]

    def __enter__(self) -> StubOpenAIServer:
        handler = type("_BoundHandler", (_Handler,), {"stub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        # Non-daemon handler threads are joined by server_close(), so nothing outlives the context.
        self._httpd.daemon_threads = False
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _respond(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """Record the request and decide the status, extra headers and JSON payload of the answer."""
        with self._lock:
            self.requests.append(RecordedRequest(path=path, headers=headers, body=body))
            number = len(self.requests)
        if path != CHAT_PATH:
            return 404, {}, {"error": {"message": f"no route {path}", "type": "not_found"}}
        if number <= self.fail_first:
            extra = {} if self.retry_after_ms is None else {"retry-after-ms": str(self.retry_after_ms)}
            return self.fail_status, extra, {"error": {"message": f"scripted failure {number}", "type": "server_error"}}
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            stopping = self._stopping.wait(self.delay_s + random.uniform(0.0, self.jitter_s))
        finally:
            with self._lock:
                self._in_flight -= 1
        if stopping:
            return 503, {}, {"error": {"message": "stub shutting down", "type": "server_error"}}
        text = self.reply(body)
        choices = (
            []
            if self.empty
            else [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
        )
        if choices and body.get("logprobs") and self.top_logprobs:
            alternatives = [{"token": t, "logprob": lp, "bytes": None} for t, lp in self.top_logprobs.items()]
            first = {"token": text.split()[0] if text.split() else "", "logprob": max(self.top_logprobs.values())}
            choices[0]["logprobs"] = {"content": [{**first, "bytes": None, "top_logprobs": alternatives}]}
        prompt_tokens = len(json.dumps(body["messages"]).split())
        completion_tokens = len(text.split())
        return (
            200,
            {},
            {
                "id": f"chatcmpl-stub-{number}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )


class _Handler(BaseHTTPRequestHandler):
    stub: StubOpenAIServer
    # The default HTTP/1.0 closes each connection after one answer: no idle keep-alive handler can hold up the join.

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, {}, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._send(*self.stub._respond(self.path, headers, body))

    def _send(self, status: int, headers: dict[str, str], payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout fired) before the stalled answer came; that is the scripted outcome.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""
