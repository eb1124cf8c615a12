"""An asyncio micro-batcher: concurrent requests are gathered into one ``answer_batch`` call.

The queue is bounded (``max_queue``): when it is full the caller gets 503 with ``Retry-After`` at once, never an
unbounded backlog. The first query of a batch waits at most ``max_wait_ms`` for company; while a batch runs, new
queries collect, so under load batches fill without any waiting. Each batch runs on the snapshot current when it
starts (``source``), so after an index reload every queued query is answered by the newest version, and each caller
learns which snapshot answered it.
The pipeline runs on one worker thread (pipelines are not assumed thread-safe); the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from mmedrag.pipeline import RAGPipeline
from mmedrag.serve.engine import Snapshot
from mmedrag.serve.errors import ApiError
from mmedrag.types import Answer, Query

log = logging.getLogger("mmedrag.serve")


@dataclass
class _Item:
    query: Query
    future: asyncio.Future[tuple[Answer, Snapshot]]


_STOP: Any = object()


class MicroBatcher:
    """Gathers queries into batches for :meth:`RAGPipeline.answer_batch` (see the module docstring).

    Args:
        executor: where the pipeline runs (one thread).
        source: the current snapshot, asked once per batch.
        max_batch_size: queries per pipeline call; 1 turns batching off.
        max_wait_ms: the longest the first query of a batch waits for more.
        max_queue: queries that may wait; past it :meth:`submit` raises 503.
        on_batch: called with each batch's size (metrics).
    """

    def __init__(
        self,
        executor: Executor,
        source: Callable[[], Snapshot],
        max_batch_size: int = 16,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        retry_after_s: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.executor, self.source, self.max_batch_size, self.max_wait = (
            executor,
            source,
            max_batch_size,
            max_wait_ms / 1000.0,
        )
        self.retry_after_s, self.on_batch = retry_after_s, on_batch
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mmedrag-batcher")

    async def submit(self, query: Query) -> tuple[Answer, Snapshot]:
        """Queue one query and wait for its answer and the snapshot that gave it.

        Raises:
            ApiError: 503 with ``Retry-After`` when the queue is full or the service is shutting down.
        """
        if self._closing or self._task is None:
            raise ApiError(503, "the service is shutting down", {"Retry-After": str(self.retry_after_s)})
        future: asyncio.Future[tuple[Answer, Snapshot]] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(query, future))
        except asyncio.QueueFull:
            raise ApiError(
                503,
                f"the service is at capacity ({self._queue.maxsize} queries waiting); retry shortly",
                {"Retry-After": str(self.retry_after_s)},
            ) from None
        return await future

    async def stop(self) -> None:
        """Answer everything already queued, then stop (SIGTERM drain)."""
        self._closing = True
        if self._task is None:
            return
        await self._queue.put(_STOP)
        await self._task
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            batch: list[_Item] = [first]
            deadline = loop.time() + self.max_wait
            while len(batch) < self.max_batch_size:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(self._queue.get(), remaining)
                    except asyncio.TimeoutError:
                        break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            await self._answer(batch)

    async def _answer(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        snapshot = self.source()
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            answers = await loop.run_in_executor(
                self.executor, _answer_group, snapshot.pipeline, [item.query for item in batch], self.max_batch_size
            )
        except Exception as exc:  # a systemic failure: every waiting caller hears of it
            log.exception("batch of %d failed", len(batch))
            answers = [exc] * len(batch)
        for item, answer in zip(batch, answers, strict=True):
            if item.future.done():  # the client went away
                continue
            if isinstance(answer, BaseException):
                item.future.set_exception(answer)
            else:
                item.future.set_result((answer, snapshot))


def _answer_group(pipeline: RAGPipeline, queries: list[Query], batch_size: int) -> list[Answer | BaseException]:
    """One batched call; if it fails, each query alone, so one bad query never fails the others."""
    try:
        return list(pipeline.answer_batch(queries, batch_size=max(batch_size, 1)))
    except Exception:
        if len(queries) == 1:
            raise
    results: list[Answer | BaseException] = []
    for query in queries:
        try:
            results.append(pipeline.answer(query))
        except Exception as exc:
            results.append(exc)
    return results
