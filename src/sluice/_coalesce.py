"""Group commit for async calls: the calls made while one run is in flight go in the next.

Written by hand: no library offers it for asyncio (aiostream and friends
batch by size or time, which adds delay; this adds none). Used by the SQL
and Redis job backends and the Redis limiter, where many tasks finishing or
starting sends in the same moment then cost one transaction or round trip,
not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

A = TypeVar("A")
R = TypeVar("R")


class Coalescer(Generic[A, R]):
    """Runs ``run`` once for all the calls made while the previous run was in flight.

    Many tasks finishing their jobs in the same moment then cost one round
    trip, not one each; a lone call waits no longer than its own round trip.
    ``run`` returns one result per call, in order, or raises for all of them;
    a cancelled caller's call is still run.
    """

    __slots__ = ("_flusher", "_pending", "_run")

    def __init__(self, run: Callable[[Sequence[A]], Awaitable[Sequence[R]]]) -> None:
        self._run = run
        self._pending: list[tuple[A, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, argument: A) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((argument, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Return once every call made so far has been run."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run([argument for argument, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None
            # Cancelled mid-run (the loop is closing): nobody will answer these.
            for _, future in self._pending:
                future.cancel()
            self._pending.clear()
