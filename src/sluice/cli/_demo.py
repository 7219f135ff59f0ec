"""``sluice demo``: three aiogram bots broadcast to 1,500 users through sluice, offline.

Everything runs on loopback: the emulator plays Telegram (its published
limits, a flood storm injected midway) and the users; three ordinary aiogram
3 bots share one sluice gate through its request middleware. While they
broadcast, a user keeps sending /ping to the first bot, which answers with
priority. The report compares what was achieved with what Telegram permits
and counts what matters: 429s, messages lost, order violations, /ping latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import BroadcastProgress, Gate, Priority, sending_as
from sluice.integrations.aiogram import GateMiddleware, InteractiveMiddleware, broadcast_messages
from sluice.limits import TelegramLimits

__all__ = ["DemoReport", "run_demo"]

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


@dataclass
class DemoReport:
    """What the demo measured; ``ok`` when nothing was lost or reordered."""

    messages: int = 0
    elapsed: float = 0.0
    permitted_per_s: float = 0.0
    r429_limit: int = 0
    r429_injected: int = 0
    lost: int = 0
    order_violations: int = 0
    ping_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.order_violations == 0 and self.r429_limit == 0


class _Sim:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, path: str, **body: Any) -> Any:
        response = await self.http.post(f"/_sim/{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def users(self, bot_id: int, count: int) -> list[int]:
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> int:
            async with gate:
                user = await self.post("users", first_name=f"user{n}", language_code="en")
                await self.post("start", bot_id=bot_id, user_id=user["id"])
                return int(user["id"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))

    async def bot_texts(self, chat: int) -> list[str]:
        response = await self.http.get(f"/_sim/chats/{chat}/messages")
        response.raise_for_status()
        return [m.get("text") or "" for m in response.json() if m["sender"]["type"] == "bot"]


async def _pinger(
    sim: _Sim, bot_id: int, chat: int, sent: dict[int, float], stop: asyncio.Event, speed: float
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        sent[number] = time.monotonic()
        await sim.post(
            "send", chat_id=chat, from_user_id=chat, bot_id=bot_id, text=f"/ping {number}"
        )
        with contextlib.suppress(TimeoutError):
            # Slower than the chat's own limit (1/s sustained): every ping can be answered.
            await asyncio.wait_for(stop.wait(), PING_EVERY / speed)


def _health_table(gate: Gate) -> Table:
    table = Table(title="account health", title_justify="left")
    columns = ("bot", "sent", "429s", "bot-wide blocks", "in flight", "waiting", "blocked for")
    for column in (*columns, "success"):
        table.add_column(column, justify="right" if column != "bot" else "left")
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
            f"{float(health['success_rate']):.1%}",  # type: ignore[arg-type]
        )
    return table


async def run_demo(
    console: Console, *, users_per_bot: int = 500, digest_readers: int = 20, speed: float = 1.0
) -> DemoReport:
    """Run the demo; ``users_per_bot`` and ``speed`` shrink it for tests."""
    limits = Limits(speed=speed)
    async with (
        EmulatorServer(EmulatorConfig(limits=limits, seed=7)) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
    ):
        sim = _Sim(http)
        console.print(
            f"[bold]sluice demo[/] - Telegram emulator at {server.url} (limits x{speed:g})"
        )
        with console.status(f"creating {3 * users_per_bot:,} users who start the bots"):
            audiences = {bot_id: await sim.users(bot_id, users_per_bot) for bot_id in DEMO_BOTS}
            (pinger_chat,) = await sim.users(next(iter(DEMO_BOTS)), 1)
        gate = Gate(limits=TelegramLimits(speed=speed))
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        session.middleware(GateMiddleware(gate))
        bots = {bot_id: Bot(token, session=session) for bot_id, token in DEMO_BOTS.items()}
        for bot in bots.values():
            await bot.delete_webhook(drop_pending_updates=True)
        try:
            return await _broadcast(
                console, sim, gate, bots, audiences, pinger_chat, digest_readers, speed
            )
        finally:
            await session.close()


async def _broadcast(
    console: Console,
    sim: _Sim,
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

    @dp.message(F.text.startswith("/ping"))
    async def ping(message: Message) -> None:
        number = int((message.text or "/ping 0").split()[-1])
        await message.answer(f"pong {number}")
        pongs.setdefault(number, time.monotonic())
        if stop.is_set() and len(pongs) >= len(sent_pings):
            all_answered.set()

    first = next(iter(bots))
    polling = asyncio.create_task(
        dp.start_polling(
            bots[first], handle_signals=False, close_bot_session=False, handle_as_tasks=False
        )
    )
    digests = {bot_id: chats[:digest_readers] for bot_id, chats in audiences.items()}
    total = sum(len(c) for c in audiences.values()) + DIGEST_PARTS * sum(
        len(d) for d in digests.values()
    )
    report.messages = total
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
            if done >= news // 3:
                third.set()

        return on_progress

    async def storm() -> None:
        # A third of the way in, Telegram refuses sends at random for a while: a flood storm.
        await third.wait()
        await sim.post("faults", **STORM)
        await asyncio.sleep(STORM_SECONDS / speed)
        await sim.post("faults", **CALM)

    async def digest(bot_id: int) -> None:
        with sending_as(Priority.DEFAULT, flow=f"digest-{bot_id}"):
            await asyncio.gather(
                *(
                    bots[bot_id].send_message(chat, f"digest part {n + 1}/{DIGEST_PARTS}")
                    for n in range(DIGEST_PARTS)
                    for chat in digests[bot_id]
                )
            )

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
            refresher = asyncio.create_task(_refresh(live, progress, gate))
            results = await asyncio.gather(
                *(
                    broadcast_messages(
                        bots[b], audiences[b], "sluice demo: the news", progress=tick(b)
                    )
                    for b in bots
                ),
                *(digest(b) for b in bots),
            )
            report.elapsed = time.monotonic() - started
            refresher.cancel()
            live.update(Group(progress, _health_table(gate)))
    finally:
        stop.set()
        await pinger
        storm_task.cancel()
        await sim.post("faults", **CALM)
        # The last /ping may still be on its way: give it the time a ping takes.
        if len(pongs) < len(sent_pings):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_answered.wait(), 5.0)
        await dp.stop_polling()
        await polling
    undelivered = sum(len(r.outcomes) - len(r.delivered) for r in results if r is not None)
    report.lost, report.order_violations = await _verify(sim, audiences, digests)
    report.lost = max(report.lost, undelivered)
    stats = (await sim.http.get("/_sim/stats")).json()["bots"]
    report.r429_limit = sum(stats[str(b)]["r429"]["limit"] for b in bots)
    report.r429_injected = sum(stats[str(b)]["r429"]["injected"] for b in bots)
    report.permitted_per_s = 30 * speed * len(bots)
    report.ping_ms = [(pongs[n] - sent_pings[n]) * 1000 for n in sent_pings if n in pongs]
    _print_report(console, report)
    return report


async def _refresh(live: Live, progress: Progress, gate: Gate) -> None:
    while True:
        live.update(Group(progress, _health_table(gate)))
        await asyncio.sleep(0.25)


async def _verify(
    sim: _Sim, audiences: dict[int, list[int]], digests: dict[int, list[int]]
) -> tuple[int, int]:
    lost = violations = 0
    expected_digest = [f"digest part {n + 1}/{DIGEST_PARTS}" for n in range(DIGEST_PARTS)]
    for bot_id, chats in audiences.items():
        readers = set(digests[bot_id])
        for chat in chats:
            texts = await sim.bot_texts(chat)
            lost += "sluice demo: the news" not in texts
            if chat in readers:
                parts = [t for t in texts if t.startswith("digest part")]
                lost += len(set(expected_digest) - set(parts))
                violations += parts != sorted(parts, key=expected_digest.index)
    return lost, violations


def _print_report(console: Console, report: DemoReport) -> None:
    console.print()
    achieved = report.messages / report.elapsed if report.elapsed else 0.0
    table = Table(title="sluice demo report", title_justify="left", show_header=False)
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("messages sent", f"{report.messages:,}")
    table.add_row("achieved throughput", f"{achieved:.1f} msg/s")
    table.add_row("permitted by Telegram (3 bots)", f"{report.permitted_per_s:.0f} msg/s")
    table.add_row("429s earned by pacing", str(report.r429_limit))
    table.add_row("429s of the injected storm", str(report.r429_injected))
    table.add_row("messages lost", str(report.lost))
    table.add_row("order violations", str(report.order_violations))
    if report.ping_ms:
        table.add_row("/ping answered", f"{len(report.ping_ms)}")
        table.add_row("/ping latency p50", f"{statistics.median(report.ping_ms):.0f} ms")
        table.add_row("/ping latency max", f"{max(report.ping_ms):.0f} ms")
    console.print(table)
    if report.ok:
        console.print("[bold green]nothing lost, nothing out of order, no 429 earned by pacing[/]")
    else:
        console.print("[bold red]the demo found a problem: see the report above[/]")
