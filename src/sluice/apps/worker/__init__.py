"""``sluice run worker``: one of N processes that share bots, jobs and limits.

Each worker runs the durable jobs (broadcasts, sharded by chat) of a Redis
job queue and sends through a :class:`~sluice.gate.DistributedGate`, so that
N workers on any number of hosts together stay within each bot's limits.
Start as many as you like with the same ``SLUICE_REDIS_URL`` (and the same
``SLUICE_DATABASE_URL`` across hosts; a SQLite file serves processes of one
host). A worker that dies loses nothing: its jobs' leases expire and the
others resume them.
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
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice._exceptions import ConfigError
from sluice.accounts import Settings
from sluice.gate import DistributedGate
from sluice.integrations.aiogram import GateMiddleware, aiogram_sender, classify_aiogram
from sluice.jobs import DurableBroadcasts, JobQueue, open_backend
from sluice.limits import RedisLimiter, TelegramLimits
from sluice.store import Store

__all__ = ["Worker", "open_worker"]


@dataclass
class Worker:
    queue: JobQueue
    broadcasts: DurableBroadcasts
    gate: DistributedGate
    bots: dict[int, Bot]
    store: Store

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
    window: int = 16,
    in_flight_ttl: float = 300.0,
) -> AsyncIterator[Worker]:
    """Everything a worker stands on, from ``settings`` (Redis is required)."""
    if not settings.redis_url:
        raise ConfigError("a worker shares limits and jobs through Redis: set SLUICE_REDIS_URL")
    if not settings.bot_tokens:
        raise ConfigError("no bot token: set TELEGRAM_BOT_TOKEN, BOT_TOKEN or MULTITOKEN1..N")
    data_dir = Path(settings.data_dir)
    store = Store.open(settings.database_url, data_dir=data_dir, namespace=None)
    await store.setup()
    backend = open_backend(settings.redis_url, namespace=namespace)
    queue = JobQueue(backend, lease=lease, check_interval=min(0.25, lease / 4))
    limiter = RedisLimiter.from_url(
        settings.redis_url, limits, namespace=namespace, in_flight_ttl=in_flight_ttl
    )
    gate = DistributedGate(limiter)
    base = settings.api_server or "https://api.telegram.org"
    session = AiohttpSession(api=TelegramAPIServer.from_base(base))
    session.middleware(GateMiddleware(gate))
    bots = {t.bot_id: Bot(t.reveal(), session=session) for t in settings.bot_tokens}
    broadcasts = DurableBroadcasts(
        store, queue, aiogram_sender(bots), classify=classify_aiogram, window=window
    )
    try:
        yield Worker(queue, broadcasts, gate, bots, store)
    finally:
        await session.close()
        await gate.drain()
        await limiter.aclose()
        await backend.close()
        await store.close()
