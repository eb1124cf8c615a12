"""API keys (constant-time comparison, ``Authorization: Bearer``) and per-key rate limits.

Keys come from ``MMEDRAG_API_KEYS`` / ``MMEDRAG_ADMIN_KEYS`` (``id:secret`` pairs separated by commas) or from key
files (one ``id:secret`` per line, ``#`` comments). A secret without an id gets the id ``key-N``. Only key ids ever
reach logs, metrics and the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmedrag.errors import ConfigError
from mmedrag.serve.errors import ApiError

MIN_SECRET_CHARS = 16


def parse_keys(text: str, where: str) -> dict[str, str]:
    """``id:secret`` entries separated by commas or new lines -> {id: secret}.

    Raises:
        ConfigError: a secret is shorter than 16 characters or an id repeats.
    """
    keys: dict[str, str] = {}
    for raw in text.replace(",", "\n").splitlines():
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        key_id, sep, secret = entry.partition(":")
        if not sep:
            key_id, secret = f"key-{len(keys) + 1}", entry
        key_id, secret = key_id.strip(), secret.strip()
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(f"{where}: the secret of key {key_id!r} is shorter than {MIN_SECRET_CHARS} characters")
        if key_id in keys:
            raise ConfigError(f"{where}: key id {key_id!r} appears twice")
        keys[key_id] = secret
    return keys


def load_keys(env_var: str, file: str | Path | None) -> dict[str, str]:
    """Keys from the environment variable and the key file together."""
    keys = parse_keys(os.environ.get(env_var, ""), env_var)
    if file is not None:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the API key file ({exc.strerror})") from exc
        for key_id, secret in parse_keys(text, str(path)).items():
            if key_id in keys:
                raise ConfigError(f"{path}: key id {key_id!r} is also set in {env_var}")
            keys[key_id] = secret
    return keys


@dataclass
class KeyRing:
    """Checks bearer tokens against the configured keys without leaking which key or how much matched."""

    keys: dict[str, str]
    admin: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Comparing fixed-length digests keeps the comparison time independent of the secrets' lengths.
        self._digests = [(i, _digest(s), False) for i, s in self.keys.items()]
        self._digests += [(i, _digest(s), True) for i, s in self.admin.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, token: str | None) -> tuple[str, bool] | None:
        """The (key id, is admin) the token belongs to, or None; every key is compared, match or not."""
        if token is None:
            return None
        offered = _digest(token)
        found: tuple[str, bool] | None = None
        for key_id, digest, is_admin in self._digests:
            if hmac.compare_digest(offered, digest) and found is None:
                found = (key_id, is_admin)
        return found

    def authenticate(self, authorization: str | None, form_key: str | None = None) -> tuple[str, bool]:
        """The caller's key id and admin flag from ``Authorization: Bearer`` (or the page's key field).

        Raises:
            ApiError: 401 when keys are configured and the token is missing or wrong.
        """
        if not self.enabled:
            return "anonymous", False
        token = form_key or None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ApiError(401, "Authorization must be 'Bearer <API key>'", {"WWW-Authenticate": "Bearer"})
            token = value.strip()
        if token is None:
            raise ApiError(401, "an API key is required: send 'Authorization: Bearer <key>'", _challenge())
        found = self.identify(token)
        if found is None:
            raise ApiError(401, "the API key is not valid", _challenge())
        return found


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": "Bearer"}


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute on average, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for ``key``.

        Raises:
            ApiError: 429 with ``Retry-After`` when the bucket is empty.
        """
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = max(1, int((1.0 - tokens) / rate + 0.999))
                raise ApiError(
                    429, f"rate limit of {self.per_minute} requests per minute reached", {"Retry-After": str(wait)}
                )
            self._buckets[key] = (tokens - 1.0, now)
