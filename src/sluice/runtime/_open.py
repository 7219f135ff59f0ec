"""Opening, from one :class:`~sluice.config.Settings`, everything a bot process stands on.

The pieces are opened in one place so that every entry point (``sluice run
worker``, ``sluice run transcribe``, ``sluice jobs``, the demo) agrees on
where jobs live, which limiter is shared, and how Telegram is reached. The
gate and the session need only the core and aiogram; the store, jobs and
cache (the ``jobs`` extra) are imported when :func:`open_runtime` opens them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sluice._exceptions import ConfigError
from sluice._extras import missing_extra
from sluice.config import Settings
from sluice.gate import Gate
from sluice.limits import Limiter, MemoryLimiter, RedisLimiter, TelegramLimits

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession

    from sluice.cache import Cache
    from sluice.jobs import JobBackend
    from sluice.store import Store

__all__ = ["Runtime", "aiogram_session", "jobs_url", "open_gate", "open_runtime", "sql_url"]

TELEGRAM = "https://api.telegram.org"


def sql_url(settings: Settings) -> str:
    """The store's database: ``SLUICE_DATABASE_URL``, else SQLite in the data directory."""
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{make_data_dir(settings) / 'sluice.db'}"


def jobs_url(settings: Settings) -> str:
    """Where durable jobs live: Redis when ``SLUICE_REDIS_URL`` is set, else the store."""
    return settings.redis_url or sql_url(settings)


def make_data_dir(settings: Settings) -> Path:
    data_dir = Path(settings.data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data directory {data_dir} (SLUICE_DATA_DIR): {exc.strerror or exc}"
        ) from None
    return data_dir


def open_gate(
    settings: Settings, *, limits: TelegramLimits | None = None, namespace: str = "sluice"
) -> Gate:
    """A gate for the settings' bots: its limits shared through ``SLUICE_REDIS_URL``
    when set (every process on that Redis shares each bot's budget), else in this
    process. Close it with :meth:`~sluice.gate.Gate.aclose`."""
    limiter: Limiter
    if settings.redis_url:
        limiter = RedisLimiter.from_url(settings.redis_url, limits, namespace=namespace)
    else:
        limiter = MemoryLimiter(limits)
    return Gate(settings.accounts(), limiter=limiter)


def aiogram_session(
    settings: Settings, gate: Gate, *, api_local: bool | None = None
) -> AiohttpSession:
    """An aiogram session whose every send goes through ``gate``, to Telegram or to
    ``TELEGRAM_API_SERVER`` (in ``--local`` mode unless ``api_local`` or
    ``TELEGRAM_API_LOCAL`` say otherwise)."""
    try:
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
    except ImportError as error:
        raise missing_extra("an aiogram session", "aiogram", error) from None
    from sluice.integrations.aiogram import GateMiddleware

    if settings.api_server:
        local = settings.api_local if api_local is None else api_local
        api = TelegramAPIServer.from_base(settings.api_server, is_local=local)
    else:
        api = TelegramAPIServer.from_base(TELEGRAM)
    session = AiohttpSession(api=api)
    session.middleware(GateMiddleware(gate))
    return session


@dataclass
class Runtime:
    """What :func:`open_runtime` opened; closed when its block ends."""

    settings: Settings
    store: Store
    jobs: JobBackend
    cache: Cache
    gate: Gate
    session: AiohttpSession
    bots: dict[int, Bot] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def limiter(self) -> Limiter:
        return self.gate.limiter

    @property
    def bot(self) -> Bot:
        """The first bot of the settings (``TELEGRAM_BOT_TOKEN`` / ``BOT_TOKEN``)."""
        return next(iter(self.bots.values()))


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    namespace: str | None = None,
    limits: TelegramLimits | None = None,
    api_local: bool | None = None,
) -> AsyncIterator[Runtime]:
    """Open the store (migrated), the job backend, the cache, the gate and an aiogram
    session with a bot per token, as ``settings`` say; close them all after.

    ``namespace`` keeps several deployments apart on one server (a PostgreSQL
    schema, a Redis key prefix).
    """
    if not settings.bot_tokens:
        raise ConfigError("no bot token: set TELEGRAM_BOT_TOKEN (or BOT_TOKEN)")
    try:
        from aiogram import Bot

        from sluice.cache import open_cache
        from sluice.jobs import open_backend
        from sluice.store import Store
    except ImportError as error:
        raise missing_extra("sluice.runtime", "worker", error) from None

    await asyncio.to_thread(make_data_dir, settings)
    store = Store.open(sql_url(settings), namespace=namespace)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(store.close)
        await store.setup()
        jobs = open_backend(jobs_url(settings), namespace=namespace)
        stack.push_async_callback(jobs.close)
        cache = open_cache(jobs_url(settings), namespace=namespace)
        stack.push_async_callback(cache.close)
        gate = open_gate(settings, limits=limits, namespace=namespace or "sluice")
        stack.push_async_callback(gate.aclose)
        session = aiogram_session(settings, gate, api_local=api_local)
        stack.push_async_callback(session.close)
        bots = {t.bot_id: Bot(t.reveal(), session=session) for t in settings.bot_tokens}
        yield Runtime(settings, store, jobs, cache, gate, session, bots)
