"""``sluice run worker``: one of N processes that share bots, jobs and limits.

Each worker runs the durable jobs (broadcasts, sharded by chat) of a Redis
job queue and sends through a :class:`~sluice.gate.Gate` on a
:class:`~sluice.limits.RedisLimiter`, so that N workers on any number of
hosts together stay within each bot's limits. Start as many as you like with
the same ``SLUICE_REDIS_URL`` (and the same ``SLUICE_DATABASE_URL`` across
hosts; a SQLite file serves processes of one host). A worker that dies loses
nothing: the others take its jobs over.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiogram  # noqa: F401
    import redis  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice run worker", "worker", error) from None

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sluice._exceptions import ConfigError
from sluice.broadcasts import DurableBroadcasts
from sluice.broadcasts.aiogram import aiogram_sender
from sluice.config import Settings
from sluice.integrations.aiogram import classify_aiogram
from sluice.jobs import JobQueue
from sluice.limits import TelegramLimits
from sluice.runtime import Runtime, open_runtime

__all__ = ["Worker", "open_worker"]


@dataclass
class Worker:
    runtime: Runtime
    queue: JobQueue
    broadcasts: DurableBroadcasts

    async def run(self, *, concurrency: int = 32) -> None:
        """Run jobs until cancelled."""
        await self.queue.run(concurrency=concurrency)


@contextlib.asynccontextmanager
async def open_worker(
    settings: Settings,
    *,
    namespace: str = "sluice",
    limits: TelegramLimits | None = None,
    lease: float = 30.0,
    concurrency: int = 16,
) -> AsyncIterator[Worker]:
    """Everything a worker stands on, from ``settings`` (Redis is required).

    ``concurrency``: sends each broadcast job keeps waiting in the gate at once.
    """
    if not settings.redis_url:
        raise ConfigError("a worker shares limits and jobs through Redis: set SLUICE_REDIS_URL")
    async with open_runtime(settings, namespace=namespace, limits=limits) as runtime:
        queue = JobQueue(runtime.jobs, lease=lease, check_interval=min(0.25, lease / 4))
        broadcasts = DurableBroadcasts(
            runtime.store,
            queue,
            aiogram_sender(runtime.bots),
            classify=classify_aiogram,
            concurrency=concurrency,
        )
        yield Worker(runtime, queue, broadcasts)
