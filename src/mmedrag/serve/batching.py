"""An asyncio micro-batcher: concurrent requests are gathered into one ``answer_batch`` call.

The queue is bounded (``max_queue``): when it is full the caller gets 503 with ``Retry-After`` at once, never an
unbounded backlog. The first query of a batch waits at most ``max_wait_ms`` for company; while a batch runs, new
queries collect, so under load batches fill without any waiting. Queries are grouped by the pipeline object they
were submitted with, so a request that started before an index reload is answered by the version it started on.
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
from mmedrag.serve.errors import ApiError
from mmedrag.types import Answer, Query

log = logging.getLogger("mmedrag.serve")


@dataclass
class _Item:
    pipeline: RAGPipeline
    query: Query
    future: asyncio.Future[Answer]


_STOP: Any = object()


class MicroBatcher:
    """Gathers queries into batches for :meth:`RAGPipeline.answer_batch` (see the module docstring).

    Args:
        executor: where the pipeline runs (one thread).
        max_batch_size: queries per pipeline call; 1 turns batching off.
        max_wait_ms: the longest the first query of a batch waits for more.
        max_queue: queries that may wait; past it :meth:`submit` raises 503.
        on_batch: called with each batch's size (metrics).
    """

    def __init__(
        self,
        executor: Executor,
        max_batch_size: int = 16,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
        retry_after_s: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.executor, self.max_batch_size, self.max_wait = executor, max_batch_size, max_wait_ms / 1000.0
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

    async def submit(self, pipeline: RAGPipeline, query: Query) -> Answer:
        """Queue one query and wait for its answer.

        Raises:
            ApiError: 503 with ``Retry-After`` when the queue is full or the service is shutting down.
        """
        if self._closing or self._task is None:
            raise ApiError(503, "the service is shutting down", {"Retry-After": str(self.retry_after_s)})
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Item(pipeline, query, future))
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
        groups: dict[int, list[_Item]] = {}
        for item in batch:
            groups.setdefault(id(item.pipeline), []).append(item)
        for group in groups.values():
            if self.on_batch is not None:
                self.on_batch(len(group))
            try:
                answers = await loop.run_in_executor(self.executor, _answer_group, group, self.max_batch_size)
            except Exception as exc:  # a systemic failure: every waiting caller hears of it
                log.exception("batch of %d failed", len(group))
                answers = [exc] * len(group)
            for item, answer in zip(group, answers, strict=True):
                if item.future.done():  # the client went away
                    continue
                if isinstance(answer, BaseException):
                    item.future.set_exception(answer)
                else:
                    item.future.set_result(answer)


def _answer_group(group: list[_Item], batch_size: int) -> list[Answer | BaseException]:
    """One batched call; if it fails, each query alone, so one bad query never fails the others."""
    pipeline = group[0].pipeline
    queries = [item.query for item in group]
    try:
        return list(pipeline.answer_batch(queries, batch_size=max(batch_size, 1)))
    except Exception:
        if len(group) == 1:
            raise
    results: list[Answer | BaseException] = []
    for query in queries:
        try:
            results.append(pipeline.answer(query))
        except Exception as exc:
            results.append(exc)
    return results
