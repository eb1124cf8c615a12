"""``POST /v1/chat/completions``: mmedrag as an OpenAI-compatible model, so any OpenAI client or chat front-end
can use it. The question is the last user message's text (client wrappers such as Open WebUI's ``<attached_files>``
taken off, see :mod:`mmedrag.serve.chat_input`), the image its last ``image_url`` part (a ``data:`` URL: the service
fetches nothing from the network). A client's housekeeping prompt (a chat title, tags, follow-ups) gets a short
neutral reply in the JSON it asks for, without retrieval.

The message text is the answer, its evidence grade and confidence and the numbered sources in Markdown
(:mod:`mmedrag.serve.chat_text`), since chat clients show only the text. The cited cases also travel as
``citations`` (ids and scores) and the full ``ask --json`` object as ``mmedrag``; with ``stream`` they arrive in the
last content chunk, followed by a usage chunk when ``stream_options.include_usage`` is set (OpenAI's streaming
format: empty ``choices``), then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request

from mmedrag.serve.chat_input import housekeeping, question_and_image
from mmedrag.serve.chat_text import chat_text
from mmedrag.serve.errors import ApiError
from mmedrag.serve.observability import audit_entry
from mmedrag.serve.parsing import first_error, read_json
from mmedrag.serve.schemas import ChatRequest, check_question
from mmedrag.serve.service import Service
from mmedrag.serve.uploads import decode_base64
from mmedrag.serve.views import ask_payload
from mmedrag.types import Query


class Reply:
    """One chat reply: its text, token counts and the extra fields (``citations``, ``mmedrag``) it carries."""

    def __init__(self, text: str, model: str, prompt_tokens: int = 0, **extra: Any) -> None:
        self.text, self.model, self.extra = text, model, extra
        self.identifier = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        completion_tokens = len(text.split())
        self.usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def completion(self) -> dict[str, Any]:
        """A ``chat.completion`` object."""
        message = {"role": "assistant", "content": self.text}
        return {
            "id": self.identifier,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": self.usage,
            **self.extra,
        }

    async def stream(self, include_usage: bool) -> AsyncIterator[bytes]:
        """Server-sent ``chat.completion.chunk`` events: the role, the text word by word, the extra fields with
        ``finish_reason``, the usage chunk when asked, then ``[DONE]``."""
        usage: dict[str, Any] = {"usage": None} if include_usage else {}

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            body = {
                "id": self.identifier,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()

        def delta(content: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            return chunk([{"index": 0, "delta": content, "finish_reason": finish}], **usage, **extra)

        yield delta({"role": "assistant", "content": ""})
        words = self.text.split(" ")
        for number, word in enumerate(words):
            yield delta({"content": word if number == len(words) - 1 else word + " "})
        yield delta({}, "stop", **self.extra)
        if include_usage:
            yield chunk([], usage=self.usage)
        yield b"data: [DONE]\n\n"


def _include_usage(body: ChatRequest) -> bool:
    options = body.stream_options or {}
    return bool(options.get("include_usage")) if isinstance(options, dict) else False


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
        task = housekeeping(body)
        if task is not None:
            reply = Reply(task.reply, body.model, citations=[])
        else:
            reply = await _answer(request, body)
        if body.stream:
            events = reply.stream(_include_usage(body))
            return StreamingResponse(events, media_type="text/event-stream")
        return reply.completion()

    async def _answer(request: Request, body: ChatRequest) -> Reply:
        question, url = question_and_image(body)
        try:
            question = check_question(question)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        image = await service.decode(decode_base64(url, service.settings.max_body_bytes)) if url else None
        answer, _, _ = await service.ask(Query(text=question, image=image))
        request.state.audit = audit_entry(service, question, answer.domain, answer.citations)
        # Thumbnails as images only where a browser may load them: with API keys it sends none.
        text = chat_text(answer, str(request.base_url), images=not service.settings.auth_required)
        return Reply(text, body.model, answer.prompt_tokens, citations=answer.citations, mmedrag=ask_payload(answer))

    @app.get("/v1/models", tags=["openai"])
    async def models(request: Request) -> dict[str, Any]:
        """The one model this service answers as."""
        caller(request)
        return {"object": "list", "data": [{"id": "mmedrag", "object": "model", "owned_by": "mmedrag"}]}
