"""``POST /v1/chat/completions``: mmedrag as an OpenAI-compatible model, so any OpenAI client or chat front-end
can use it. The question is the last user message's text, the image its last ``image_url`` part (a ``data:`` URL:
the service fetches nothing from the network). The answer's cited cases travel in the response as ``citations``
(ids and scores) and the full ``ask --json`` object as ``mmedrag``; with ``stream`` they arrive in the final chunk
of the server-sent events, before ``data: [DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request

from mmedrag.serve.errors import ApiError
from mmedrag.serve.observability import audit_entry
from mmedrag.serve.parsing import first_error, read_json
from mmedrag.serve.schemas import ChatRequest, check_question
from mmedrag.serve.service import Service
from mmedrag.serve.uploads import decode_base64
from mmedrag.serve.views import ask_payload
from mmedrag.types import Answer, Query


def question_and_image(request: ChatRequest) -> tuple[str, str | None]:
    """The last user message's text and the latest image of the conversation (a data: URL)."""
    question, image = "", None
    for message in request.messages:
        content = message.content
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        texts = []
        for part in parts:
            kind = part.get("type")
            if kind == "text":
                texts.append(str(part.get("text", "")))
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str) or not url.startswith("data:"):
                    raise ApiError(400, "image_url must be a data: URL (base64); the service fetches nothing")
                image = url
            else:
                raise ApiError(422, f"unsupported content part type {kind!r}; use text or image_url")
        if message.role == "user":
            question = " ".join(t for t in texts if t.strip())
    if not question.strip():
        raise ApiError(422, "the last user message has no text question")
    return question, image


def completion(answer: Answer, model: str, identifier: str) -> dict[str, Any]:
    """A ``chat.completion`` object with ``citations`` and the full answer as ``mmedrag``."""
    payload = ask_payload(answer)
    return {
        "id": identifier,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": len(answer.text.split()),
            "total_tokens": answer.prompt_tokens + len(answer.text.split()),
        },
        "citations": answer.citations,
        "mmedrag": payload,
    }


async def stream(answer: Answer, model: str, identifier: str) -> AsyncIterator[bytes]:
    """Server-sent ``chat.completion.chunk`` events: the role, the answer word by word, then the citations."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        body = {
            "id": identifier,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    words = answer.text.split(" ")
    for number, word in enumerate(words):
        yield chunk({"content": word if number == len(words) - 1 else word + " "})
    yield chunk({}, "stop", citations=answer.citations, mmedrag=ask_payload(answer))
    yield b"data: [DONE]\n\n"


def add_openai_routes(app: Any, service: Service, caller: Callable[[Any], Any]) -> None:
    """Register ``/v1/chat/completions`` and ``/v1/models``."""
    from fastapi.responses import StreamingResponse
    from pydantic import ValidationError

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(request: Request) -> Any:
        """OpenAI-compatible chat completions (text + ``image_url`` data URLs, optional ``stream``)."""
        caller(request)
        try:
            body = ChatRequest.model_validate(await read_json(request))
        except ValidationError as exc:
            raise ApiError(422, first_error(exc.errors())) from None
        question, url = question_and_image(body)
        try:
            question = check_question(question)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        image = await service.decode(decode_base64(url, service.settings.max_body_bytes)) if url else None
        answer, _, _ = await service.ask(Query(text=question, image=image))
        request.state.audit = audit_entry(service, question, answer.domain, answer.citations)
        identifier = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        if body.stream:
            return StreamingResponse(stream(answer, body.model, identifier), media_type="text/event-stream")
        return completion(answer, body.model, identifier)

    @app.get("/v1/models", tags=["openai"])
    async def models(request: Request) -> dict[str, Any]:
        """The one model this service answers as."""
        caller(request)
        return {"object": "list", "data": [{"id": "mmedrag", "object": "model", "owned_by": "mmedrag"}]}
