"""Real chat clients against ``mmedrag serve`` as a uvicorn process on 127.0.0.1: the ``openai`` package and
LangChain's ``ChatOpenAI`` get the sources in the message text they return (the only field chat clients keep),
streaming with ``include_usage`` ends with a usage chunk, and Open WebUI's attached-files message gets a yes/no."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
pytest.importorskip("uvicorn", reason="needs uvicorn: pip install 'mmedrag[serve]'")

from serve_helpers import Server, data_url, knowledge_base, png_bytes

pytestmark = pytest.mark.integration

QUESTION = "Is there a pleural effusion?"
OPEN_WEBUI = Path(__file__).resolve().parents[1] / "fixtures" / "open_webui" / "chat_image.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chat")
    index = knowledge_base(folder / "kb", with_dicom=False)
    started = Server(["--index", str(index), "--rate-limit", "0"], log=folder / "serve.log")
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def _content(seed: int = 11) -> list[dict]:
    return [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": data_url(png_bytes(seed))}}]


def _assert_sources_in_text(text: str, citations: list[dict], base: str) -> None:
    """Every cited case is named in the text with an absolute thumbnail link that serves a PNG."""
    assert re.match(r"(Yes|No)\. Reference \[\d\]", text), text
    assert "**Evidence:**" in text and "**Sources**" in text
    for cited in citations:
        assert f"Case {cited['id']}**" in text
    links = re.findall(r"\]\((http://[^)\s]+/thumbnail)\)", text)
    assert len(links) == len(citations) and all(link.startswith(base + "/v1/cases/") for link in links)
    thumbnail = httpx.get(links[0], timeout=30)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/png"


def test_the_openai_client_gets_sources_in_the_text_and_a_usage_chunk(server) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": _content()}]
    plain = api.chat.completions.create(model="mmedrag", messages=messages)
    text = plain.choices[0].message.content
    _assert_sources_in_text(text, plain.model_extra["citations"], server.url)
    chunks = list(
        api.chat.completions.create(
            model="mmedrag", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_the_openai_client_sending_open_webuis_attached_files_message_gets_yes_or_no(server) -> None:
    openai = pytest.importorskip("openai")
    api = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    request = json.loads(OPEN_WEBUI.read_text(encoding="utf-8"))["request"]
    reply = api.chat.completions.create(model="mmedrag", messages=request["messages"])
    assert re.match(r"(Yes|No)\. ", reply.choices[0].message.content), reply.choices[0].message.content


def test_langchain_chat_openai_gets_sources_in_the_text_also_streamed_with_usage(server) -> None:
    pytest.importorskip("langchain_openai", reason="needs langchain-openai: pip install 'mmedrag[dev]'")
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="mmedrag", base_url=server.url + "/v1", api_key="unused", max_retries=0)
    message = HumanMessage(content=_content(12))
    reply = chat.invoke([message])
    citations = [{"id": found} for found in re.findall(r"\*\*\[\d\] Case (\S+)\*\*", reply.content)]
    assert citations
    _assert_sources_in_text(reply.content, citations, server.url)
    assert reply.usage_metadata and reply.usage_metadata["output_tokens"] == len(reply.content.split())
    streaming = ChatOpenAI(model="mmedrag", base_url=server.url + "/v1", api_key="unused", stream_usage=True)
    total = None
    for chunk in streaming.stream([message]):
        total = chunk if total is None else total + chunk
    assert total is not None and total.content == reply.content
    assert total.usage_metadata and total.usage_metadata["output_tokens"] == len(reply.content.split())
