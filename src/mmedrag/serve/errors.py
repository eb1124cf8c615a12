"""The service's one error type: an HTTP status, a machine-readable type and a one-line message."""

from __future__ import annotations

from typing import Any

_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the client can act on; rendered as ``{"error": {"code", "type", "message"}}``.

    The body has the shape OpenAI-compatible clients expect, so they surface ``message`` as it is.
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, one_line(message), headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "type": _TYPES.get(status, "error"), "message": one_line(message)}}


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and cut long messages: errors are one line, never an echo of a huge input."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
