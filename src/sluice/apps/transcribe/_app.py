"""``sluice run transcribe``: the bot, its worker and everything they stand on, wired.

Settings come from the environment and ``.env``: the bot token
(``TELEGRAM_BOT_TOKEN`` / ``BOT_TOKEN``), ``TELEGRAM_API_SERVER`` for a local
Bot API server (files up to 2 GB), ``SLUICE_DATA_DIR``, ``SLUICE_DATABASE_URL``,
``SLUICE_REDIS_URL``, ``SLUICE_OWNER_IDS``, and the speech-to-text providers
(:mod:`._provider_settings`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice._exceptions import ConfigError
from sluice.accounts import Settings
from sluice.apps.transcribe._bot import TranscribeBot
from sluice.apps.transcribe._download import MtprotoDownloader
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._pipeline import Transcriber
from sluice.apps.transcribe._provider_settings import ProviderSettings, build_providers
from sluice.cache import Cache, open_cache
from sluice.gate import DistributedGate, Gate
from sluice.integrations.aiogram import (
    GateMiddleware,
    InteractiveMiddleware,
    wait_until_reachable,
)
from sluice.jobs import JobQueue, open_backend
from sluice.limits import RedisLimiter
from sluice.store import Store

if TYPE_CHECKING:  # Telethon is the optional `telethon` extra
    from sluice.integrations.telethon import TelethonPool

__all__ = ["TranscribeApp", "open_app", "run_transcribe"]

log = logging.getLogger("sluice.apps.transcribe")


@dataclass
class TranscribeApp:
    """Everything ``sluice run transcribe`` runs, opened and ready."""

    bot: Bot
    dispatcher: Dispatcher
    handlers: TranscribeBot
    queue: JobQueue
    store: Store
    cache: Cache
    providers: Providers
    gate: Gate | DistributedGate
    token_source: str = ""

    async def run(
        self,
        *,
        concurrency: int = 4,
        handle_signals: bool = True,
        polling_timeout: int = 10,
        poll: bool = True,
    ) -> None:
        """Poll for updates and run jobs until cancelled (or signalled, with ``handle_signals``).

        ``poll=False`` runs jobs only: an extra worker next to the process that polls.
        """
        if not poll:
            await self.queue.run(concurrency=concurrency)
            return
        await wait_until_reachable(self.bot, token_source=self.token_source)
        async with self.queue.running(concurrency=concurrency):
            await self.dispatcher.start_polling(
                self.bot, handle_signals=handle_signals, polling_timeout=polling_timeout
            )


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings,
    providers: ProviderSettings,
    *,
    namespace: str | None = None,
    queued_cap: int = 3,
    running_cap: int = 1,
    lease: float = 30.0,
    telethon_pool: TelethonPool | None = None,
    api_local: bool | None = None,
) -> AsyncIterator[TranscribeApp]:
    """Open the store, queue, cache, providers and bot that ``settings`` describe.

    ``lease``: seconds before a dead worker's job runs again elsewhere.
    ``telethon_pool``: started clients logged in as the bot, for files over 20 MB
    without a local Bot API server; by default one is made from the MTProto
    credentials in ``settings`` (sessions kept under the data directory), if any.
    ``api_local``: whether ``TELEGRAM_API_SERVER`` runs in ``--local`` mode (files up
    to 2 GB, read in place); by default it does, as that is why one runs it.
    """
    if not settings.bot_tokens:
        raise ConfigError("no bot token: set TELEGRAM_BOT_TOKEN (or BOT_TOKEN)")
    token = settings.bot_tokens[0]
    data_dir = Path(settings.data_dir)
    try:
        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the data directory {data_dir} (SLUICE_DATA_DIR): {exc.strerror or exc}"
        ) from None
    sql_url = settings.database_url or f"sqlite:///{data_dir / 'sluice.db'}"
    store = Store.open(sql_url, namespace=namespace)
    await store.setup()
    backend = open_backend(settings.redis_url or sql_url, namespace=namespace)
    cache = open_cache(settings.redis_url or sql_url, namespace=namespace)
    chain = build_providers(providers)
    # The bot's own limits: shared with every process on the same Redis (more
    # transcription workers, `sluice run worker` broadcasting as the same bot).
    local_gate = Gate(settings.accounts())
    limiter = None
    gate: Gate | DistributedGate = local_gate
    if settings.redis_url:
        limiter = RedisLimiter.from_url(settings.redis_url, namespace=namespace or "sluice")
        gate = DistributedGate(limiter)
        for account in settings.accounts():
            gate.add_account(account)
    if settings.api_server:
        local = True if api_local is None else api_local
        api = TelegramAPIServer.from_base(settings.api_server, is_local=local)
    else:
        api = TelegramAPIServer.from_base("https://api.telegram.org")
    session = AiohttpSession(api=api)
    session.middleware(GateMiddleware(gate))
    bot = Bot(token.reveal(), session=session)
    queue = JobQueue(backend, lease=lease, check_interval=min(0.25, lease / 4))
    pool = telethon_pool
    if pool is None and settings.mtproto_credentials and not api.is_local:
        from sluice.integrations.telethon import TelethonPool

        # MTProto downloads send nothing; their flood waits stay with this process.
        pool = TelethonPool.from_credentials(
            local_gate, settings.mtproto_credentials, data_dir=data_dir, bot_token=token
        )
        await pool.connect()
    mtproto = MtprotoDownloader(pool) if pool is not None else None
    transcriber = Transcriber(chain, cache)
    handlers = TranscribeBot(
        bot, store=store, queue=queue, transcriber=transcriber, data_dir=data_dir,
        owner_ids=tuple(settings.owner_ids), gate=gate, queued_cap=queued_cap,
        running_cap=running_cap, mtproto=mtproto,
    )  # fmt: skip
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(InteractiveMiddleware())
    dispatcher.include_router(handlers.router)
    try:
        yield TranscribeApp(
            bot, dispatcher, handlers, queue, store, cache, chain, gate, token.source
        )
    finally:
        if pool is not None and telethon_pool is None:
            await pool.disconnect()
        await session.close()
        if limiter is not None:
            assert isinstance(gate, DistributedGate)
            await gate.drain()
            await limiter.aclose()
        await chain.aclose()
        await cache.close()
        await backend.close()
        await store.close()


async def run_transcribe(
    settings: Settings, providers: ProviderSettings, *, poll: bool = True
) -> None:
    async with open_app(settings, providers) as app:
        log.info("transcription bot running with providers %s", ", ".join(app.providers.names))
        await app.run(poll=poll)
