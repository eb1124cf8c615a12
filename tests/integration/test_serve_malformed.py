"""No request is a 5xx: a property test over the JSON and multipart routes with malformed, deep, huge-number and
invalid-Unicode bodies (Hypothesis), on a real pipeline (hash encoder index + extractive answerer)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
hypothesis = pytest.importorskip("hypothesis", reason="needs hypothesis: pip install 'mmedrag[dev]'")

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmedrag.config import load_config
from mmedrag.factory import build_pipeline
from mmedrag.serve.app import create_app
from mmedrag.serve.settings import ServeSettings
from serve_helpers import data_url, knowledge_base, png_bytes

pytestmark = pytest.mark.integration

JSON_ROUTES = ("/v1/ask", "/v1/search", "/v1/chat/completions")
FIELDS = ("question", "text", "k", "domain", "image", "without_retrieval", "messages", "stream", "role", "content")
HUGE = "<an integer of 5,000 digits>"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    index = knowledge_base(tmp_path_factory.mktemp("kb"), with_dicom=False)
    pipeline = build_pipeline(load_config(values={"index": str(index)}))
    settings_ = ServeSettings(max_body_bytes=2_000_000, rate_limit_per_minute=0)
    with TestClient(create_app(pipeline, settings_), raise_server_exceptions=False) as test_client:
        yield test_client


# Text with lone surrogates and control characters besides ordinary words.
texts = st.text(st.characters(codec=None, categories=None), max_size=40) | st.sampled_from(
    ["Is there a pleural effusion?", "\ud800", "a\udfffb", "", " ", "\x00", "[reference 1]", "<script>"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.just(HUGE)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | texts, inner, max_size=5),
    max_leaves=20,
)


def _message(role, content):
    return {"role": role, "content": content}


chat_bodies = st.fixed_dictionaries(
    {
        "messages": st.lists(
            st.builds(
                _message,
                st.sampled_from(["user", "system", "assistant", "tool", "wizard"]),
                texts
                | st.lists(
                    st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "audio"]), "text": texts})
                    | st.just({"type": "image_url", "image_url": {"url": data_url(png_bytes(3))}})
                    | values,
                    max_size=3,
                ),
            ),
            max_size=3,
        ),
        "stream": st.booleans() | values,
    },
    optional={"stream_options": values, "model": values},
)
ask_bodies = st.fixed_dictionaries(
    {},
    optional={
        "question": texts | values,
        "text": texts,
        "k": st.integers(-5, 50) | values,
        "domain": st.sampled_from(["radiology", "astrology"]) | values,
        "image": st.sampled_from(["", "abc", data_url(png_bytes(4)), "data:image/png;base64,!!"]) | values,
        "without_retrieval": values,
    },
)


def _encode(value, how: str) -> bytes:
    text = json.dumps(value, ensure_ascii=True, allow_nan=True)  # lone surrogates travel as \udXXX escapes
    text = text.replace(json.dumps(HUGE), "9" * 5000)  # past Python's 4,300-digit limit (Hypothesis cannot shrink it)
    if how == "deep":
        return ("[" * 3000 + text + "]" * 3000).encode()
    if how == "cut":
        return text[: max(1, len(text) // 2)].encode()
    return text.encode()


def _never_5xx(response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.headers["content-type"] == "application/json":  # the page: HTML
        error = response.json()["error"]
        assert error["code"] == response.status_code and "\n" not in error["message"] and error["message"]


@PROPERTY
@given(
    route=st.sampled_from(JSON_ROUTES),
    body=ask_bodies | chat_bodies | values,
    how=st.sampled_from(["plain", "plain", "plain", "deep", "cut"]),
)
def test_json_routes_never_answer_5xx(client, route, body, how) -> None:
    _never_5xx(client.post(route, content=_encode(body, how), headers={"content-type": "application/json"}))


@PROPERTY
@given(body=chat_bodies)
def test_streamed_chat_never_answers_5xx(client, body) -> None:
    body = {**body, "stream": True}
    _never_5xx(
        client.post(
            "/v1/chat/completions", content=_encode(body, "plain"), headers={"content-type": "application/json"}
        )
    )


@PROPERTY
@given(
    route=st.sampled_from(["/v1/ask", "/"]),
    fields=st.dictionaries(st.sampled_from([*FIELDS, "x"]), st.text(max_size=30), max_size=5),
    image=st.none() | st.binary(max_size=200) | st.just(png_bytes(5)),
    cut=st.booleans(),
)
def test_multipart_routes_never_answer_5xx(client, route, fields, image, cut) -> None:
    files = {"image": ("scan.png", image, "image/png")} if image is not None else None
    request = client.build_request("POST", route, data=fields, files=files or {"x": ("x", b"")})
    content = request.read()
    if cut:
        content = content[: len(content) // 2]
    _never_5xx(client.post(route, content=content, headers={"content-type": request.headers["content-type"]}))


@pytest.mark.parametrize("route", JSON_ROUTES)
def test_the_probe_bodies_that_were_500s_are_4xx_naming_the_field(client, route) -> None:
    chat = route.endswith("completions")
    question = '{"messages": [{"role": "user", "content": "is there \\ud800 effusion?"}]}' if chat else None
    surrogate = question or ('{"text": "\\ud800"}' if route.endswith("search") else '{"question": "\\ud800"}')
    cases = [
        (b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "question[]"),
        (b'{"question": "hi", "k": ' + b"9" * 5000 + b"}", 422, "k: "),
        (surrogate.encode(), 422, "messages[0].content: " if chat else surrogate[2:6]),
    ]
    for body, status, field in cases:
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        assert response.status_code == status, response.text
        assert field in response.json()["error"]["message"]
    stream = b'{"stream": true, "messages": [{"role": "user", "content": "\\ud800"}]}'
    response = client.post("/v1/chat/completions", content=stream, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "lone surrogate" in response.text
