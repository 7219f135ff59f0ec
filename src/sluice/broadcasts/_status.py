"""A status message edited with progress: updates coalesce, the latest text wins.

A job reporting "downloading 3 %, 4 %, 5 % ..." faster than the chat's limit
allows must not queue a backlog of stale edits (each one costs the chat's
budget and arrives late). :class:`StatusMessage` keeps only the newest text
while an edit is on its way; the gate paces the edits within the chat's limit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["StatusMessage"]


class StatusMessage:
    """Coalesces progress updates to one message.

    Parameters:
        edit: sends one edit with the given text (through the gate, so it is paced).
        initial: the text the message shows now; an update with the same text is skipped.

    ``update(text)`` never waits; ``flush()`` waits until the latest text is shown;
    ``close()`` flushes and stops. Errors from ``edit`` are not lost: the first one
    is raised by ``flush``/``close``.
    """

    def __init__(self, edit: Callable[[str], Awaitable[Any]], *, initial: str = "") -> None:
        self._edit = edit
        self._shown = initial
        self._pending: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.edits = 0  # edits actually sent

    @property
    def text(self) -> str:
        """The latest text asked for (shown, or about to be)."""
        return self._pending if self._pending is not None else self._shown

    def update(self, text: str) -> None:
        """Show ``text`` as soon as the chat's limit allows; replaces any text not yet sent."""
        if text == self.text:
            return
        self._pending = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while self._pending is not None:
            text, self._pending = self._pending, None
            if text == self._shown:
                continue
            try:
                await self._edit(text)
            except Exception as exc:  # kept for flush(): a background task must not lose it
                if self._error is None:
                    self._error = exc
                return
            self._shown = text
            self.edits += 1

    async def flush(self) -> None:
        """Wait until the latest text is shown; raise the first edit error, if any."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def close(self) -> None:
        """Show the latest text, then stop."""
        try:
            await self.flush()
        finally:
            if self._task is not None and not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
