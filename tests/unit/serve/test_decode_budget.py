"""The decode memory budget: decodes run together while their costs fit, a large one alone, a full queue is 503."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs fastapi: pip install 'mmedrag[serve]'")
from PIL import Image

from mmedrag.serve.decode_budget import PEAK_FACTOR, DecodeBudget, decode_and_release, decode_cost
from mmedrag.serve.errors import ApiError


def test_decodes_share_the_budget_and_one_larger_than_it_runs_alone() -> None:
    async def scenario() -> list[tuple[str, int]]:
        budget = DecodeBudget(100, max_waiting=10)
        log: list[tuple[str, int]] = []
        gates = {name: asyncio.Event() for name in "abcd"}

        async def decode(name: str, cost: int) -> None:
            async with budget.hold(cost):
                log.append((name, budget.used))
                await gates[name].wait()

        tasks = [asyncio.create_task(decode(n, c)) for n, c in (("a", 40), ("b", 40), ("c", 40), ("d", 500))]
        await asyncio.sleep(0.01)
        assert [name for name, _ in log] == ["a", "b"] and budget.waiting == 2  # c would pass 100: it waits
        gates["a"].set()
        await asyncio.sleep(0.01)
        assert [name for name, _ in log] == ["a", "b", "c"]
        gates["b"].set()
        gates["c"].set()
        await asyncio.sleep(0.01)
        assert log[-1] == ("d", 100)  # over the whole budget: admitted once nothing else ran, counted as all of it
        gates["d"].set()
        await asyncio.gather(*tasks)
        assert budget.used == 0 and budget.waiting == 0
        return log

    asyncio.run(scenario())


def test_past_max_waiting_a_decode_is_refused_with_503_and_retry_after() -> None:
    async def scenario() -> None:
        budget = DecodeBudget(10, max_waiting=1, retry_after_s=3)
        release = asyncio.Event()

        async def decode() -> None:
            async with budget.hold(10):
                await release.wait()

        running = asyncio.create_task(decode())
        await asyncio.sleep(0)
        waiting = asyncio.create_task(decode())
        await asyncio.sleep(0)
        with pytest.raises(ApiError) as caught:
            async with budget.hold(10):
                pass
        assert caught.value.status == 503 and caught.value.headers == {"Retry-After": "3"}
        release.set()
        await asyncio.gather(running, waiting)

    asyncio.run(scenario())


def _png(mode: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    dtype = np.uint16 if mode == "I;16" else np.uint8
    Image.fromarray(np.zeros(size[::-1], dtype=dtype)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_costs_come_from_the_header_scaled_by_depth_and_channels() -> None:
    assert decode_cost(_png("L", (300, 200))) == 300 * 200 * PEAK_FACTOR
    assert decode_cost(_png("I;16", (300, 200))) == 300 * 200 * 2 * PEAK_FACTOR
    assert decode_cost(b"not an image") == decode_cost(b"\x89PNG\r\n\x1a\n broken") == 1 << 20


def test_dicom_costs_come_from_rows_columns_and_bits() -> None:
    pytest.importorskip("pydicom", reason="needs pydicom: pip install 'mmedrag[dicom]'")
    from serve_helpers import dicom_bytes

    assert decode_cost(dicom_bytes()) == 128 * 128 * 2 * PEAK_FACTOR  # CT_small.dcm: 128 x 128, 16 bits


def test_decode_and_release_decodes_and_reports_errors_as_before() -> None:
    image = decode_and_release(_png("L", (40, 30)), 10_000, None)
    assert image.size == (40, 30) and image.mode == "RGB"
    with pytest.raises(ApiError):
        decode_and_release(b"not an image", 10_000, None)
