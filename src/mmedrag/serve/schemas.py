"""Request bodies of the JSON API (validated by pydantic; FastAPI documents them in its OpenAPI page)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mmedrag.domains import DOMAINS
from mmedrag.serve.settings import MAX_QUESTION_CHARS

MAX_K = 20


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_question(text: str, required: bool = True) -> str:
    """Strip the question; refuse an empty one (when required) or one longer than the limit."""
    text = text.strip()
    if required and not text:
        raise ValueError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question has {len(text)} characters, more than the limit of {MAX_QUESTION_CHARS}")
    return text


def check_domain_name(domain: str | None) -> str | None:
    if domain in (None, ""):
        return None
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; use one of: {', '.join(DOMAINS)}")
    return domain


class AskRequest(_Strict):
    """``POST /v1/ask`` as JSON: the image as base64 (or a ``data:`` URL) and the question."""

    image: str | None = Field(None, description="PNG, JPEG or DICOM bytes as base64 or a data: URL")
    question: str = Field(..., description="the question about the image")
    domain: str | None = Field(None, description="answer as this domain (skips the router)")
    k: int | None = Field(None, ge=1, le=MAX_K, description="cap on the references given to the generator")
    without_retrieval: bool = Field(False, description="also answer with no references, for comparison")

    _question = field_validator("question")(check_question)
    _domain = field_validator("domain")(check_domain_name)


class SearchRequest(_Strict):
    """``POST /v1/search`` as JSON: an image and/or a text; returns the cases found, no generation."""

    image: str | None = Field(None, description="PNG, JPEG or DICOM bytes as base64 or a data: URL")
    text: str = Field("", description="text to search with (a question or a finding)")
    domain: str | None = None
    k: int = Field(5, ge=1, le=MAX_K)

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return check_question(value, required=False)

    _domain = field_validator("domain")(check_domain_name)


class ChatMessage(BaseModel):
    """An OpenAI chat message: ``content`` is a string or a list of ``text`` / ``image_url`` parts."""

    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of OpenAI's chat-completions request mmedrag reads; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = "mmedrag"
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = Field(None, description='{"include_usage": true} adds a usage chunk')
