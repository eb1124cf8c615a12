"""What a chat request asks: Open WebUI's recorded requests (tests/fixtures/open_webui) read as the question with the
client's wrappers taken off, or as the client's own background task with the reply format it parses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.serve.chat_input import housekeeping, question_and_image, unwrap
from mmedrag.serve.errors import ApiError
from mmedrag.serve.schemas import ChatRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "open_webui"
TASKS = {
    "title": ("title", str),
    "tags": ("tags", list),
    "follow_ups": ("follow_ups", list),
    "queries": ("queries", list),
    "autocomplete": ("text", str),
    "image_prompt": ("prompt", str),
}


def _fixture(name: str) -> ChatRequest:
    record = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    assert record["open_webui_version"] == "0.12.4"
    return ChatRequest.model_validate(record["request"])


def _user(text: str, system: str | None = None) -> ChatRequest:
    messages = [{"role": "system", "content": system}] if system else []
    return ChatRequest.model_validate({"messages": [*messages, {"role": "user", "content": text}]})


@pytest.mark.parametrize("name", ["chat_image", "chat_image_with_source"])
def test_an_open_webui_image_message_is_the_question_without_its_file_list_or_sources(name: str) -> None:
    request = _fixture(name)
    assert housekeeping(request) is None
    question, image = question_and_image(request)
    assert question == "Is there a pleural effusion?"
    assert image is not None and image.startswith("data:image/png;base64,")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_open_webui_background_prompts_get_the_json_its_parser_reads(name: str) -> None:
    task = housekeeping(_fixture(name))
    assert task is not None and task.kind == name
    key, kind = TASKS[name]
    # Open WebUI reads the reply from the first '{' to the last '}' (utils/task.py parse_follow_ups and the others).
    reply = json.loads(task.reply[task.reply.find("{") : task.reply.rfind("}") + 1])
    assert list(reply) == [key] and isinstance(reply[key], kind)
    if name == "title":
        assert reply["title"].strip() and "unknown" not in reply["title"].lower()


def test_the_emoji_prompt_gets_one_emoji() -> None:
    task = housekeeping(_fixture("emoji"))
    assert task is not None and task.kind == "emoji" and len(task.reply) == 1 and not task.reply.isascii()


def test_a_title_prompt_that_asks_for_plain_text_gets_plain_text() -> None:
    task = housekeeping(_user("Generate a concise, 3-5 word title for this chat. Reply with the title only."))
    assert task is not None and task.kind == "title" and task.reply == "Medical image question"


def test_a_question_is_not_a_task_even_when_it_names_one() -> None:
    for text in ("Is there a pleural effusion?", "Generate tags for this chest x-ray?", "What is the title finding?"):
        assert housekeeping(_user(text)) is None


def test_an_unknown_task_template_is_answered_with_an_empty_value_under_its_json_key() -> None:
    text = (
        '### Task:\nSummarise the chat history.\n### Output:\nJSON format: { "summary": "..." }\n'
        "### Chat History:\n<chat_history>\nUSER: Is there a pleural effusion?\n</chat_history>"
    )
    task = housekeeping(_user(text))
    assert task is not None and json.loads(task.reply) == {"summary": ""}


def test_legacy_tool_selection_gets_no_tool_calls() -> None:
    system = 'Available Tools: [{"name": "web_search"}]\n\nReturn only the JSON object ... {"tool_calls": []}'
    task = housekeeping(_user("Query: Is there a pleural effusion?", system=system))
    assert task is not None and json.loads(task.reply) == {"tool_calls": []}


def test_unwrap_keeps_the_words_around_wrappers_and_reads_the_older_user_query_tag() -> None:
    assert unwrap('<file type="image" id="1"/> Is it <b>?') == "Is it <b>?"  # only client wrappers go
    assert unwrap("<source id='1'>report</source>Is there an effusion?") == "Is there an effusion?"
    older = "Use the context.\n<context>report</context>\n<user_query>\nIs the heart enlarged?\n</user_query>"
    assert unwrap(older) == "Is the heart enlarged?"


def test_a_message_that_is_only_a_file_list_has_no_question() -> None:
    content = [{"type": "text", "text": '<attached_files>\n<file type="image" id="x"/>\n</attached_files>\n\n'}]
    request = ChatRequest.model_validate({"messages": [{"role": "user", "content": content}]})
    with pytest.raises(ApiError, match="no text question"):
        question_and_image(request)
