"""``sluice run filelink``: the bot, its pool of bots over MTProto, its web server and
its durable jobs, wired and run in one event loop.

Settings come from the environment and ``.env``: sluice's own (the tokens
``BOT_TOKEN`` + ``MULTITOKEN1..N``, ``TELEGRAM_API_ID``/``_HASH``,
``SLUICE_DATA_DIR``, ``SLUICE_DATABASE_URL``, ``SLUICE_OWNER_IDS``,
``TELEGRAM_API_SERVER``) and the bot's (:mod:`._settings`: ``LINK_SECRET``,
``STORAGE_CHANNEL``, ``PUBLIC_URL``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from starlette.applications import Starlette

from sluice._exceptions import ConfigError
from sluice._redact import redact
from sluice.apps.filelink._bot import FilelinkBot
from sluice.apps.filelink._botapi import BotApiSource
from sluice.apps.filelink._engine import MtprotoSource
from sluice.apps.filelink._http import create_http_app
from sluice.apps.filelink._intake import CLOUD_LIMIT, Intake
from sluice.apps.filelink._links import LinkResolver, Links, LinkSigner
from sluice.apps.filelink._model import ByteSource
from sluice.apps.filelink._records import Records
from sluice.apps.filelink._settings import FilelinkSettings
from sluice.broadcasts import DurableBroadcasts
from sluice.broadcasts.aiogram import aiogram_sender
from sluice.config import Settings
from sluice.integrations.aiogram import (
    InteractiveMiddleware,
    classify_aiogram,
    wait_until_reachable,
)
from sluice.integrations.telethon import TelethonPool
from sluice.jobs import JobQueue
from sluice.runtime import Runtime, open_runtime
from sluice.store import Users

__all__ = ["FilelinkApp", "StorageReport", "open_filelink", "run_filelink"]

log = logging.getLogger("sluice.apps.filelink")

MTPROTO_LIMIT = 4000 * 1024 * 1024  # Telegram's largest file (Premium uploads)
LOCAL_LIMIT = 2000 * 1024 * 1024  # what a local Bot API server hands out


@dataclass
class StorageReport:
    """Which bots can read the storage channel, and why the others cannot."""

    readers: dict[int, str] = field(default_factory=dict)  # bot id -> "" or why not
    signed_out: dict[int, str] = field(default_factory=dict)  # bot id -> why it did not sign in


@dataclass
class FilelinkApp:
    """Everything ``sluice run filelink`` runs, opened and ready."""

    runtime: Runtime
    settings: FilelinkSettings
    records: Records
    links: Links
    resolver: LinkResolver
    source: ByteSource
    handlers: FilelinkBot
    dispatcher: Dispatcher
    queue: JobQueue
    http: Starlette
    report: StorageReport
    pool: TelethonPool | None = None
    token_source: str = ""

    @property
    def bot(self) -> Bot:
        return self.runtime.bot

    def http_server(self, **config: Any) -> uvicorn.Server:
        """The uvicorn server of :attr:`http` on ``HOST``:``PORT``; forwarded headers
        are believed only from ``FORWARDED_ALLOW_IPS``."""
        proxies = self.settings.trusted_proxies
        options: dict[str, Any] = {
            "host": self.settings.host, "port": self.settings.port, "log_config": None,
            "access_log": False, "proxy_headers": bool(proxies),
            "forwarded_allow_ips": ",".join(proxies) if proxies else "",
            "timeout_graceful_shutdown": 5, "lifespan": "off",
        }  # fmt: skip
        options.update(config)
        return _Server(uvicorn.Config(self.http, **options))

    async def run(
        self,
        *,
        concurrency: int = 4,
        handle_signals: bool = True,
        polling_timeout: int = 10,
        sockets: list[Any] | None = None,
    ) -> None:
        """Serve links, poll for updates and run jobs until cancelled or signalled."""
        await wait_until_reachable(self.bot, token_source=self.token_source)
        server = self.http_server()
        serving = asyncio.create_task(server.serve(sockets=sockets))
        try:
            async with self.queue.running(concurrency=concurrency):
                await self.dispatcher.start_polling(
                    self.bot, handle_signals=handle_signals, polling_timeout=polling_timeout,
                    allowed_updates=self.dispatcher.resolve_used_update_types(),
                )  # fmt: skip
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving


class _Server(uvicorn.Server):
    """uvicorn inside the bot's loop: aiogram's polling owns SIGINT/SIGTERM and stops
    the server when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def check_storage(
    runtime: Runtime, pool: TelethonPool | None, channel: int, report: StorageReport
) -> None:
    """Ask each bot whether it can read the storage channel (an admin of it, over the
    Bot API; its stored messages, over MTProto); ``report`` says which cannot, and why."""
    for bot_id, bot in runtime.bots.items():
        report.readers[bot_id] = await _bot_api_reason(bot, bot_id, channel)
    if pool is not None:
        for account in pool.accounts:
            if report.readers.get(account):
                continue
            report.readers[account] = await _mtproto_reason(pool, account, channel)


async def _bot_api_reason(bot: Bot, bot_id: int, channel: int) -> str:
    try:
        member = await bot.get_chat_member(channel, bot_id)
    except TelegramAPIError as exc:
        return f"cannot see the storage channel ({redact(exc.message)})"
    if member.status in ("administrator", "creator"):
        return ""
    return f"is {member.status} of the storage channel, not an admin: make it an admin"


