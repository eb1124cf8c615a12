"""Request bodies from JSON or multipart form data, with one-line errors (400 malformed, 415 wrong type, 422)."""

from __future__ import annotations

from typing import Any

from mmedrag.serve.errors import ApiError, one_line
from mmedrag.serve.json_body import loads
from mmedrag.serve.schemas import MAX_K, AskRequest
from mmedrag.serve.uploads import decode_base64

ASK_FORM = {
    "type": "object",
    "required": ["question"],
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "PNG, JPEG or DICOM"},
        "question": {"type": "string"},
        "domain": {"type": "string"},
        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
        "without_retrieval": {"type": "boolean"},
    },
}


async def read_json(request: Any) -> Any:
    """The request body as JSON (415 for another content type; 400 or 422 as :func:`~mmedrag.serve.json_body.loads`)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, f"send application/json, not {media or 'no content type'}")
    return loads(await request.body())


async def read_ask(request: Any, max_bytes: int) -> tuple[AskRequest, bytes | None]:
    """An ask request and its image bytes, from JSON (base64 image) or multipart form data (an image file)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "multipart/form-data":
        body = AskRequest.model_validate(await read_json(request))
        return body, (decode_base64(body.image, max_bytes) if body.image else None)
    form = await read_form(request, max_bytes, max_fields=8)
    return await ask_from_form(form)


async def read_form(request: Any, max_bytes: int, max_fields: int) -> Any:
    """Form data with at most one file; a multipart body that ends before its closing boundary is a 400.

    The multipart parser keeps the parts it finished and drops a cut-off one without a word: a cut upload would be
    answered as a text-only question. RFC 2046 §5.1.1: a body ends with its close delimiter ``--boundary--``.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "multipart/form-data":
        boundary = _boundary(content_type)
        body = await request.body()  # read once; the form parser reads the cached body
        if boundary is not None and b"--" + boundary + b"--" not in body:
            raise ApiError(
                400, "the multipart body is incomplete: it ends before its closing boundary (upload cut off?)"
            )
    return await request.form(max_files=1, max_fields=max_fields, max_part_size=max_bytes)


def _boundary(content_type: str) -> bytes | None:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1", "replace")
    return None


async def ask_from_form(form: Any, extra_fields: frozenset[str] = frozenset()) -> tuple[AskRequest, bytes | None]:
    """An ask request from parsed form data: fields as in :data:`ASK_FORM` (plus ``extra_fields``)."""
    from pydantic import ValidationError

    unknown = set(form.keys()) - set(ASK_FORM["properties"]) - extra_fields
    if unknown:
        raise ApiError(422, f"unknown form field(s): {', '.join(sorted(unknown))}")
    upload = form.get("image")
    image_bytes = None
    if upload is not None and not isinstance(upload, str):
        image_bytes = await upload.read()
        if not image_bytes and upload.filename:
            raise ApiError(400, "the uploaded image is empty (0 bytes)")
        image_bytes = image_bytes or None  # a browser sends an empty, nameless part when no file was picked
    try:
        k = int(str(form["k"])) if form.get("k") else None
    except ValueError:
        raise ApiError(422, f"k must be a whole number, not {one_line(str(form['k']), 40)!r}") from None
    try:
        body = AskRequest(
            question=str(form.get("question", "")),
            domain=str(form.get("domain")) if form.get("domain") else None,
            k=k,
            without_retrieval=str(form.get("without_retrieval", "")).lower() in {"1", "true", "on", "yes"},
        )
    except ValidationError as exc:
        raise ApiError(422, first_error(exc.errors())) from None
    return body, image_bytes


def first_error(errors: Any) -> str:
    errors = list(errors)
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" ({len(errors)} errors in all)" if len(errors) > 1 else ""
    return one_line(f"{where}: {message}{more}")
