"""The FastAPI application: ``create_app(pipeline, settings)``.

Routes (all JSON errors are ``{"error": {"code", "type", "message"}}`` with one-line messages):

* ``GET /healthz`` alive; ``GET /readyz`` pipeline loaded, index open, warm-up query answered (503 before);
* ``POST /v1/ask`` multipart or JSON -> the ``mmedrag ask --json`` object plus ``summary``, ``evidence``, ``served_by``;
* ``POST /v1/search`` image and/or text -> cited cases, no generation;
* ``GET /v1/cases/{id}`` and ``/v1/cases/{id}/thumbnail``: ids are looked up in the records store, never used as
  paths; unknown ids (traversal attempts included) are 404;
* ``POST /v1/chat/completions`` OpenAI-compatible (see :mod:`mmedrag.serve.openai_routes`);
* ``POST /v1/admin/reload`` (admin key) switches to the newest saved index version; ``GET /metrics``;
* ``GET /`` and ``POST /`` the web page (see :mod:`mmedrag.serve.page`).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from mmedrag._optional import available, require
from mmedrag.errors import MmedragError
from mmedrag.serve.errors import ApiError, error_body, one_line
from mmedrag.serve.middleware import ServiceMiddleware
from mmedrag.serve.observability import audit_entry
from mmedrag.serve.parsing import ASK_FORM, first_error, read_ask, read_json
from mmedrag.serve.schemas import AskRequest, SearchRequest
from mmedrag.serve.service import Caller, PipelineSource, Service
from mmedrag.serve.settings import ServeSettings
from mmedrag.serve.stopping import Drain, on_sigterm
from mmedrag.serve.uploads import decode_base64
from mmedrag.serve.views import ask_payload, case_payload
from mmedrag.types import Query

log = logging.getLogger("mmedrag.serve")


def _body_doc(model: Any, form: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema()}}
    if form is not None:
        content["multipart/form-data"] = {"schema": form}
    return {"requestBody": {"required": True, "content": content}}


def create_app(pipeline: PipelineSource, settings: ServeSettings | None = None) -> Any:
    """The service as an ASGI app; ``pipeline`` may be a loader, called once in the background at start-up.

    Example:
        >>> app = create_app(build_pipeline(load_config("pipeline.yaml")))  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
    """
    fastapi = require("fastapi", "serve")

    settings = settings or ServeSettings()
    service = Service(pipeline, settings)
    drain = Drain(settings.drain_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await service.start()
        _on_sighup(service)
        on_sigterm(drain)
        yield
        await service.stop()  # uvicorn has stopped accepting and waited for open requests: drain the queue

    # The OpenAPI page's viewer is served from the package (fastapi-offline), not from a CDN, when installed.
    factory = require("fastapi_offline", "serve").FastAPIOffline if available("fastapi_offline") else fastapi.FastAPI
    app = factory(
        title="mmedrag",
        version=_version(),
        summary="Multimodal retrieval-augmented answers about medical images, with the cases they rest on.",
        lifespan=lifespan,
    )
    app.state.service, app.state.drain = service, drain

    _add_error_handlers(app)
    caller = _caller(service)
    _add_operation_routes(app, service, caller)
    _add_api_routes(app, service, caller)

    from mmedrag.serve.openai_routes import add_openai_routes
    from mmedrag.serve.page import add_page_routes

    add_openai_routes(app, service, caller)
    add_page_routes(app, service)
    app.add_middleware(ServiceMiddleware, service=service, drain=drain)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_headers=["authorization", "content-type"]
        )
    return app


def _record(service: Service, case_id: str) -> Any:
    if len(case_id) > 512:
        raise ApiError(404, "no such case")
    record = service.current().record(case_id)
    if record is None:
        raise ApiError(404, f"no case with id {one_line(case_id, 80)!r}")
    return record


def _address(request: Any) -> str:
    return request.client.host if request.client else "-"


def _on_sighup(service: Service) -> None:
    """SIGHUP reloads the indexes, like ``POST /v1/admin/reload`` (main thread only, as signals require)."""
    import asyncio

    loop = asyncio.get_running_loop()

    def reload() -> None:
        async def run() -> None:
            try:
                await service.reload()
            except ApiError as exc:
                log.error("SIGHUP reload failed: %s", exc.message)

        loop.create_task(run())

    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.add_signal_handler(signal.SIGHUP, reload)


def _version() -> str:
    from mmedrag import __version__

    return __version__


def _caller(service: Service) -> Callable[[Any], Caller]:
    def caller(request: Any) -> Caller:
        who = service.guard(request.headers.get("authorization"), _address(request))
        request.state.key_id = who.key_id
        return who

    return caller


def _add_error_handlers(app: Any) -> None:
    """Every error is one JSON line: ``{"error": {"code", "type", "message"}}``."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from pydantic import ValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def _api_error(_: Any, exc: ApiError) -> Any:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Any, exc: Any) -> Any:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Any, exc: Any) -> Any:
        return JSONResponse(error_body(422, first_error(exc.errors())), status_code=422)

    @app.exception_handler(ValidationError)
    async def _invalid_body(_: Any, exc: ValidationError) -> Any:
        return JSONResponse(error_body(422, first_error(exc.errors())), status_code=422)

    @app.exception_handler(MmedragError)
    async def _mmedrag_error(_: Any, exc: MmedragError) -> Any:
        return JSONResponse(error_body(422, str(exc)), status_code=422)

    @app.exception_handler(Exception)
    async def _crash(_: Any, exc: Exception) -> Any:
        log.error("unhandled error", exc_info=exc)
        return JSONResponse(error_body(500, "internal error; see the service log"), status_code=500)


