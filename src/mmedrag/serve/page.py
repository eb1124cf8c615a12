"""The web page: ``GET /`` shows the form, ``POST /`` answers and renders the result on the server.

Everything is rendered by Jinja2 with autoescaping on, so a report or a question containing markup is shown as text
(the knowledge base is user data too). Thumbnails are inlined as ``data:`` URLs so the page needs no second
authenticated request; the only script is the package's own ``static/app.js`` (drag and drop, busy state).
"""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

from fastapi import Request
from PIL import Image

from mmedrag.domains import DOMAINS
from mmedrag.serve.engine import Snapshot
from mmedrag.serve.errors import ApiError
from mmedrag.serve.observability import audit_entry
from mmedrag.serve.parsing import ask_from_form, read_form
from mmedrag.serve.schemas import MAX_K
from mmedrag.serve.service import Service
from mmedrag.serve.views import ask_payload, split_on
from mmedrag.types import Answer, Query

HERE = Path(__file__).parent


def add_page_routes(app: Any, service: Service) -> None:
    """Register ``/``, ``POST /`` and ``/static``."""
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates

    templates = Jinja2Templates(directory=str(HERE / "templates"))
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
        view = await asyncio.to_thread(_view, service, snapshot, answer, baseline, image)
        return render(request, form=form_values, result=view)


def _view(
    service: Service, snapshot: Snapshot, answer: Answer, baseline: Answer | None, image: Image.Image | None
) -> dict[str, Any]:
    """What the template shows: the payload, the query image and each card's thumbnail and highlighted report."""
    payload = ask_payload(answer, baseline)
    for card in payload["evidence"]:
        record = snapshot.record(card["id"])
        png = service.thumbnails.png(snapshot, record) if record is not None else None
        card["thumbnail"] = _data_url(png) if png else None
        card["parts"] = split_on(card["report"], card["deciding_sentence"])
    if image is not None:
        preview = image.copy()
        preview.thumbnail((256, 256), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        preview.save(buffer, format="PNG")
        payload["query_image"] = _data_url(buffer.getvalue())
    return payload


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
