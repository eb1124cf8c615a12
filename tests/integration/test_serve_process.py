"""``mmedrag serve`` as a real uvicorn process on 127.0.0.1: the OpenAI client over HTTP, body limits, refusing a
public bind without keys, SIGHUP and admin reloads, SIGTERM draining (exit 0), and a bounded load test with a reload."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
pytest.importorskip("uvicorn", reason="needs uvicorn: pip install 'mmedrag[serve]'")

from PIL import Image

from mmedrag.encoders.hashing import HashEncoder
from mmedrag.indexing import build_index
from mmedrag.types import Record
from serve_helpers import Server, data_url, knowledge_base, png_bytes

pytestmark = pytest.mark.integration

ADMIN = "admin-secret-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN}"}  # admin keys are client keys too
LOAD_CLIENTS = 100
LOAD_SECONDS = float(os.environ.get("MMEDRAG_SERVE_LOAD_SECONDS", "8"))


@pytest.fixture
def index(tmp_path):
    return knowledge_base(tmp_path / "kb", with_dicom=False)


@pytest.fixture
def server(index, tmp_path):
    started = Server(
        ["--index", str(index), "--rate-limit", "0", "--max-queue", "512"],
        env={"MMEDRAG_ADMIN_KEYS": f"ops:{ADMIN}"},
        log=tmp_path / "serve.log",
    )
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def _add_case(index, folder, case_id: str) -> None:
    """Save a new index version with one more case (what `mmedrag index` does for an update)."""
    Image.new("RGB", (32, 32), "gray").save(folder / f"{case_id}.png")
    build_index([Record(case_id, "Right pneumothorax.", (str(folder / f"{case_id}.png"),))], index, HashEncoder(32))


def test_the_openai_client_over_http_plain_and_streamed(server) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=server.url + "/v1", api_key=ADMIN, max_retries=0)
    content = [
        {"type": "text", "text": "Is there a pleural effusion?"},
        {"type": "image_url", "image_url": {"url": data_url(png_bytes(11))}},
    ]
    plain = api.chat.completions.create(model="mmedrag", messages=[{"role": "user", "content": content}])
    assert plain.choices[0].message.content and plain.model_extra["citations"]
    stream = api.chat.completions.create(model="mmedrag", messages=[{"role": "user", "content": content}], stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert chunks[-1].model_extra["citations"] == plain.model_extra["citations"]


def test_a_100_mb_body_is_refused_with_413_and_the_service_keeps_serving(server) -> None:
    body = b"0" * (100 * 1024 * 1024)
    try:
        response = httpx.post(
            server.url + "/v1/ask", content=body, headers={**AUTH, "content-type": "application/json"}, timeout=60
        )
        assert response.status_code == 413 and response.json()["error"]["type"] == "payload_too_large"
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed while the client was still sending: also a refusal
    assert (
        httpx.post(server.url + "/v1/ask", json={"question": "Is there an effusion?"}, headers=AUTH).status_code == 200
    )


def test_two_worker_processes_answer_and_stop_cleanly(index, tmp_path) -> None:
    workers = Server(["--index", str(index), "--workers", "2"], log=tmp_path / "workers.log")
    try:
        workers.wait_ready()
        with httpx.Client(base_url=workers.url, timeout=60) as client:
            answers = [client.post("/v1/search", json={"image": data_url(png_bytes(seed))}) for seed in range(6)]
        assert [a.status_code for a in answers] == [200] * 6
        assert all(a.json()["cases"] for a in answers)
    finally:
        workers.stop()
    assert workers.process.returncode == 0


def test_binding_beyond_loopback_without_keys_is_refused(index) -> None:
    code = "import sys; from mmedrag.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "serve", "--index", str(index), "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in {"MMEDRAG_API_KEYS", "MMEDRAG_ADMIN_KEYS"}},
    )
    assert result.returncode == 2 and "refusing to listen beyond loopback" in result.stderr


def test_sighup_reloads_the_newest_index_version(server, index, tmp_path) -> None:
    assert httpx.get(server.url + "/v1/cases/added", headers=AUTH).status_code == 404
    _add_case(index, tmp_path, "added")
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while httpx.get(server.url + "/readyz").json()["generation"] < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(server.url + "/v1/cases/added", headers=AUTH).json()["report"] == "Right pneumothorax."


def _in_flight(url: str) -> float:
    metrics = httpx.get(url + "/metrics").text
    return float(
        next(line for line in metrics.splitlines() if line.startswith("mmedrag_requests_in_flight ")).split()[-1]
    )


def test_sigterm_refuses_new_requests_finishes_those_in_flight_and_exits_0(index, tmp_path) -> None:
    # A long batch wait keeps the request inside the service when SIGTERM arrives.
    slow = Server(["--index", str(index), "--max-wait-ms", "2000", "--max-batch-size", "64"], log=tmp_path / "s.log")
    try:
        slow.wait_ready()
        with httpx.Client(base_url=slow.url, timeout=30) as kept:
            assert kept.get("/healthz").status_code == 200  # a kept-alive connection, open before the signal
            result: dict[str, int] = {}
            ask = threading.Thread(
                target=lambda: result.update(
                    status=httpx.post(slow.url + "/v1/ask", json={"question": "Is there?"}, timeout=30).status_code
                )
            )
            ask.start()
            deadline = time.monotonic() + 30
            while _in_flight(slow.url) < 2 and time.monotonic() < deadline:  # the ask and this metrics request
                time.sleep(0.05)
            slow.process.send_signal(signal.SIGTERM)
            late = kept.get("/v1/models")
            while late.status_code == 200 and time.monotonic() < deadline:  # until the signal is handled
                late = kept.get("/v1/models")
            # A request on the open connection after the signal: refused in words, and the connection closed.
            assert late.status_code == 503 and "shutting down" in late.json()["error"]["message"]
            assert late.headers["connection"] == "close" and late.headers["retry-after"]
            ask.join(30)
        assert result.get("status") == 200  # the request in flight was answered
        assert slow.process.wait(30) == 0  # a requested stop is a success, not "killed by SIGTERM" (143)
        assert "Finished server process" in slow.output()
    finally:
        slow.stop()


async def _client(url: str, state: dict, statuses: Counter, failures: list[str], body: dict) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=AUTH) as client:
        # Run until the deadline, and in any case until the reload is done and has been used for a second.
        while not state["reloaded"] or time.monotonic() < state["until"]:
            try:
                response = await client.post("/v1/ask", json=body)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    statuses[f"generation {response.json()['served_by']['generation']}"] += 1
            except httpx.HTTPError as exc:  # a lost request: no response at all
                failures.append(type(exc).__name__)


async def _load(server: Server, index, folder) -> tuple[Counter, list[str], dict]:
    statuses: Counter = Counter()
    failures: list[str] = []
    body = {"question": "Is there a pleural effusion?", "image": data_url(png_bytes(21))}
    state = {"until": time.monotonic() + LOAD_SECONDS, "reloaded": False}
    clients = [_client(server.url, state, statuses, failures, body) for _ in range(LOAD_CLIENTS)]

    async def reload_midway() -> dict:
        await asyncio.sleep(LOAD_SECONDS / 2)
        try:
            await asyncio.to_thread(_add_case, index, folder, "midway")
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                response = await client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
            return response.json()
        finally:  # the clients stop only after the reload, whatever its outcome (asserted below)
            state["until"] = max(state["until"], time.monotonic() + 1.0)
            state["reloaded"] = True

    *_, reloaded = await asyncio.gather(*clients, reload_midway())
    return statuses, failures, reloaded


def test_load_100_clients_with_a_reload_midway_loses_nothing(server, index, tmp_path) -> None:
    statuses, failures, reloaded = asyncio.run(_load(server, index, tmp_path))
    assert failures == []
    codes = {key for key in statuses if isinstance(key, int)}
    assert codes == {200}, statuses  # no 5xx, no 503: the queue never filled
    assert statuses["generation 1"] >= LOAD_CLIENTS and statuses["generation 2"] >= 1  # answered across the reload
    assert reloaded["generation"] == 2
    assert httpx.get(server.url + "/v1/cases/midway", headers=AUTH).status_code == 200
    metrics = httpx.get(server.url + "/metrics", headers=AUTH).text
    batch_sum = next(line for line in metrics.splitlines() if line.startswith("mmedrag_batch_size_sum"))
    batch_count = next(line for line in metrics.splitlines() if line.startswith("mmedrag_batch_size_count"))
    assert float(batch_sum.split()[-1]) > float(batch_count.split()[-1])  # concurrent queries were batched
    assert "mmedrag_queue_depth 0.0" in metrics.splitlines()  # idle: the gauge follows the queue down
