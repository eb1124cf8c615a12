"""The micro-batcher gathers concurrent queries, bounds its queue (503 + Retry-After) and drains on stop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")

from mmedrag.serve.batching import MicroBatcher
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


def test_concurrent_queries_share_batches_up_to_the_maximum() -> None:
    pipeline = RecordingPipeline()

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=4, max_wait_ms=50, max_queue=100)
        batcher.start()
        answers = await asyncio.gather(*(batcher.submit(pipeline, Query(text=f"q{i}")) for i in range(10)))
        await batcher.stop()
        return answers

    answers = run(main())
    assert [a.text for a in answers] == [f"q{i}" for i in range(10)]  # each caller gets its own answer
    assert max(len(b) for b in pipeline.batches) == 4 and len(pipeline.batches) < 10
    assert sorted(t for b in pipeline.batches for t in b) == sorted(f"q{i}" for i in range(10))


def test_batch_size_one_turns_batching_off() -> None:
    pipeline = RecordingPipeline()

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=1, max_wait_ms=50, max_queue=100)
        batcher.start()
        await asyncio.gather(*(batcher.submit(pipeline, Query(text=f"q{i}")) for i in range(5)))
        await batcher.stop()

    run(main())
    assert [len(b) for b in pipeline.batches] == [1] * 5


def test_a_full_queue_answers_503_with_retry_after_and_nothing_is_lost() -> None:
    pipeline = RecordingPipeline()
    pipeline.gate.clear()  # the first batch blocks, so later queries pile up in the queue

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=1, max_wait_ms=0, max_queue=3, retry_after_s=2)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(pipeline, Query(text="first")))
        await asyncio.sleep(0.05)  # the worker has taken "first" and is blocked on the gate
        queued = [asyncio.ensure_future(batcher.submit(pipeline, Query(text=f"q{i}"))) for i in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as caught:
            await batcher.submit(pipeline, Query(text="one too many"))
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
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=2, max_wait_ms=20, max_queue=10)
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(pipeline, Query(text=f"q{i}"))) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.stop()
        with pytest.raises(ApiError) as caught:
            await batcher.submit(pipeline, Query(text="late"))
        return [p.result().text for p in pending], caught.value.status

    texts, status = run(main())
    assert texts == [f"q{i}" for i in range(5)] and status == 503


def test_one_failing_query_does_not_fail_its_batch_mates() -> None:
    pipeline = RecordingPipeline(fail_on="bad")

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=8, max_wait_ms=30, max_queue=10)
        batcher.start()
        results = await asyncio.gather(
            *(batcher.submit(pipeline, Query(text=t)) for t in ("a", "bad", "c")), return_exceptions=True
        )
        await batcher.stop()
        return results

    a, bad, c = run(main())
    assert a.text == "a" and c.text == "c" and isinstance(bad, ValueError)


def test_queries_for_different_pipelines_are_never_mixed() -> None:
    old, new = RecordingPipeline(), RecordingPipeline()

    async def main():
        batcher = MicroBatcher(ThreadPoolExecutor(1), max_batch_size=8, max_wait_ms=30, max_queue=10)
        batcher.start()
        await asyncio.gather(*(batcher.submit(old if i % 2 else new, Query(text=f"q{i}")) for i in range(6)))
        await batcher.stop()

    run(main())
    assert sorted(t for b in old.batches for t in b) == ["q1", "q3", "q5"]
    assert sorted(t for b in new.batches for t in b) == ["q0", "q2", "q4"]
