"""Service settings: limits, batching, security and logging, in one typed place the CLI and tests fill in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from mmedrag.errors import ConfigError

MAX_QUESTION_CHARS = 2000


@dataclass
class ServeSettings:
    """What the service allows and how it batches; every default is safe for a loopback deployment.

    Attributes:
        host: the address uvicorn binds; any non-loopback address needs API keys (see :meth:`check_bind`).
        api_keys: key id -> secret for every client; empty means no authentication (loopback only).
        admin_keys: key id -> secret for ``/v1/admin/*``; admin keys are also valid client keys.
        rate_limit_per_minute: requests a key (or, without keys, a client address) may make per minute; 0 = off.
        max_body_bytes: the largest request body read (uploads included); larger bodies get 413.
        max_pixels: the largest decoded image (width x height) accepted; larger images get 413.
        decode_budget_mb: memory that concurrent image decodes may take together (each estimated from its header);
            further uploads wait, a larger one runs alone (see :mod:`mmedrag.serve.decode_budget`).
        max_batch_size: queries answered in one pipeline call; 1 turns batching off.
        max_wait_ms: how long the first query of a batch waits for company.
        max_queue: queries waiting for the pipeline; past it the service answers 503 with Retry-After.
        keep_uploads: a folder where uploaded images are kept (None: never stored).
        audit_log: JSONL file with one line per API request (None: no audit log).
        audit_questions: also write the question text into the audit log (default: only its SHA-256).
        cors_origins: origins allowed by CORS; empty = CORS off.
        index_version: a label of the loaded index version, for /readyz and the page.
        header_timeout_s: the longest a client may take to send a request's headers (408 after; 0 = no limit).
        body_timeout_s: the longest a client may take to send a request's body (408 after; 0 = no limit).
        max_connections_per_address: open connections one client address may hold (503 past it; 0 = no cap);
            behind a reverse proxy every connection comes from the proxy's address, so raise it or set 0 there.
        drain_s: after SIGTERM, how long requests in flight may take to finish (new ones get 503) before the
            process stops anyway.
    """

    host: str = "127.0.0.1"
    api_keys: dict[str, str] = field(default_factory=dict)
    admin_keys: dict[str, str] = field(default_factory=dict)
    rate_limit_per_minute: int = 600
    max_body_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    decode_budget_mb: int = 512
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    max_queue: int = 256
    retry_after_s: int = 1
    drain_s: float = 30.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    max_connections_per_address: int = 128
    keep_uploads: Path | None = None
    audit_log: Path | None = None
    audit_questions: bool = False
    cors_origins: tuple[str, ...] = ()
    thumbnail_px: int = 192
    title: str = "mmedrag"

    @property
    def auth_required(self) -> bool:
        return bool(self.api_keys or self.admin_keys)

    def check_bind(self) -> None:
        """Refuse a non-loopback bind without API keys: an open medical endpoint on a network is a leak.

        Raises:
            ConfigError: ``host`` is not a loopback address and no API key is configured.
        """
        if is_loopback(self.host) or self.auth_required:
            return
        raise ConfigError(
            f"--host {self.host}: refusing to listen beyond loopback without API keys; set MMEDRAG_API_KEYS "
            f"(id:secret,...) or --api-key-file, or bind 127.0.0.1"
        )

    def check(self) -> None:
        """Validate numeric limits (one-line errors naming the setting)."""
        for name in ("max_body_bytes", "max_pixels", "max_batch_size", "max_queue", "decode_budget_mb"):
            if getattr(self, name) < 1:
                raise ConfigError(f"serve setting {name} must be at least 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0 or self.rate_limit_per_minute < 0:
            raise ConfigError("serve settings max_wait_ms and rate_limit_per_minute must not be negative")
        for name in ("header_timeout_s", "body_timeout_s", "max_connections_per_address"):
            if getattr(self, name) < 0:
                raise ConfigError(
                    f"serve setting {name} must not be negative (0 turns it off), got {getattr(self, name)}"
                )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
