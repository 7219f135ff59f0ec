"""``sluice demo``: three aiogram bots broadcast to 1,500 users through sluice, offline.

Everything runs on loopback: the emulator plays Telegram (its published
limits, a flood storm injected midway) and the users; three ordinary aiogram
3 bots share one sluice gate through its request middleware. While they
broadcast, a user keeps sending /ping to the first bot, which answers with
priority. The report counts every message sent, compares the time taken with
what Telegram permits and says where the difference went.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher, F
from aiogram.types import Message
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sluice.accounts import BotToken
from sluice.broadcasts import BroadcastProgress
from sluice.broadcasts.aiogram import broadcast_messages
from sluice.config import Settings
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits, Sim
from sluice.gate import Gate, Priority, sending_as
from sluice.integrations.aiogram import InteractiveMiddleware
from sluice.limits import TelegramLimits
from sluice.runtime import aiogram_session, open_gate

__all__ = ["BotRun", "DemoReport", "run_demo"]

# Obviously fake tokens: the emulator accepts any well-formed one.
DEMO_BOTS = {
    bot_id: f"{bot_id}:" + f"demo-token-not-a-real-secret-{bot_id}".ljust(35, "x")
    for bot_id in (4201, 4202, 4203)
}
DIGEST_PARTS = 3
STORM = {"p429": 0.15, "retry_after_min": 1, "retry_after_max": 3}
CALM = {"p429": 0.0}
STORM_SECONDS = 3.0
PING_EVERY = 1.5  # seconds at speed 1
SAMPLE_EVERY = 0.05  # seconds between two looks at the bots' pauses and rates
NEWS = "sluice demo: the news"


@dataclass
class BotRun:
    """One bot's share of the run, in seconds from the start of the broadcast."""

    sent: int = 0
    minimum: float = 0.0  # its sends at the published rate
    finished: float = 0.0
    paused: float = 0.0  # closed as a whole by Telegram's 429s
    slowed: float = 0.0  # time lost to a rate cut below the published one
    lowest_rate: float = 1.0


@dataclass
class DemoReport:
    """What the demo measured; ``ok`` when nothing was lost or reordered."""

    broadcast: int = 0
    digests: int = 0
    pongs: int = 0
    elapsed: float = 0.0
    startup: float = 0.0  # until Telegram accepted the first message
    permitted_per_s: float = 0.0
    bots: dict[int, BotRun] = field(default_factory=dict)
    r429_limit: int = 0
    r429_injected: int = 0
    lost: int = 0
    order_violations: int = 0
    ping_ms: list[float] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """Every message the bots sent: the broadcast, the digests, the /ping replies."""
        return self.broadcast + self.digests + self.pongs

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.order_violations == 0 and self.r429_limit == 0


