"""The web page: ``GET /`` shows the form, ``POST /`` answers and renders the result on the server.

Everything is rendered by Jinja2 with autoescaping on, so a report or a question containing markup is shown as text
(the knowledge base is user data too). Thumbnails are inlined as ``data:`` URLs so the page needs no second
authenticated request; the only script is the package's own ``static/app.js`` (drag and drop, busy state). The
answer carries its evidence grade (:data:`mmedrag.types.Grade`): green is kept for ``supported`` alone, and an
abstention or an out-of-scope image lists no cited cases.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import Request
from markupsafe import Markup, escape
from PIL import Image

from mmedrag.domains import DOMAINS
from mmedrag.serve.engine import Snapshot
from mmedrag.serve.errors import ApiError
from mmedrag.serve.observability import audit_entry
from mmedrag.serve.parsing import ask_from_form, read_form
from mmedrag.serve.schemas import MAX_K
from mmedrag.serve.service import Service
from mmedrag.serve.uploads import sniff
from mmedrag.serve.views import ask_payload, split_on
from mmedrag.types import Answer, Query

HERE = Path(__file__).parent
FAVICON = HERE / "static" / "favicon.svg"
_SEPARATOR = re.compile(r"([_/:.\\-]+)")


def breakable(text: object) -> Markup:
    """``text`` escaped, with a ``<wbr>`` after each separator so a long record id wraps there, not mid-word."""
    return Markup("").join(
        escape(part) + (Markup("<wbr>") if _SEPARATOR.fullmatch(part) else "")
        for part in _SEPARATOR.split(str(text))
        if part
    )


def page_templates() -> Any:
    """The page's Jinja2 templates (autoescaping on) with the ``breakable`` filter."""
    from fastapi.templating import Jinja2Templates

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["breakable"] = breakable
    return templates


def add_page_routes(app: Any, service: Service) -> None:
    """Register ``/``, ``POST /`` and ``/static``."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    templates = page_templates()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def render(request: Request, status: int = 200, **context: Any) -> Any:
        snapshot = service.snapshot
        base = {
            "title": service.settings.title,
            "auth_required": service.keys.enabled,
            "domains": DOMAINS,
            "max_k": MAX_K,
            "indexes": snapshot.versions if snapshot else [],
            "ready": snapshot is not None,
            "form": {},
        }
        return templates.TemplateResponse(request, "index.html", {**base, **context}, status_code=status)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Any:  # browsers ask for it whatever the page links; the same small SVG
        return FileResponse(FAVICON, media_type="image/svg+xml")

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Any:
        return render(request)

    @app.post("/", include_in_schema=False)
    async def page_ask(request: Request) -> Any:
        form_values: dict[str, Any] = {}
        try:
            form = await read_form(request, service.settings.max_body_bytes, max_fields=10)
            form_values = {key: str(form.get(key, "")) for key in ("question", "domain", "k", "without_retrieval")}
            who = service.guard(None, request.client.host if request.client else "-", str(form.get("api_key", "")))
            request.state.key_id = who.key_id
            body, data = await ask_from_form(form, frozenset({"api_key"}))
            image = await service.decode(data) if data is not None else None
            query = Query(text=body.question, image=image, domain=body.domain)
            answer, baseline, snapshot = await service.ask(query, body.k, body.without_retrieval)
            request.state.audit = audit_entry(service, body.question, answer.domain, answer.citations)
        except ApiError as exc:
            return render(request, exc.status, error=exc.message, form=form_values)
        thumbnail = _thumbnails(service, snapshot)
        view = await asyncio.to_thread(result_view, answer, baseline, image, data, thumbnail)
        return render(request, form=form_values, result=view)


def _thumbnails(service: Service, snapshot: Snapshot) -> Callable[[str], bytes | None]:
    def png(record_id: str) -> bytes | None:
        record = snapshot.record(record_id)
        return service.thumbnails.png(snapshot, record) if record is not None else None

    return png


def result_view(
    answer: Answer,
    baseline: Answer | None,
    image: Image.Image | None,
    upload: bytes | None,
    thumbnail: Callable[[str], bytes | None],
) -> dict[str, Any]:
    """What the template shows: the payload, the query image (its DICOM caption for DICOM uploads alone) and each
    card's thumbnail and highlighted report."""
    payload = ask_payload(answer, baseline)
    for card in payload["evidence"]:
        png = thumbnail(card["id"])
        card["thumbnail"] = _data_url(png) if png else None
        card["parts"] = split_on(card["report"], card["deciding_sentence"])
    payload["image_given"] = image is not None
    payload["dicom_caption"] = dicom_caption(upload) if upload is not None and sniff(upload) == "dicom" else None
    if image is not None:
        preview = image.copy()
        preview.thumbnail((256, 256), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        preview.save(buffer, format="PNG")
        payload["query_image"] = _data_url(buffer.getvalue())
    return payload


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def dicom_caption(data: bytes) -> str:
    """How the service rendered a DICOM upload's greys: modality, size and the window it applied.

    The order is the decoder's (:func:`mmedrag.io.dicom.read_dicom`, PS3.3 C.11.2): the file's VOI LUT, else its
    Window Center/Width, else the frame's min-max; only the header is read here, never the pixels.
    """
    from mmedrag._optional import require

    pydicom = require("pydicom", "dicom")
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
        return "Your DICOM image " + _rendering(dataset)
    except Exception:  # the upload already decoded; a header this reader refuses just gets the plain caption
        return "Your DICOM image, as the service decoded it with the file's own window"


def _rendering(dataset: Any) -> str:
    modality = str(dataset.get("Modality", "") or "").strip() or "modality not stated"
    size = f"{dataset.get('Columns', '?')}x{dataset.get('Rows', '?')}"
    centre, width = _first(dataset.get("WindowCenter")), _first(dataset.get("WindowWidth"))
    lut = dataset.VOILUTSequence[0] if dataset.get("VOILUTSequence") else {}
    function = str(dataset.get("VOILUTFunction", "LINEAR")).strip().upper() or "LINEAR"
    if lut and lut.get("LUTDescriptor") is not None and lut.get("LUTData") is not None:
        window = "the file's VOI LUT"
    elif centre is not None and width is not None and width > 0 and function in {"LINEAR", "LINEAR_EXACT", "SIGMOID"}:
        window = f"the file's window, level {centre:g} / width {width:g}"
    else:
        window = "min-max greys (the file names no window)"
    inverted = ", inverted (MONOCHROME1)" if str(dataset.get("PhotometricInterpretation", "")) == "MONOCHROME1" else ""
    return f"({modality}, {size}), as the service decoded it: {window}{inverted}"


def _first(value: Any) -> float | None:
    """The first of a multi-valued Window Center/Width (PS3.3 C.11.2.1.2), as a number."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[0] if len(value) else None
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None
