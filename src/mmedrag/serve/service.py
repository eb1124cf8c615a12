"""The running service: the current snapshot, the batcher, keys, limits, metrics, audit log and reload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from mmedrag.pipeline import RAGPipeline
from mmedrag.serve.batching import MicroBatcher
from mmedrag.serve.decode_budget import DecodeBudget, decode_and_release, decode_cost
from mmedrag.serve.engine import Snapshot, Thumbnails, index_versions, reload_indexes, warm_up
from mmedrag.serve.errors import ApiError
from mmedrag.serve.observability import AuditLog, Metrics
from mmedrag.serve.peers import Peers
from mmedrag.serve.security import KeyRing, RateLimiter
from mmedrag.serve.settings import ServeSettings
from mmedrag.serve.views import status_of
from mmedrag.types import Answer, Hit, Query

log = logging.getLogger("mmedrag.serve")

PipelineSource = RAGPipeline | Callable[[], RAGPipeline]


@dataclass
class Caller:
    """Who is asking: the key id (``anonymous`` without keys), whether it is an admin key, and the client address."""

    key_id: str
    admin: bool
    address: str


class Service:
    """Owns everything a request needs; the FastAPI routes are thin adapters over its methods."""

    def __init__(self, source: PipelineSource, settings: ServeSettings) -> None:
        settings.check()
        self.settings, self._source = settings, source
        self.snapshot: Snapshot | None = None
        self.error: str | None = None
        self.started = time.monotonic()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmedrag-pipeline")
        self.metrics = Metrics()
        self.keys = KeyRing(settings.api_keys, settings.admin_keys)
        self.limiter = RateLimiter(settings.rate_limit_per_minute)
        self.audit = AuditLog(settings.audit_log, settings.audit_questions)
        self.thumbnails = Thumbnails(settings.thumbnail_px)
        self.batcher: MicroBatcher | None = None
        self.decodes = DecodeBudget(settings.decode_budget_mb << 20, retry_after_s=settings.retry_after_s)
        self._reload_lock = asyncio.Lock()
        self.peers = Peers.from_environment()  # the other worker processes, under --workers N

    # -- life cycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the batcher and load the pipeline in the background (``/healthz`` answers meanwhile)."""
        self.batcher = MicroBatcher(
            self.executor,
            self.current,
            self.settings.max_batch_size,
            self.settings.max_wait_ms,
            self.settings.max_queue,
            self.settings.retry_after_s,
            on_batch=self.metrics.batch_size.observe,
        )
        self.batcher.start()
        batcher = self.batcher
        self.metrics.queue_depth.set_function(lambda: batcher.depth)  # read when scraped, never a stale value
        if isinstance(self._source, RAGPipeline):
            await asyncio.get_running_loop().run_in_executor(self.executor, warm_up, self._source)
            self._install(self._source, 1)
        else:
            asyncio.get_running_loop().create_task(self._load(self._source))

    async def _load(self, loader: Callable[[], RAGPipeline]) -> None:
        try:
            pipeline = await asyncio.get_running_loop().run_in_executor(self.executor, loader)
            # Ready only once every model the default query path uses has answered one query (lazy loads done).
            await asyncio.get_running_loop().run_in_executor(self.executor, warm_up, pipeline)
        except Exception as exc:  # the service stays up and says why it is not ready
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("the pipeline failed to load")
            return
        self._install(pipeline, 1)
        log.info("ready", extra={"fields": {"seconds": round(time.monotonic() - self.started, 2)}})

    def _install(self, pipeline: RAGPipeline, generation: int) -> None:
        self.snapshot = Snapshot(pipeline, generation=generation, versions=index_versions(pipeline))
        if generation == 1 and self.peers is not None:
            self.peers.mark_ready()

    async def stop(self) -> None:
        """Drain: answer every queued query, then release the pipeline thread."""
        if self.batcher is not None:
            await self.batcher.stop()
        self.executor.shutdown(wait=True)

    def ready(self) -> Snapshot:
        """The snapshot, once this worker and (under ``--workers N``) every other worker has loaded (503 before)."""
        snapshot = self.current()
        if self.peers is not None and (loaded := self.peers.ready()) < self.peers.workers:
            raise ApiError(
                503, f"{loaded} of {self.peers.workers} workers are ready; retry shortly", {"Retry-After": "2"}
            )
        return snapshot

    def current(self) -> Snapshot:
        if self.snapshot is None:
            detail = f": {self.error}" if self.error else "; retry shortly"
            raise ApiError(503, f"the pipeline is not loaded yet{detail}", {"Retry-After": "2"})
        return self.snapshot

    async def reload(self) -> dict[str, Any]:
        """Switch to each index's newest saved version; queued requests are answered by it (batches ask for the
        current snapshot when they start)."""
        async with self._reload_lock:
            old = self.current()
            try:
                pipeline = await asyncio.get_running_loop().run_in_executor(None, reload_indexes, old.pipeline)
            except Exception as exc:
                self.metrics.reloads.labels("failed").inc()
                raise ApiError(500, f"reload failed, still serving {old.versions}: {exc}") from exc
            self._install(pipeline, old.generation + 1)
            assert self.snapshot is not None
            self.metrics.reloads.labels("ok").inc()
            log.info("reloaded", extra={"fields": {"from": old.versions, "to": self.snapshot.versions}})
            return {"generation": self.snapshot.generation, "indexes": self.snapshot.versions, "previous": old.versions}

    # -- requests ---------------------------------------------------------------------------------------------
    def guard(self, authorization: str | None, address: str, form_key: str | None = None) -> Caller:
        """Authenticate and rate-limit one request (401 / 429)."""
        key_id, admin = self.keys.authenticate(authorization, form_key)
        self.limiter.check(key_id if self.keys.enabled else f"address:{address}")
        return Caller(key_id, admin, address)

    async def decode(self, data: bytes) -> Image.Image:
        """Decode an upload on a worker thread (Pillow releases the GIL), keeping the event loop free, within the
        decode memory budget (:mod:`mmedrag.serve.decode_budget`: queued, then 503)."""
        settings = self.settings
        cost = await asyncio.to_thread(decode_cost, data)
        async with self.decodes.hold(cost):
            return await asyncio.to_thread(decode_and_release, data, settings.max_pixels, settings.keep_uploads)

    async def ask(
        self, query: Query, k: int | None = None, baseline: bool = False
    ) -> tuple[Answer, Answer | None, Snapshot]:
        """Answer with retrieval (and, with ``baseline``, without it, in the same batch window); the snapshot is
        the one that answered."""
        self.current()  # 503 before queueing while the pipeline loads
        assert self.batcher is not None
        asked = replace(query, max_references=k) if k is not None else query
        jobs = [self.batcher.submit(asked)]
        if baseline:
            jobs.append(self.batcher.submit(replace(asked, retrieval=False)))
        results = await asyncio.gather(*jobs)
        for answer, _ in results:
            self.metrics.observe_answer(answer.timings_ms, status_of(answer))
        (answer, snapshot), *others = results
        return answer, (others[0][0] if others else None), snapshot

    async def search(self, query: Query, k: int) -> tuple[list[Hit], dict[str, Any]]:
        """Route and retrieve (no generation): the top ``k`` hits of the query's domain."""
        snapshot = self.current()
        asked = replace(query, max_references=k)
        planned = await asyncio.get_running_loop().run_in_executor(self.executor, snapshot.pipeline.plan, [asked])
        return planned[0].hits[:k], planned[0].route.to_dict()