async def _pinger(
    sim: Sim, bot_id: int, chat: int, sent: dict[int, float], stop: asyncio.Event, speed: float
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        sent[number] = time.monotonic()
        await sim.send(chat, f"/ping {number}", bot_id=bot_id)
        with contextlib.suppress(TimeoutError):
            # Slower than the chat's own limit (1/s sustained): every ping can be answered.
            await asyncio.wait_for(stop.wait(), PING_EVERY / speed)


def _health_table(gate: Gate) -> Table:
    table = Table(title="account health", title_justify="left")
    table.add_column("bot", no_wrap=True)
    # Short headers: the table must fit an 80-column terminal.
    for column in ("sent", "429s", "pauses", "flying", "queued", "paused", "rate", "ok"):
        table.add_column(column, justify="right")
    for label, health in gate.health().items():
        blocked = float(health["blocked_until"])  # type: ignore[arg-type]
        table.add_row(
            label,
            str(health["successes"]),
            str(health["r429"]),
            str(health["account_blocks"]),
            str(health["in_flight"]),
            str(health["waiting"]),
            f"{blocked:.1f}s" if blocked else "-",
            f"{float(health['rate']):.0%}",  # type: ignore[arg-type]
            f"{float(health['success_rate']):.0%}",  # type: ignore[arg-type]
        )
    return table


async def run_demo(
    console: Console, *, users_per_bot: int = 500, digest_readers: int = 20, speed: float = 1.0
) -> DemoReport:
    """Run the demo; ``users_per_bot`` and ``speed`` shrink it for tests.

    The report is printed once everything has stopped, so the command ends with it.
    """
    limits = Limits(speed=speed)
    async with (
        EmulatorServer(EmulatorConfig(limits=limits, seed=7)) as server,
        Sim.connect(server.url) as sim,
    ):
        console.print(
            f"[bold]sluice demo[/] - Telegram emulator at {server.url} (limits x{speed:g})"
        )
        with console.status(f"creating {3 * users_per_bot:,} users who start the bots"):
            audiences = {
                bot_id: await sim.users(users_per_bot, start_bot_id=bot_id, language_code="en")
                for bot_id in DEMO_BOTS
            }
            (pinger_chat,) = await sim.users(1, start_bot_id=next(iter(DEMO_BOTS)))
        # What a user's settings would say, with the emulator as TELEGRAM_API_SERVER.
        settings = Settings(
            bot_tokens=tuple(BotToken(token) for token in DEMO_BOTS.values()),
            api_server=server.url,
        )
        gate = open_gate(settings, limits=TelegramLimits(speed=speed))
        session = aiogram_session(settings, gate, api_local=False)
        bots = {bot_id: Bot(token, session=session) for bot_id, token in DEMO_BOTS.items()}
        for bot in bots.values():
            await bot.delete_webhook(drop_pending_updates=True)
        try:
            report = await _broadcast(
                console, sim, gate, bots, audiences, pinger_chat, digest_readers, speed
            )
        finally:
            await session.close()
            await gate.aclose()
    _print_report(console, report, speed)
    return report


async def _broadcast(
    console: Console,
    sim: Sim,
    gate: Gate,
    bots: dict[int, Bot],
    audiences: dict[int, list[int]],
    pinger_chat: int,
    digest_readers: int,
    speed: float,
) -> DemoReport:
    report = DemoReport()
    pongs: dict[int, float] = {}
    dp = Dispatcher()
    dp.update.outer_middleware(InteractiveMiddleware())
    first = next(iter(bots))
    runs = {bot_id: BotRun() for bot_id in bots}
    report.bots = runs

    @dp.message(F.text.startswith("/ping"))
    async def ping(message: Message) -> None:
        number = int((message.text or "/ping 0").split()[-1])
        await message.answer(f"pong {number}")
        pongs.setdefault(number, time.monotonic())
        runs[first].finished = max(runs[first].finished, time.monotonic() - started)
        if stop.is_set() and len(pongs) >= len(sent_pings):
            all_answered.set()

    polling = asyncio.create_task(
        dp.start_polling(
            bots[first], handle_signals=False, close_bot_session=False, handle_as_tasks=False
        )
    )
    digests = {bot_id: chats[:digest_readers] for bot_id, chats in audiences.items()}
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    tasks = {
        bot_id: progress.add_task(f"bot {bot_id}", total=len(audiences[bot_id])) for bot_id in bots
    }
    news = sum(len(c) for c in audiences.values())
    done = 0
    third = asyncio.Event()

    def tick(bot_id: int) -> Callable[[BroadcastProgress], None]:
        def on_progress(p: BroadcastProgress) -> None:
            nonlocal done
            progress.update(tasks[bot_id], completed=p.done)
            done += 1
            if not report.startup:
                report.startup = time.monotonic() - started
            if done >= news // 3:
                third.set()

        return on_progress

    async def storm() -> None:
        # A third of the way in, Telegram refuses sends at random for a while: a flood storm.
        await third.wait()
        await sim.faults(**STORM)
        await asyncio.sleep(STORM_SECONDS / speed)
        await sim.faults(**CALM)

    async def broadcast(bot_id: int) -> Any:
        result = await broadcast_messages(
            bots[bot_id], audiences[bot_id], NEWS, progress=tick(bot_id)
        )
        runs[bot_id].finished = max(runs[bot_id].finished, time.monotonic() - started)
        return result

    async def digest(bot_id: int) -> None:
        with sending_as(Priority.DEFAULT, flow=f"digest-{bot_id}"):
            await asyncio.gather(
                *(
                    bots[bot_id].send_message(chat, f"digest part {n + 1}/{DIGEST_PARTS}")
                    for n in range(DIGEST_PARTS)
                    for chat in digests[bot_id]
                )
            )
        runs[bot_id].finished = max(runs[bot_id].finished, time.monotonic() - started)

    stop = asyncio.Event()
    sent_pings: dict[int, float] = {}
    all_answered = asyncio.Event()
    pinger = asyncio.create_task(_pinger(sim, first, pinger_chat, sent_pings, stop, speed))
    storm_task = asyncio.create_task(storm())
    started = time.monotonic()
    try:
        with Live(
            Group(progress, _health_table(gate)), console=console, refresh_per_second=4
        ) as live:
            watcher = asyncio.create_task(_watch(live, progress, gate, runs))
            results = await asyncio.gather(
                *(broadcast(b) for b in bots), *(digest(b) for b in bots)
            )
            report.elapsed = time.monotonic() - started
            stop.set()
            await pinger
            # The last /ping may still be on its way: give it the time a ping takes.
            if len(pongs) < len(sent_pings):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(all_answered.wait(), 5.0)
            watcher.cancel()
            live.update(Group(progress, _health_table(gate)))
    finally:
        stop.set()
        if not pinger.done():
            pinger.cancel()
        storm_task.cancel()
        await sim.faults(**CALM)
        await dp.stop_polling()
        await polling
    undelivered = sum(len(r.outcomes) - len(r.delivered) for r in results[: len(bots)])
    report.lost, report.order_violations = await _verify(sim, audiences, digests)
    report.lost = max(report.lost, undelivered)
    stats = (await sim.stats())["bots"]
    report.r429_limit = sum(stats[str(b)]["r429"]["limit"] for b in bots)
    report.r429_injected = sum(stats[str(b)]["r429"]["injected"] for b in bots)
    report.broadcast = news
    report.digests = DIGEST_PARTS * sum(len(d) for d in digests.values())
    report.pongs = len(pongs)
    report.permitted_per_s = 30 * speed * len(bots)
    for bot_id, run in runs.items():
        run.sent = gate.account(bot_id).health.successes
        run.minimum = run.sent / (30 * speed)
    report.ping_ms = [(pongs[n] - sent_pings[n]) * 1000 for n in sent_pings if n in pongs]
    return report


async def _watch(live: Live, progress: Progress, gate: Gate, runs: dict[int, BotRun]) -> None:
    """Refresh the display, and add up how long each bot was paused or slowed."""
    last = time.monotonic()
    shown = 0.0
    while True:
        await asyncio.sleep(SAMPLE_EVERY)
        now = time.monotonic()
        elapsed, last = now - last, now
        for label, health in gate.health().items():
            run = runs[int(label.partition(":")[2])]
            rate = float(health["rate"])  # type: ignore[arg-type]
            if float(health["blocked_until"]) > 0:  # type: ignore[arg-type]
                run.paused += elapsed
            elif rate < 1:
                run.slowed += elapsed * (1 - rate)
            run.lowest_rate = min(run.lowest_rate, rate)
        if now - shown >= 0.25:
            shown = now
            live.update(Group(progress, _health_table(gate)))


async def _verify(
    sim: Sim, audiences: dict[int, list[int]], digests: dict[int, list[int]]
) -> tuple[int, int]:
    lost = violations = 0
    expected_digest = [f"digest part {n + 1}/{DIGEST_PARTS}" for n in range(DIGEST_PARTS)]
    for bot_id, chats in audiences.items():
        readers = set(digests[bot_id])
        texts_of = await sim.texts_of(chats)
        for chat in chats:
            texts = texts_of[chat]
            lost += NEWS not in texts
            if chat in readers:
                parts = [t for t in texts if t.startswith("digest part")]
                lost += len(set(expected_digest) - set(parts))
                violations += parts != sorted(parts, key=expected_digest.index)
    return lost, violations


def where_the_time_went(report: DemoReport, speed: float) -> str:
    """One line: the run's time against Telegram's minimum, and what the gap was spent on."""
    bot_id, run = max(report.bots.items(), key=lambda item: item[1].finished)
    rate = 30 * speed
    other = max(0.0, run.finished - run.minimum - report.startup - run.paused - run.slowed)
    parts = [f"start-up {report.startup:.1f} s"]
    if run.paused >= 0.05:
        parts.append(f"paused by the storm's 429s {run.paused:.1f} s")
    if run.slowed >= 0.05:
        parts.append(
            f"slowed to {run.lowest_rate:.0%} of the published rate after them "
            f"{run.slowed:.1f} s (sluice's adaptive cut, restored after a quiet hold)"
        )
    parts.append(f"retries and round trips {other:.1f} s")
    return (
        f"Where the time went: bot {bot_id}, the last to finish, sent {run.sent:,} messages, "
        f"{run.minimum:.1f} s at Telegram's {rate:g} a second; it took {run.finished:.1f} s: "
        + ", ".join(parts)
        + "."
    )


def _print_report(console: Console, report: DemoReport, speed: float) -> None:
    console.print()
    achieved = report.messages / report.elapsed if report.elapsed else 0.0
    table = Table(title="sluice demo report", title_justify="left", show_header=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("broadcast (one message to each user)", f"{report.broadcast:,}")
    readers = report.digests // (DIGEST_PARTS * len(report.bots)) if report.bots else 0
    table.add_row(
        f"digests ({DIGEST_PARTS} parts to {readers} readers a bot)", f"{report.digests:,}"
    )
    table.add_row("/ping replies", f"{report.pongs:,}")
    table.add_row("sent in all (the health table's total)", f"{report.messages:,}")
    table.add_row("achieved throughput", f"{achieved:.1f} msg/s")
    table.add_row(
        f"permitted by Telegram ({len(report.bots)} bots)", f"{report.permitted_per_s:.0f} msg/s"
    )
    table.add_row("429s earned by pacing", str(report.r429_limit))
    table.add_row("429s of the injected storm", str(report.r429_injected))
    table.add_row("messages lost", str(report.lost))
    table.add_row("order violations", str(report.order_violations))
    if report.ping_ms:
        table.add_row("/ping latency p50", f"{statistics.median(report.ping_ms):.0f} ms")
        table.add_row("/ping latency max", f"{max(report.ping_ms):.0f} ms")
    console.print(table)
    if report.bots:
        console.print(where_the_time_went(report, speed))
    if report.ok:
        console.print("[bold green]nothing lost, nothing out of order, no 429 earned by pacing[/]")
    else:
        console.print("[bold red]the demo found a problem: see the report above[/]")
