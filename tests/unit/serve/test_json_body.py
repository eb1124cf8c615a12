"""JSON bodies within limits: depth before parsing, long numbers and lone surrogates named by field."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.serve.errors import ApiError
from mmedrag.serve.json_body import MAX_DEPTH, MAX_NUMBER_CHARS, loads


def _refused(body: bytes, status: int) -> str:
    with pytest.raises(ApiError) as caught:
        loads(body)
    assert caught.value.status == status
    assert "\n" not in caught.value.message and len(caught.value.message) < 300
    return caught.value.message


def test_ordinary_bodies_parse_as_json_does() -> None:
    body = {"question": "Is there an effusion? é 😀", "k": 3, "x": [1.5, None, True, {"a": [[]]}], "n": -1e-3}
    assert loads(json.dumps(body).encode()) == body
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert loads(nested) == json.loads(nested)
    many = json.dumps({"items": [[i] for i in range(500)]}).encode()  # many brackets, shallow
    assert loads(many)["items"][-1] == [499]


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = "[" * 5000 + '\\"{'
    assert loads(json.dumps({"question": text}).encode()) == {"question": text}


@pytest.mark.parametrize(
    "body",
    [
        b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"[" * 100_000,  # unterminated as well: refused before the parser recurses
        b'{"messages": [{"content": ' + b"{" * 2000,
    ],
)
def test_deep_nesting_is_a_400_naming_where(body: bytes) -> None:
    message = _refused(body, 400)
    assert f"deeper than {MAX_DEPTH} levels" in message
    if body.startswith(b'{"question"'):
        assert message.startswith("malformed JSON: question[]")
    if body.startswith(b'{"messages"'):
        assert "messages[].content" in message


def test_long_numbers_are_a_422_naming_the_field() -> None:
    message = _refused(b'{"question": "hi", "k": ' + b"9" * 5000 + b"}", 422)
    assert message.startswith("k: a number of 5000 characters") and str(MAX_NUMBER_CHARS) in message
    message = _refused(b'{"a": [1, {"b": 0.' + b"1" * 200 + b"}]}", 422)
    assert message.startswith("a[1].b: ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"question": "is there \\ud800 effusion?"}', "question"),
        (
            b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
            "messages[0].content[0].text",
        ),
        (b'{"\\ud800key": 1}', "?key"),
    ],
)
def test_lone_surrogates_are_a_422_naming_the_field(body: bytes, field: str) -> None:
    message = _refused(body, 422)
    assert message.startswith(f"{field}: not valid Unicode: a lone surrogate")
    message.encode("utf-8")  # the message itself is valid text


def test_a_surrogate_pair_is_a_valid_character() -> None:
    assert loads(b'{"q": "\\ud83d\\ude00"}') == {"q": "\U0001f600"}


def test_malformed_json_names_line_and_column_and_non_utf8_is_a_400() -> None:
    assert _refused(b'{\n  "question": "x",\n', 400).endswith("at line 3, column 1")
    assert "not UTF-8" in _refused(b'{"question": "\xff"}', 400)