def _add_operation_routes(app: Any, service: Service, caller: Callable[[Any], Caller]) -> None:
    """Health, readiness, metrics and reload."""

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, Any]:
        """Alive (answers from the first second, before the models are loaded)."""
        return {"status": "alive"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> dict[str, Any]:
        """Ready: the pipeline is loaded, its indexes are open and a warm-up query has run (503 until then and once
        SIGTERM has been received); under ``--workers N``, in every worker."""
        snapshot = service.ready()
        return {"status": "ready", "generation": snapshot.generation, "indexes": snapshot.versions}

    @app.get("/metrics", tags=["operations"])
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latency per route and pipeline stage, batch sizes, errors."""
        caller(request)
        body, media_type = service.metrics.render()
        return Response(body, media_type=media_type)

    @app.post("/v1/admin/reload", tags=["operations"])
    async def reload(request: Request) -> dict[str, Any]:
        """Switch to each index's newest saved version (admin key); requests in flight finish on their version."""
        who = caller(request)
        if not who.admin:
            raise ApiError(403, "reloading needs an admin key (MMEDRAG_ADMIN_KEYS or --admin-key-file)")
        return await service.reload()


def _add_api_routes(app: Any, service: Service, caller: Callable[[Any], Caller]) -> None:
    """Ask, search and the case routes."""

    settings = service.settings

    @app.post("/v1/ask", tags=["api"], openapi_extra=_body_doc(AskRequest, ASK_FORM))
    async def ask(request: Request) -> dict[str, Any]:
        """Answer a question about an image (multipart upload or JSON with base64): the ``ask --json`` object."""
        caller(request)
        body, data = await read_ask(request, settings.max_body_bytes)
        image = await service.decode(data) if data is not None else None
        query = Query(text=body.question, image=image, domain=body.domain)
        answer, baseline, snapshot = await service.ask(query, body.k, body.without_retrieval)
        request.state.audit = {
            **audit_entry(service, body.question, answer.domain, answer.citations),
            "generation": snapshot.generation,
        }
        # Which loaded version answered: a request in flight during a reload finishes on the one it started with.
        return {
            **ask_payload(answer, baseline),
            "served_by": {"generation": snapshot.generation, "indexes": snapshot.versions},
        }

    @app.post("/v1/search", tags=["api"], openapi_extra=_body_doc(SearchRequest))
    async def search(request: Request) -> dict[str, Any]:
        """Cases similar to an image and/or a text, without generation."""
        caller(request)
        body = SearchRequest.model_validate(await read_json(request))
        if not body.image and not body.text:
            raise ApiError(422, "give an image, a text or both")
        image = await service.decode(decode_base64(body.image, settings.max_body_bytes)) if body.image else None
        hits, route = await service.search(Query(text=body.text, image=image, domain=body.domain), body.k)
        cited = [{"id": h.record.id} for h in hits]
        request.state.audit = audit_entry(service, body.text, route.get("domain"), cited)
        cases = [{**case_payload(h.record), "score": round(h.score, 6), "rank": h.rank} for h in hits]
        return {"route": route, "cases": cases}

    @app.get("/v1/cases/{case_id:path}/thumbnail", tags=["api"])
    async def thumbnail(case_id: str, request: Request) -> Response:
        """A small PNG of the case's first image (DICOM rendered with the ingester's windowing)."""
        caller(request)
        snapshot = service.current()
        record = _record(service, case_id)
        import anyio.to_thread

        png = await anyio.to_thread.run_sync(service.thumbnails.png, snapshot, record)
        if png is None:
            raise ApiError(404, f"case {case_id!r} has no readable image")
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})

    @app.get("/v1/cases/{case_id:path}", tags=["api"])
    async def case(case_id: str, request: Request) -> dict[str, Any]:
        """One knowledge-base case: report, domain, modality (no patient or study identifiers, no file paths)."""
        caller(request)
        return case_payload(_record(service, case_id))