async def _mtproto_reason(pool: TelethonPool, account: int, channel: int) -> str:
    async def read(client: Any) -> object:
        return await client.get_messages(channel, ids=1)

    try:
        await pool.call(
            read, chat_id=channel, accounts=[account], method="channels.getMessages",
            limited=False, timeout=30.0,
        )  # fmt: skip
    except Exception as exc:
        return f"cannot read the storage channel over MTProto ({type(exc).__name__})"
    return ""


def _trust_key(path: Path | None) -> None:
    if path is None:
        return
    from telethon.crypto import rsa  # type: ignore[import-untyped]

    rsa.add_key(path.read_text(), old=False)


async def _open_pool(
    settings: Settings, filelink: FilelinkSettings, runtime: Runtime, report: StorageReport
) -> TelethonPool | None:
    """The pool of every bot over MTProto, with sessions kept in the data directory,
    or None without MTProto credentials (or with a local Bot API server)."""
    if not settings.mtproto_credentials or runtime.session.api.is_local:
        return None
    _trust_key(filelink.mtproto_public_key)
    tokens = list(settings.bot_tokens)
    pool = TelethonPool.for_bots(
        runtime.gate, settings.mtproto_credentials[0], tokens, data_dir=runtime.data_dir,
        dc=filelink.mtproto_dc,
    )  # fmt: skip
    failed = await pool.connect(keep_going=True)
    for index, exc in failed.items():
        report.signed_out[tokens[index].bot_id] = redact(f"{type(exc).__name__}: {exc}")
    return pool


@contextlib.asynccontextmanager
async def open_filelink(
    settings: Settings,
    filelink: FilelinkSettings,
    *,
    namespace: str | None = None,
    lease: float = 30.0,
    clock: Callable[[], float] | None = None,
) -> AsyncIterator[FilelinkApp]:
    """Open the store, queue, pool, engine, bot and web app that the settings describe."""
    async with open_runtime(settings, namespace=namespace) as runtime:
        token = settings.bot_tokens[0]
        bot = runtime.bot
        queue = JobQueue(runtime.jobs, lease=lease, check_interval=min(0.25, lease / 4))
        records = Records(runtime.store)
        users = Users(runtime.store)
        signer = LinkSigner(filelink.link_secret.get_secret_value())
        links = Links(signer, users, filelink.public_url, ttl=filelink.link_ttl)
        resolver = LinkResolver(signer, records, users)
        report = StorageReport()
        pool = await _open_pool(settings, filelink, runtime, report)
        try:
            await check_storage(runtime, pool, filelink.storage_channel, report)
            source: ByteSource
            if pool is not None:
                mtproto = MtprotoSource(pool)
                mtproto.set_storage_readers(
                    {a: r for a, r in report.readers.items() if a in pool.accounts}
                )
                source, max_size, stats = mtproto, MTPROTO_LIMIT, mtproto.describe
            else:
                botapi = BotApiSource(bot)
                max_size = LOCAL_LIMIT if botapi.local else CLOUD_LIMIT
                source, stats = botapi, None
            if report.readers.get(token.bot_id):
                raise ConfigError(
                    f"the bot of {token.source} {report.readers[token.bot_id]}: it keeps every "
                    "file there (STORAGE_CHANNEL)"
                )
            broadcasts = DurableBroadcasts(
                runtime.store, queue, aiogram_sender(runtime.bots), classify=classify_aiogram
            )
            handlers = FilelinkBot(
                bot, records=records, links=links, users=users,
                intake=Intake(bot, records, filelink.storage_channel), broadcasts=broadcasts,
                owner_ids=tuple(settings.owner_ids), auth_channel=filelink.auth_channel,
                max_size=max_size, stats=stats, request_timeout=filelink.request_timeout,
                clock=clock or time.monotonic,
            )  # fmt: skip
            dispatcher = Dispatcher()
            dispatcher.update.outer_middleware(InteractiveMiddleware())
            dispatcher.include_router(handlers.router)
            http = create_http_app(resolver, source, max_streams_per_ip=filelink.streams_per_ip)
            for bot_id, reason in sorted(report.readers.items()):
                if reason:
                    log.warning("bot %d: %s; it serves nothing until then", bot_id, reason)
                else:
                    log.info("bot %d: reads the storage channel", bot_id)
            for bot_id, reason in sorted(report.signed_out.items()):
                log.warning("bot %d: not in the pool, it could not sign in: %s", bot_id, reason)
            try:
                yield FilelinkApp(
                    runtime, filelink, records, links, resolver, source, handlers, dispatcher,
                    queue, http, report, pool, token.source,
                )  # fmt: skip
            finally:
                await handlers.close()
        finally:
            if pool is not None:
                await pool.disconnect()


async def run_filelink(settings: Settings, filelink: FilelinkSettings) -> None:
    async with open_filelink(settings, filelink) as app:
        log.info(
            "file-to-link bot running: links at %s, serving on %s:%d through %s",
            filelink.public_url, filelink.host, filelink.port,
            f"{sum(not r for r in app.report.readers.values())} bot(s) over MTProto"
            if app.pool
            else "the Bot API",
        )  # fmt: skip
        await app.run()
