"""Group commit: many small writes submitted at once share one transaction.

A transaction costs a few round trips to the database (for SQLite through
aiosqlite, each is a hop to its thread and back), however little it writes.
A worker running dozens of short jobs finishes them at nearly the same
moment; written one transaction each, the finishing costs more than the
jobs. A :class:`Batcher` collects what is submitted while the previous
batch is being written, then writes all of it in one call to ``apply``.
The first item waits for no timer: a lone write goes out at once, and
batches grow only as the load does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``apply(items)`` for the items submitted together; each submitter
    gets its item's result (``apply`` returns one per item, in order), or the
    exception ``apply`` raised. A cancelled submitter's item is still applied.
    """

    __slots__ = ("_apply", "_pending", "_task")

    def __init__(self, apply: Callable[[Sequence[T]], Awaitable[Sequence[R]]]) -> None:
        self._apply = apply
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            # Started, not run: whatever else is submitted in this turn of the
            # event loop joins the first batch.
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._apply([item for item, _ in batch])
                except Exception as exc:
                    _fail(batch, exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
        except BaseException:  # cancelled (the loop is closing): nobody waits forever
            for _, future in [*batch, *self._pending]:
                future.cancel()
            self._pending = []
            raise
        finally:
            self._task = None

    async def wait_idle(self) -> None:
        """Return once everything submitted so far is written."""
        while self._task is not None:
            await asyncio.shield(self._task)


def _fail(batch: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
