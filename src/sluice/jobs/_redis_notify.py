"""Hearing what other processes announce on Redis pub/sub: new work, cancellations.

Announcements only make things faster: a worker that misses one (its
connection dropped) still polls for work and learns of cancellations when it
renews its leases.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import redis  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("the Redis job backend", "redis", error) from None

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import redis.asyncio as aioredis

from sluice._redact import redact

__all__ = ["Listener"]

log = logging.getLogger("sluice.jobs")

_RETRY_AFTER = 1.0  # seconds between attempts to listen again after a dropped connection


class Listener:
    """One subscription to ``channels``, calling each channel's handler with the message."""

    __slots__ = ("_channels", "_client", "_on_subscribed", "_subscribed", "_task")

    def __init__(
        self,
        client: aioredis.Redis,
        channels: Mapping[str, Callable[[str], None]],
        on_subscribed: Callable[[], None],
    ) -> None:
        self._client = client
        self._channels = dict(channels)
        self._on_subscribed = on_subscribed
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, within: float) -> bool:
        """Listen (if not yet); True once subscribed, False if that took over ``within`` s."""
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="sluice-jobs-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._subscribed.wait()
        return self._subscribed.is_set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self) -> None:
        failing = False
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(*self._channels)
                confirmed = 0
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        confirmed += 1
                        if confirmed == len(self._channels):
                            if failing:
                                log.info("listening for job announcements again")
                                failing = False
                            self._subscribed.set()
                            # Whatever was announced while not listening is found now.
                            self._on_subscribed()
                    elif message["type"] == "message":
                        self._channels[message["channel"]](message["data"])
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                self._subscribed.clear()
                # Once per outage: a server that is down would otherwise log every second.
                if not failing:
                    log.warning(
                        "listening for job announcements failed (%s); polling until it works",
                        redact(str(exc)),
                    )
                    failing = True
                await asyncio.sleep(_RETRY_AFTER)
            finally:
                await pubsub.aclose()
