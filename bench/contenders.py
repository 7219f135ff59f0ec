"""The four ways to send a broadcast that ``sluice bench broadcast`` compares.

* ``sluice``: aiogram 3 with sluice's request middleware (one line).
* ``ptb``: python-telegram-bot 22 with its ``AIORateLimiter(max_retries=10)``,
  rates multiplied by the speed factor, everything sent concurrently.
* ``aiogram_sleep``: the common aiogram recipe: a sequential loop sleeping
  ``1/30`` s (divided by the speed factor) between sends, retrying after
  ``TelegramRetryAfter``; one loop per bot.
* ``aiogram_gather``: ``asyncio.gather`` of every send, each retried after
  ``TelegramRetryAfter``.

Every contender gets the same messages in the same submission order, answers
the same ``/ping`` with ``pong`` while it works (a command handler of its own
library, polling), and records when each send completed. A ping's latency runs
from the user's message to the reply Telegram accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods.base import Response
from aiogram.types import Message

from bench.harness import fake_token
from sluice.emulator import Sim
from sluice.gate import Gate, Priority, sending_as
from sluice.integrations.aiogram import GateMiddleware, InteractiveMiddleware
from sluice.limits import TelegramLimits

PING_EVERY = 0.2
# Calls waiting in the gate at once, per bot: as many as a workload has waiting on
# its slowest chats (a group at 20 a minute holds its calls for minutes), so the
# gate, not the submission order, decides what goes first.
SLUICE_WINDOW = 1024


@dataclass
class Work:
    url: str
    speed: float
    bots: list[int]
    messages: list[tuple[int, int, str]]  # (bot id, chat id, text), in submission order
    pinger: tuple[int, int] | None  # (bot id, the pinging user's chat), if pings are measured
    cap: float  # seconds after which what is not delivered counts as lost


@dataclass
class Run:
    started: float = 0.0
    done_at: list[float] = field(default_factory=list)
    failed: int = 0
    pings_sent: dict[int, float] = field(default_factory=dict)
    pings_answered: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def ping_number(text: str | None) -> int:
        return int((text or "/ping 0").split()[-1])

    def answered(self, number: int) -> None:
        """The reply to ping ``number`` was accepted by Telegram."""
        self.pings_answered.setdefault(number, time.monotonic())

    @property
    def ping_ms(self) -> list[float]:
        return [
            (self.pings_answered[n] - sent) * 1000
            for n, sent in self.pings_sent.items()
            if n in self.pings_answered
        ]


Contender = Callable[[Work, Sim], Awaitable[Run]]


async def _drive_pings(sim: Sim, work: Work, run: Run, stop: asyncio.Event) -> None:
    if work.pinger is None:
        return
    bot_id, chat = work.pinger
    number = 0
    while not stop.is_set():
        number += 1
        run.pings_sent[number] = time.monotonic()
        await sim.post(
            "send", chat_id=chat, from_user_id=chat, bot_id=bot_id, text=f"/ping {number}"
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PING_EVERY):
                await stop.wait()


async def _measure(sim: Sim, work: Work, run: Run, sends: Callable[[], Awaitable[object]]) -> Run:
    """Run the sends with pings alongside, within the cap; what is left is cancelled."""
    stop = asyncio.Event()
    # What was built before the clock starts (libraries, users, bots) is there for good:
    # freezing it keeps full collections from walking it mid-run, for every contender alike.
    gc.collect()
    gc.freeze()
    pings = asyncio.create_task(_drive_pings(sim, work, run, stop))
    run.started = time.monotonic()
    try:
        async with asyncio.timeout(work.cap):
            await sends()
    except TimeoutError:
        pass
    finally:
        stop.set()
        await pings
        gc.unfreeze()
    return run


async def _tracked(run: Run, send: Awaitable[object]) -> None:
    try:
        await send
    except Exception:
        run.failed += 1
    else:
        run.done_at.append(time.monotonic())


@contextlib.asynccontextmanager
async def _aiogram_bots(work: Work, run: Run, gate: Gate | None) -> AsyncIterator[dict[int, Bot]]:
    """aiogram bots on one session, polling for /ping when pings are measured."""
    Response[Message]
    session = AiohttpSession(api=TelegramAPIServer.from_base(work.url))
    if gate is not None:
        session.middleware(GateMiddleware(gate))
    bots = {bot_id: Bot(fake_token(bot_id), session=session) for bot_id in work.bots}
    for bot in bots.values():
        await bot.delete_webhook(drop_pending_updates=True)
    polling: asyncio.Task[None] | None = None
    dp = Dispatcher()
    if work.pinger is not None:
        if gate is not None:
            dp.update.outer_middleware(InteractiveMiddleware())

        @dp.message(F.text.startswith("/ping"))
        async def ping(message: Message) -> None:
            number = run.ping_number(message.text)
            await message.answer(f"pong {number}")
            run.answered(number)

        pinger = bots[work.pinger[0]]
        polling = asyncio.create_task(
            dp.start_polling(pinger, handle_signals=False, close_bot_session=False)
        )
    try:
        yield bots
    finally:
        if polling is not None:
            await dp.stop_polling()
            await polling
        await session.close()


async def run_sluice(work: Work, sim: Sim) -> Run:
    run = Run()
    gate = Gate(limits=TelegramLimits(speed=work.speed))
    async with _aiogram_bots(work, run, gate) as bots:

        async def worker(queue: Iterator[tuple[int, int, str]]) -> None:
            # Workers take messages in order and hand them to the gate at once, so the
            # gate sees them in submission order; a bounded number wait there at a time.
            with sending_as(Priority.BULK):
                for b, c, t in queue:
                    await _tracked(run, bots[b].send_message(c, t))

        async def sends() -> None:
            # One broadcast per bot, side by side, as a bot owner would run them.
            queues = [iter([m for m in work.messages if m[0] == b]) for b in work.bots]
            await asyncio.gather(*(worker(q) for q in queues for _ in range(SLUICE_WINDOW)))

        return await _measure(sim, work, run, sends)


async def _until_sent(send: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await send()
        except TelegramRetryAfter as exc:
            await asyncio.sleep(exc.retry_after)
        else:
            return


async def run_aiogram_sleep(work: Work, sim: Sim) -> Run:
    run = Run()
    pause = 1 / 30 / work.speed
    async with _aiogram_bots(work, run, None) as bots:

        async def loop(bot_id: int) -> None:
            bot = bots[bot_id]
            for b, chat, text in work.messages:
                if b != bot_id:
                    continue
                await _tracked(run, _until_sent(lambda: bot.send_message(chat, text)))  # noqa: B023
                await asyncio.sleep(pause)

        async def sends() -> None:
            await asyncio.gather(*(loop(b) for b in work.bots))

        return await _measure(sim, work, run, sends)


async def run_aiogram_gather(work: Work, sim: Sim) -> Run:
    run = Run()
    async with _aiogram_bots(work, run, None) as bots:

        async def sends() -> None:
            await asyncio.gather(
                *(
                    _tracked(run, _until_sent(lambda b=b, c=c, t=t: bots[b].send_message(c, t)))
                    for b, c, t in work.messages
                )
            )

        return await _measure(sim, work, run, sends)


async def run_ptb(work: Work, sim: Sim) -> Run:
    from telegram import Update
    from telegram.ext import (
        AIORateLimiter,
        Application,
        ApplicationBuilder,
        CommandHandler,
        ContextTypes,
    )

    run = Run()
    apps: dict[int, Application] = {}  # type: ignore[type-arg]
    for bot_id in work.bots:
        limiter = AIORateLimiter(
            overall_max_rate=30 * work.speed, group_max_rate=20 * work.speed, max_retries=10
        )
        apps[bot_id] = (
            ApplicationBuilder()
            .token(fake_token(bot_id))
            .base_url(work.url + "/bot")
            .base_file_url(work.url + "/file/bot")
            .rate_limiter(limiter)
            .connection_pool_size(128)
            .pool_timeout(work.cap)
            .build()
        )

    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        number = run.ping_number(update.message.text)
        await update.message.reply_text(f"pong {number}")
        run.answered(number)

    polling = None
    for bot_id, app in apps.items():
        await app.initialize()
        await app.start()
        if work.pinger is not None and bot_id == work.pinger[0]:
            app.add_handler(CommandHandler("ping", ping))
            assert app.updater is not None
            polling = app.updater
            await app.updater.start_polling(poll_interval=0.0, drop_pending_updates=True)
    try:

        async def sends() -> None:
            await asyncio.gather(
                *(_tracked(run, apps[b].bot.send_message(c, t)) for b, c, t in work.messages)
            )

        return await _measure(sim, work, run, sends)
    finally:
        if polling is not None:
            await polling.stop()
        for app in apps.values():
            await app.stop()
            await app.shutdown()


CONTENDERS: dict[str, Contender] = {
    "sluice": run_sluice,
    "ptb": run_ptb,
    "aiogram_sleep": run_aiogram_sleep,
    "aiogram_gather": run_aiogram_gather,
}
