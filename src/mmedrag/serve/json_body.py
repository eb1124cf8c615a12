"""JSON request bodies parsed within limits: nesting depth, number length and valid Unicode, each a 4xx naming where.

Python's ``json`` module recurses once per nesting level (``RecursionError`` near 1,000 levels), refuses integers
over 4,300 digits with a bare ``ValueError`` (CVE-2020-10735's guard) and accepts ``"\\ud800"``, a lone UTF-16
surrogate that no UTF-8 encoder (the tokenizer, the audit log's hash) will take. Depth is checked on the raw bytes
before parsing; numbers and strings are checked on the parsed value, so the error can name the field.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from mmedrag.serve.errors import ApiError, one_line

# A chat request nests 5 levels (messages > message > content > part > image_url); clients add tool schemas, which
# nest deeper, so the limit leaves room while staying far below the parser's recursion limit.
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100  # digits, sign, point and exponent of one number; every number the API reads is small

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"\s*:?|[\[\]{}]', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _LongNumber:
    """A number too long to convert, kept as its length so the check below can name its field."""

    def __init__(self, text: str) -> None:
        self.chars = len(text)


def loads(body: bytes) -> Any:
    """``body`` as JSON, or an :class:`ApiError`: 400 malformed or nested deeper than :data:`MAX_DEPTH`, 422 a number
    longer than :data:`MAX_NUMBER_CHARS` or a string that is not valid Unicode (a lone surrogate)."""
    _check_depth(body)
    try:
        value = json.loads(body, parse_int=_number(int), parse_float=_number(float))
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON: the body is not UTF-8 (byte {exc.start})") from None
    problem = _find_problem(value, "")
    if problem is not None:
        where, message = problem
        raise ApiError(422, f"{where or 'body'}: {message}")
    return value


def _number(convert: Any) -> Any:
    def parse(text: str) -> Any:
        return _LongNumber(text) if len(text) > MAX_NUMBER_CHARS else convert(text)

    return parse


def _check_depth(body: bytes) -> None:
    """Refuse a body nested deeper than :data:`MAX_DEPTH`, from the bytes: strings out, then brackets counted."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_DEPTH:
        return
    steps = (1 if byte in b"[{" else -1 for byte in brackets)
    if max(accumulate(steps), default=0) > MAX_DEPTH:
        raise ApiError(400, f"malformed JSON: {_deep_field(body) or 'the body'} nests deeper than {MAX_DEPTH} levels")


def _deep_field(body: bytes) -> str:
    """The key path where the nesting passes the limit (``messages[].content``), for the error message."""
    path: list[str] = []
    key = ""
    for token in _TOKEN.finditer(body):
        text = token.group()
        if text in (b"[", b"{"):
            path.append(key + ("[]" if text == b"[" else ""))
            if len(path) > MAX_DEPTH:
                break
            key = ""
        elif text in (b"]", b"}"):
            if path:
                path.pop()
            key = ""
        elif text.endswith(b":"):
            key = text.rstrip(b": \t\r\n")[1:-1].decode("utf-8", "replace")
    return one_line(".".join(part for part in path[:8] if part).replace(".[]", "[]"), 80)


def _find_problem(value: Any, where: str) -> tuple[str, str] | None:
    """The first (field, problem) in a parsed body: a number too long, or a string with a lone surrogate."""
    if isinstance(value, _LongNumber):
        return where, f"a number of {value.chars} characters; numbers may have at most {MAX_NUMBER_CHARS}"
    if isinstance(value, str):
        bad = _SURROGATE.search(value)
        if bad:
            return where, f"not valid Unicode: a lone surrogate U+{ord(bad.group()):04X} at character {bad.start()}"
        return None
    if isinstance(value, list):
        for number, item in enumerate(value):
            found = _find_problem(item, f"{where}[{number}]")
            if found:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            found = _find_problem(key, name) or _find_problem(item, name)
            if found:
                return one_line(found[0].encode("utf-8", "replace").decode(), 80), found[1]
    return None
