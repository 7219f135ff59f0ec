"""Group commit: what is submitted together is applied together, each caller gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sluice._coalesce import Coalescer


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()

    async def apply(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.writing.set()
        await self.gate.wait()
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * 10 for item in items]


async def test_a_lone_item_is_applied_at_once() -> None:
    recorder = Recorder()
    batcher = Coalescer(recorder.apply)
    assert await batcher.call(1) == 10
    assert recorder.batches == [[1]]


async def test_items_submitted_together_share_one_call() -> None:
    recorder = Recorder()
    batcher = Coalescer(recorder.apply)
    results = await asyncio.gather(*(batcher.call(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert recorder.batches == [[0, 1, 2, 3, 4]]


async def test_items_submitted_while_a_batch_is_written_form_the_next() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Coalescer(recorder.apply)
    first = asyncio.create_task(batcher.call(1))
    await recorder.writing.wait()  # the first batch is being written
    later = [asyncio.create_task(batcher.call(n)) for n in (2, 3)]
    recorder.gate.set()
    assert await asyncio.gather(first, *later) == [10, 20, 30]
    assert recorder.batches == [[1], [2, 3]]
    await batcher.drain()


async def test_a_failed_batch_fails_each_of_its_callers_and_not_the_next() -> None:
    recorder = Recorder()
    batcher = Coalescer(recorder.apply)
    outcomes = await asyncio.gather(batcher.call(1), batcher.call(-1), return_exceptions=True)
    assert all(isinstance(o, ValueError) for o in outcomes)
    assert await batcher.call(2) == 20


async def test_a_cancelled_caller_is_still_applied() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    batcher = Coalescer(recorder.apply)
    caller = asyncio.create_task(batcher.call(7))
    await recorder.writing.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    recorder.gate.set()
    await batcher.drain()
    assert recorder.batches == [[7]]
