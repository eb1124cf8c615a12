"""What a chat client's request asks: the question and image of the last user turn, with the client's own wrappers
taken off, or one of the client's housekeeping prompts (a title, tags, follow-ups...) that needs no medical answer.

Chat front-ends add text around the user's words. Open WebUI 0.12 (``open_webui/utils/middleware.py``) puts an
``<attached_files>`` list of the uploaded files in a text part before the question, and wraps retrieved documents
as ``<source>`` tags inside its RAG template (``<context>...</context>`` before the question). Its background tasks
(``open_webui/config.py``, ``DEFAULT_*_PROMPT_TEMPLATE``) are single user messages asking for JSON about the chat
history. The recorded requests are in ``tests/fixtures/open_webui/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mmedrag.serve.errors import ApiError
from mmedrag.serve.schemas import ChatRequest

NEUTRAL_TITLE = "Medical image question"
NEUTRAL_TAGS = ["Health", "Medical imaging"]

# Blocks a client adds around or beside the user's words: file lists, retrieved sources, the documents of a RAG
# template; removed with everything inside.
_WRAPPERS = re.compile(
    r"<(attached_files|attachments|files|documents|document|source|sources|file)\b[^>]*?(?:/>|>.*?</\1\s*>)",
    re.IGNORECASE | re.DOTALL,
)
_LONE_TAG = re.compile(r"<(?:file|source|document|attached_file)\b[^>]*/?>", re.IGNORECASE)
_USER_QUERY = re.compile(r"<user_query>(.*?)</user_query>", re.IGNORECASE | re.DOTALL)  # Open WebUI < 0.6's RAG
_CONTEXT_END = re.compile(r"</context>", re.IGNORECASE)


@dataclass(frozen=True)
class Housekeeping:
    """A client's background prompt, by kind (``title``, ``tags``, ...), and the neutral reply it expects."""

    kind: str
    reply: str


# (kind, what identifies the template, the reply). Signatures are phrases of Open WebUI's default templates that a
# question about an image does not contain; each is checked together with the template's JSON key.
_TASKS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("title", re.compile(r"generate a concise.{0,40}title", re.I | re.S), json.dumps({"title": NEUTRAL_TITLE})),
    ("tags", re.compile(r"generate 1-3 broad tags", re.I), json.dumps({"tags": NEUTRAL_TAGS})),
    ("follow_ups", re.compile(r'"follow_ups"'), json.dumps({"follow_ups": []})),
    ("queries", re.compile(r"generating search queries|\"queries\"\s*:", re.I), json.dumps({"queries": []})),
    ("autocomplete", re.compile(r"you are an autocompletion system", re.I), json.dumps({"text": ""})),
    ("image_prompt", re.compile(r"prompt for a\w* image generation task", re.I), json.dumps({"prompt": ""})),
    ("emoji", re.compile(r"facial expression through a fitting emoji", re.I), "\U0001fa7a"),
    ("tools", re.compile(r"available tools:.*\"tool_calls\"", re.I | re.S), json.dumps({"tool_calls": []})),
)
_TASK_HEADER = re.compile(r"^\s*#+\s*task\s*:", re.I)
_JSON_KEY = re.compile(r'\{\s*"(\w+)"\s*:\s*(\[|")')


def housekeeping(request: ChatRequest) -> Housekeeping | None:
    """The client task a request is, or None for a question to answer.

    A request is a task when its last user message (or its system message, for tool selection) matches a known
    template. An unknown template in the same shape (a ``### Task:`` header over a ``<chat_history>``) is answered
    with an empty value under the JSON key its output section names.
    """
    user = _texts(request, "user")
    system = _texts(request, "system")
    for kind, signature, reply in _TASKS:
        if signature.search(user if kind != "tools" else system):
            bare = kind == "title" and "json" not in user.lower()  # a client that asks for the bare title
            return Housekeeping(kind, NEUTRAL_TITLE if bare else reply)
    if _TASK_HEADER.match(user) and "<chat_history>" in user:
        key = _JSON_KEY.search(user[user.rfind("### Output") :] if "### Output" in user else user)
        if key:
            return Housekeeping(key.group(1), json.dumps({key.group(1): [] if key.group(2) == "[" else ""}))
        return Housekeeping("task", "{}")
    return None


def question_and_image(request: ChatRequest) -> tuple[str, str | None]:
    """The last user message's text, without client wrappers, and the latest image of the conversation (a data:
    URL)."""
    question, image = "", None
    for message in request.messages:
        texts = []
        for part in _parts(message.content):
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
            question = " ".join(cleaned for text in texts if (cleaned := unwrap(text)))
    if not question.strip():
        raise ApiError(422, "the last user message has no text question")
    return question, image


def unwrap(text: str) -> str:
    """The user's own words in a text part: a RAG template's question, without file lists and sources."""
    query = _USER_QUERY.search(text)
    if query:
        text = query.group(1)
    else:
        ends = list(_CONTEXT_END.finditer(text))
        if ends:  # Open WebUI's RAG template: instructions and <context>, then the question
            text = text[ends[-1].end() :]
    return " ".join(_LONE_TAG.sub(" ", _WRAPPERS.sub(" ", text)).split())


def _parts(content: str | list[dict] | None) -> list[dict]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])


def _texts(request: ChatRequest, role: str) -> str:
    """The text of the last message with this role."""
    for message in reversed(request.messages):
        if message.role == role:
            return "\n".join(str(p.get("text", "")) for p in _parts(message.content) if p.get("type") == "text")
    return ""
