"""An asyncio event loop on virtual time, for tests of timing without real sleeps.

Whenever nothing is ready to run, the loop jumps straight to its next timer:
``asyncio.sleep(60)`` takes no real time, and timings are exact and repeatable.
When nothing is ready and no timer is set, a real loop would wait forever; this
one raises :class:`Deadlock` instead, so a scheduler that forgets a wake-up
fails its test at once rather than hanging it.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Deadlock(RuntimeError):
    """Every task waits and nothing is scheduled to wake any of them."""


class _VirtualSelector(selectors.DefaultSelector):
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = super().select(0)  # real descriptors (the loop's self-pipe) never wait
        if events:
            return events
        assert self.loop is not None
        if timeout is None:
            raise Deadlock("every task is waiting and no timer is set")
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock only moves when it would otherwise sleep."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._virtual_now += seconds


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def now() -> float:
    """The running loop's clock: give it to what must run on virtual time (``Gate(clock=now)``)."""
    return asyncio.get_running_loop().time()


class ManualClock:
    """A clock to inject where time is read (``clock=``), moved only by the test."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
