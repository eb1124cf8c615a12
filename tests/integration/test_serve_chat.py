"""Chat front-ends on ``/v1/chat/completions``, through FastAPI's test client on a real pipeline: Open WebUI
0.12.4's recorded requests (tests/fixtures/open_webui) answered as it expects, evidence in the message text,
``include_usage`` streaming, report markup stripped, and a multipart upload cut before its closing boundary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from fastapi.testclient import TestClient

from conftest import make_image
from mmedrag.config import load_config
from mmedrag.encoders.hashing import HashEncoder
from mmedrag.factory import build_pipeline
from mmedrag.indexing import build_index
from mmedrag.serve.app import create_app
from mmedrag.serve.settings import ServeSettings
from mmedrag.types import Record
from serve_helpers import data_url, knowledge_base, png_bytes

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "open_webui"
TASK_REPLIES = {
    "title": {"title": "Medical image question"},
    "tags": {"tags": ["Health", "Medical imaging"]},
    "follow_ups": {"follow_ups": []},
    "queries": {"queries": []},
    "autocomplete": {"text": ""},
    "image_prompt": {"prompt": ""},
}
MARKUP = 'Small <b onclick="steal()">right</b> pleural effusion <script>alert(1)</script>.'


def _request(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["request"]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    index = knowledge_base(tmp_path_factory.mktemp("kb"), with_dicom=False)
    settings = ServeSettings(max_body_bytes=1_000_000, rate_limit_per_minute=0)
    with TestClient(create_app(build_pipeline(load_config(values={"index": str(index)})), settings)) as test_client:
        yield test_client


def _events(response) -> list[dict]:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    lines = [line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


def _batches(client) -> float:
    """Pipeline batches run so far (the service's own metric): unchanged when nothing was retrieved."""
    metric = re.findall(r"^mmedrag_batch_size_count(?:\{[^}]*\})? (\S+)$", client.get("/metrics").text, re.M)
    return sum(float(value) for value in metric)


@pytest.mark.parametrize("name", ["chat_image", "chat_image_with_source"])
def test_open_webui_image_messages_are_answered_yes_or_no_with_sources_and_usage(client, name: str) -> None:
    events = _events(client.post("/v1/chat/completions", json=_request(name)))
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert re.match(r"(Yes|No)\. Reference \[\d\]", text), text  # a closed answer, not "unknown"
    assert "**Evidence:**" in text and "**Sources**" in text
    assert "http://testserver/v1/cases/" in text  # thumbnails absolute from the request's base URL
    usage = [e for e in events if "usage" in e and e["usage"]]
    include = (_request(name).get("stream_options") or {}).get("include_usage", False)
    if include:
        assert events[-1]["choices"] == [] and usage == [events[-1]]
        assert usage[0]["usage"]["total_tokens"] == usage[0]["usage"]["prompt_tokens"] + len(text.split())
        assert all(e["usage"] is None for e in events[:-1])  # OpenAI: null on every other chunk
    else:
        assert usage == [] and all("usage" not in e for e in events)
    final = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"] == "stop"]
    assert final[0]["citations"] and final[0]["mmedrag"]["evidence"]


@pytest.mark.parametrize("name", sorted(TASK_REPLIES))
def test_open_webui_background_prompts_get_its_json_without_retrieval(client, name: str) -> None:
    before = _batches(client)
    response = client.post("/v1/chat/completions", json=_request(name))
    assert response.status_code == 200
    body = response.json()
    assert json.loads(body["choices"][0]["message"]["content"]) == TASK_REPLIES[name]
    assert body["citations"] == [] and "mmedrag" not in body
    assert _batches(client) == before


def test_the_emoji_prompt_streams_one_emoji_when_asked_to(client) -> None:
    events = _events(client.post("/v1/chat/completions", json={**_request("emoji"), "stream": True}))
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == "\U0001fa7a"


def test_the_same_text_is_streamed_and_returned_whole(client) -> None:
    body = {**_request("chat_image"), "stream": False}
    del body["stream_options"]
    whole = client.post("/v1/chat/completions", json=body).json()
    events = _events(client.post("/v1/chat/completions", json={**body, "stream": True}))
    streamed = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert streamed == whole["choices"][0]["message"]["content"]
    assert whole["usage"]["completion_tokens"] == len(streamed.split())
    assert all("usage" not in e for e in events)  # not asked for


def test_report_markup_is_stripped_from_json_and_chat_answers(tmp_path) -> None:
    make_image(1, size=(64, 64)).save(tmp_path / "m.png")
    records = [Record("m1", MARKUP, (str(tmp_path / "m.png"),), domain="radiology", modality="xray", source="unit")]
    build_index(records, tmp_path / "index", HashEncoder(dim=32), store="exact")
    pipeline = build_pipeline(load_config(values={"index": str(tmp_path / "index")}))
    with TestClient(create_app(pipeline, ServeSettings(rate_limit_per_minute=0))) as markup:
        question = "Where is the small right pleural effusion?"
        asked = markup.post("/v1/ask", json={"question": question}).json()
        assert "right" in asked["answer"] and "<" not in asked["answer"] and "alert" not in asked["answer"]
        assert asked["evidence"][0]["report"] == MARKUP  # the case is data, returned as stored
        chat = markup.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": question}]})
        text = chat.json()["choices"][0]["message"]["content"]
        assert "right" in text and "<" not in text and "alert" not in text and "steal" not in text
        assert "<" not in chat.json()["mmedrag"]["answer"]


def _multipart(boundary: str, question: str, image: bytes) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="question"\r\n\r\n{question}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="scan.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )


def test_a_multipart_upload_cut_before_its_closing_boundary_is_a_400_not_a_text_only_answer(client) -> None:
    boundary = "mmedrag-test-boundary"
    body = _multipart(boundary, "Is there a pleural effusion?", png_bytes(5))
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    whole = client.post("/v1/ask", content=body, headers=headers)
    with_image = client.post(
        "/v1/ask", json={"question": "Is there a pleural effusion?", "image": data_url(png_bytes(5))}
    )
    assert whole.status_code == 200 and whole.json()["citations"] == with_image.json()["citations"]
    for cut in (len(body) // 2, len(body) - len(f"--{boundary}--\r\n") - 2, len(body) - 4):
        response = client.post("/v1/ask", content=body[:cut], headers=headers)
        assert response.status_code == 400, (cut, response.text)
        message = response.json()["error"]["message"]
        assert "\n" not in message and "closing boundary" in message
    page = client.post("/", content=body[: len(body) // 2], headers=headers)
    assert page.status_code == 400 and "closing boundary" in page.text
