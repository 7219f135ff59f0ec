"""``sluice run transcribe``: the bot, its worker and everything they stand on, wired.

Settings come from the environment and ``.env``: the bot token
(``TELEGRAM_BOT_TOKEN`` / ``BOT_TOKEN``), ``TELEGRAM_API_SERVER`` for a local
Bot API server (files up to 2 GB), ``SLUICE_DATA_DIR``, ``SLUICE_DATABASE_URL``,
``SLUICE_REDIS_URL``, ``SLUICE_OWNER_IDS``, and the speech-to-text providers
(:mod:`._provider_settings`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher

from sluice._exceptions import ConfigError, MissingExtra
from sluice.apps.transcribe._bot import TranscribeBot
from sluice.apps.transcribe._download import MtprotoDownloader
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._local import LOCAL, LocalWhisperProvider
from sluice.apps.transcribe._pipeline import Transcriber
from sluice.apps.transcribe._provider_settings import ProviderSettings, build_providers
from sluice.cache import Cache
from sluice.config import Settings
from sluice.gate import Gate
from sluice.integrations.aiogram import InteractiveMiddleware, wait_until_reachable
from sluice.jobs import JobQueue
from sluice.runtime import open_runtime
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
    gate: Gate
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
    async with open_runtime(settings, namespace=namespace, api_local=api_local) as runtime:
        token = settings.bot_tokens[0]
        bot = runtime.bot
        queue = JobQueue(runtime.jobs, lease=lease, check_interval=min(0.25, lease / 4))
        chain = build_providers(providers, data_dir=runtime.data_dir)
        await _prepare_local(chain, providers)
        pool = telethon_pool
        if pool is None and settings.mtproto_credentials and not runtime.session.api.is_local:
            from sluice.integrations.telethon import TelethonPool

            # MTProto downloads send nothing: outside the send limits, held by floods only.
            pool = TelethonPool.from_credentials(
                runtime.gate, settings.mtproto_credentials, data_dir=runtime.data_dir,
                bot_token=token,
            )  # fmt: skip
            await pool.connect()
        mtproto = MtprotoDownloader(pool) if pool is not None else None
        transcriber = Transcriber(chain, runtime.cache)
        handlers = TranscribeBot(
            bot, store=runtime.store, queue=queue, transcriber=transcriber,
            data_dir=runtime.data_dir, owner_ids=tuple(settings.owner_ids), gate=runtime.gate,
            queued_cap=queued_cap, running_cap=running_cap, mtproto=mtproto,
        )  # fmt: skip
        dispatcher = Dispatcher()
        dispatcher.update.outer_middleware(InteractiveMiddleware())
        dispatcher.include_router(handlers.router)
        try:
            yield TranscribeApp(
                bot, dispatcher, handlers, queue, runtime.store, runtime.cache, chain,
                runtime.gate, token.source,
            )  # fmt: skip
        finally:
            if pool is not None and telethon_pool is None:
                await pool.disconnect()
            await chain.aclose()


async def _prepare_local(chain: Providers, settings: ProviderSettings) -> None:
    """Verify and load the local model before the first job, and say it is in use."""
    if LOCAL not in chain.names:
        return
    local = chain[LOCAL]
    assert isinstance(local, LocalWhisperProvider)
    try:
        await local.prepare()
    except MissingExtra as error:
        if not settings.local_only:
            raise
        raise ConfigError(
            "no speech-to-text provider is configured and the local model is not installed: "
            "set one or more of GROQ_API_KEY, DEEPGRAM_API_KEY, TOGETHER_API_KEY, "
            "OPENAI_API_KEY or CUSTOM_STT_BASE_URL, or pip install "
            "'sluice-telegram[local-stt]' to transcribe on this machine"
        ) from error
    seconds = local.load_seconds or 0.0
    if settings.local_only:
        log.info(
            "no provider key set: transcribing on this machine with %s (loaded in %.1f s)",
            local.describe(), seconds,
        )  # fmt: skip
    else:
        log.info("local model ready for failover: %s (loaded in %.1f s)", local.describe(), seconds)


async def run_transcribe(
    settings: Settings, providers: ProviderSettings, *, poll: bool = True
) -> None:
    async with open_app(settings, providers) as app:
        log.info("transcription bot running with providers %s", ", ".join(app.providers.names))
        await app.run(poll=poll)
