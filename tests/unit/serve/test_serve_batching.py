"""The micro-batcher gathers concurrent queries, bounds its queue (503 + Retry-After) and drains on stop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.serve.batching import MicroBatcher
from mmedrag.serve.engine import Snapshot
from mmedrag.serve.errors import ApiError
from mmedrag.types import Answer, Context, Query


class RecordingPipeline:
    """Answers each query with its own text; records batch sizes; can be held at a gate to build a backlog."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_on = fail_on

    def answer_batch(self, queries, batch_size=16, progress=False):
        self.gate.wait(10)
        self.batches.append([q.text for q in queries])
        if self.fail_on and any(q.text == self.fail_on for q in queries):
            raise ValueError("bad query in batch")
        return [self.answer_one(q) for q in queries]

    def answer(self, query):
        if query.text == self.fail_on:
            raise ValueError("bad query")
        return self.answer_one(query)

    @staticmethod
    def answer_one(query):
        return Answer(text=query.text, domain="radiology", task="open", context=Context())


def run(coroutine):
    return asyncio.run(coroutine)


def current(pipeline):
    snapshot = Snapshot(pipeline)
    return lambda: snapshot


async def ask(batcher: MicroBatcher, query: Query) -> Answer:
    answer, _ = await batcher.submit(query)
    return answer


def test_concurrent_queries_share_batches_up_to_the_maximum() -> None:
    pipeline = RecordingPipeline()

    async def main():
        batcher = MicroBatcher(
            ThreadPoolExecutor(1), current(pipeline), max_batch_size=4, max_wait_ms=50, max_queue=100
        )
        batcher.start()
        answers = await asyncio.gather(*(ask(batcher, Query(text=f"q{i}")) for i in range(10)))
        await batcher.stop()
        return answers

    answers = run(main())
    assert [a.text for a in answers] == [f"q{i}" for i in range(10)]  # each caller gets its own answer
    assert max(len(b) for b in pipeline.batches) == 4 and len(pipeline.batches) < 10
    assert sorted(t for b in pipeline.batches for t in b) == sorted(f"q{i}" for i in range(10))


def test_batch_size_one_turns_batching_off() -> None:
    pipeline = RecordingPipeline()

    async def main():
        batcher = MicroBatcher(
            ThreadPoolExecutor(1), current(pipeline), max_batch_size=1, max_wait_ms=50, max_queue=100
        )
        batcher.start()
        await asyncio.gather(*(ask(batcher, Query(text=f"q{i}")) for i in range(5)))
        await batcher.stop()

    run(main())
    assert [len(b) for b in pipeline.batches] == [1] * 5


def test_a_full_queue_answers_503_with_retry_after_and_nothing_is_lost() -> None:
    pipeline = RecordingPipeline()
    pipeline.gate.clear()  # the first batch blocks, so later queries pile up in the queue

    async def main():
        batcher = MicroBatcher(
            ThreadPoolExecutor(1), current(pipeline), max_batch_size=1, max_wait_ms=0, max_queue=3, retry_after_s=2
        )
        batcher.start()
        first = asyncio.ensure_future(ask(batcher, Query(text="first")))
        await asyncio.sleep(0.05)  # the worker has taken "first" and is blocked on the gate
        queued = [asyncio.ensure_future(ask(batcher, Query(text=f"q{i}"))) for i in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as caught:
            await ask(batcher, Query(text="one too many"))
        pipeline.gate.set()
        done = await asyncio.gather(first, *queued)
        await batcher.stop()
        return caught.value, done

    error, done = run(main())
    assert error.status == 503 and error.headers["Retry-After"] == "2"
    assert [a.text for a in done] == ["first", "q0", "q1", "q2"]


def test_stop_drains_queued_queries_and_then_refuses_new_ones() -> None:
    pipeline = RecordingPipeline()

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), current(pipeline), max_batch_size=2, max_wait_ms=20, max_queue=10)
        batcher.start()
        pending = [asyncio.ensure_future(ask(batcher, Query(text=f"q{i}"))) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.stop()
        with pytest.raises(ApiError) as caught:
            await ask(batcher, Query(text="late"))
        return [p.result().text for p in pending], caught.value.status

    texts, status = run(main())
    assert texts == [f"q{i}" for i in range(5)] and status == 503


def test_one_failing_query_does_not_fail_its_batch_mates() -> None:
    pipeline = RecordingPipeline(fail_on="bad")

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), current(pipeline), max_batch_size=8, max_wait_ms=30, max_queue=10)
        batcher.start()
        results = await asyncio.gather(
            *(ask(batcher, Query(text=t)) for t in ("a", "bad", "c")), return_exceptions=True
        )
        await batcher.stop()
        return results

    a, bad, c = run(main())
    assert a.text == "a" and c.text == "c" and isinstance(bad, ValueError)


def test_each_batch_runs_on_the_snapshot_current_when_it_starts() -> None:
    """After a reload, queued queries are answered by the new version, and each caller learns which one answered."""
    old, new = Snapshot(RecordingPipeline(), generation=1), Snapshot(RecordingPipeline(), generation=2)
    old.pipeline.gate.clear()  # the first batch blocks on the old snapshot while the rest queue up
    live = [old]

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), lambda: live[0], max_batch_size=8, max_wait_ms=0, max_queue=10)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(Query(text="first")))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(batcher.submit(Query(text=f"q{i}"))) for i in range(3)]
        await asyncio.sleep(0)
        live[0] = new  # the reload
        old.pipeline.gate.set()
        results = await asyncio.gather(first, *queued)
        await batcher.stop()
        return results

    results = run(main())
    assert [(a.text, s.generation) for a, s in results] == [("first", 1), ("q0", 2), ("q1", 2), ("q2", 2)]
    assert old.pipeline.batches == [["first"]] and new.pipeline.batches == [["q0", "q1", "q2"]]
