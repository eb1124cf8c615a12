"""API keys, constant-time identification, rate limits and the loopback rule of ``mmedrag serve``."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.errors import ConfigError
from mmedrag.serve.errors import ApiError
from mmedrag.serve.security import KeyRing, RateLimiter, load_keys, parse_keys
from mmedrag.serve.settings import ServeSettings, is_loopback

SECRET = "s3cret-s3cret-s3cret"


def test_keys_parse_from_pairs_lines_and_bare_secrets_and_refuse_short_or_repeated_ones() -> None:
    keys = parse_keys(f"alice:{SECRET}1, bob:{SECRET}2\n# comment\n{SECRET}3", "env")
    assert keys == {"alice": f"{SECRET}1", "bob": f"{SECRET}2", "key-3": f"{SECRET}3"}
    with pytest.raises(ConfigError, match="shorter than 16"):
        parse_keys("carol:short", "env")
    with pytest.raises(ConfigError, match="appears twice"):
        parse_keys(f"a:{SECRET}1,a:{SECRET}2", "env")


def test_keys_come_from_the_environment_and_a_key_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MMEDRAG_API_KEYS", f"env:{SECRET}")
    file = tmp_path / "keys.txt"
    file.write_text(f"file:{SECRET}x\n", encoding="utf-8")
    assert load_keys("MMEDRAG_API_KEYS", file) == {"env": SECRET, "file": f"{SECRET}x"}
    with pytest.raises(ConfigError, match="cannot read"):
        load_keys("MMEDRAG_API_KEYS", tmp_path / "missing.txt")


def test_bearer_tokens_identify_their_key_and_wrong_or_missing_ones_are_401() -> None:
    ring = KeyRing({"alice": SECRET}, {"ops": SECRET + "-admin"})
    assert ring.authenticate(f"Bearer {SECRET}") == ("alice", False)
    assert ring.authenticate(f"bearer {SECRET}-admin") == ("ops", True)
    for header in (None, "Bearer nope-nope-nope-nope", f"Basic {SECRET}", "Bearer "):
        with pytest.raises(ApiError) as caught:
            ring.authenticate(header)
        assert caught.value.status == 401
        assert caught.value.headers["WWW-Authenticate"] == "Bearer"
    assert ring.authenticate(None, form_key=SECRET) == ("alice", False)  # the page's key field


def test_without_keys_everyone_is_anonymous() -> None:
    assert KeyRing({}).authenticate(None) == ("anonymous", False)


def test_rate_limit_refuses_with_429_and_retry_after_per_key() -> None:
    limiter = RateLimiter(per_minute=3)
    for _ in range(3):
        limiter.check("a")
    with pytest.raises(ApiError) as caught:
        limiter.check("a")
    assert caught.value.status == 429 and int(caught.value.headers["Retry-After"]) >= 1
    limiter.check("b")  # another key has its own bucket
    RateLimiter(per_minute=0).check("a")  # 0 = off


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts_may_run_without_keys(host: str) -> None:
    assert is_loopback(host)
    ServeSettings(host=host).check_bind()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_any_other_host_needs_keys(host: str) -> None:
    with pytest.raises(ConfigError, match="refusing to listen beyond loopback"):
        ServeSettings(host=host).check_bind()
    ServeSettings(host=host, api_keys={"a": SECRET}).check_bind()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_queue"):
        ServeSettings(max_queue=0).check()
