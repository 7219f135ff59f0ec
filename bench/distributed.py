"""``sluice bench distributed``: the same broadcast work by 1, 2 and 4 worker processes.

Three bots, 600 users each (``--users``), two messages to every user in order
(3,600 sends), through ``sluice run worker`` processes that share the bots'
limits through one Redis, against an emulator (in this process) at
Telegram's own pace (``--speed 1``; faster speeds shrink every window and
magnify every fixed cost). The workers are started first; the clock starts
when the work is enqueued (sharded by chat, 8 shards a bot). Measures:
``ratio`` = permitted minimum time (the busiest bot's last send, 30 per
window, each window's sends at its very start) / achieved time (first
enqueue to the last send Telegram accepted); ``r429``; ``order_violations``
(chats whose messages did not arrive as m1 m2); ``lost`` (never delivered);
``redis_round_trips_per_msg`` (the limiters' script calls and flood keys,
summed over the workers, per message sent); ``first_send_s`` (enqueue to the
first send) and ``enqueue_s``, to see where the time goes.

Replies while they broadcast: a user sends ``/ping`` to the first bot every
0.2 s; an aiogram bot in this process, on a gate over the same Redis limits,
answers it as interactive work. ``reply_p50_ms``/``reply_p99_ms``: from the
user's message to the reply Telegram accepted, long polling included. The
target is one private chat interval (1 s at speed 1) + 100 ms at p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from aiogram import Bot, Dispatcher, F
from aiogram.types import Message

from sluice.broadcasts import DurableBroadcasts, sharded_broadcast
from sluice.config import load_settings
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits, Sim
from sluice.integrations.aiogram import InteractiveMiddleware
from sluice.jobs import JobQueue, open_backend
from sluice.limits import TelegramLimits
from sluice.runtime import aiogram_session, open_gate
from sluice.store import Store

HERE = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("SLUICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TOKENS = tuple(f"{1000001 + n}:" + chr(ord("A") + n) * 35 for n in range(3))  # fake
USERS = 600
MESSAGES = [{"text": "m1"}, {"text": "m2"}]
PROCESSES = (1, 2, 4)
SPEED = 1.0
PING_EVERY = 2.0  # seconds at speed 1 between two /ping (a chat allows one reply a second)


@contextlib.asynccontextmanager
async def _workers(n: int, *args: str) -> AsyncIterator[list[subprocess.Popen[str]]]:
    procs = [
        subprocess.Popen(  # noqa: ASYNC220, S603 - our own script; "ready" is awaited below
            [sys.executable, str(HERE / "dist_worker.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        )
        for _ in range(n)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line.strip() == "ready", "a worker did not start"
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            await asyncio.to_thread(proc.wait)
            if proc.stdout is not None:
                proc.stdout.close()


@contextlib.asynccontextmanager
async def _replier(
    url: str, namespace: str, speed: float, token: str, chat: int
) -> AsyncIterator[list[float]]:
    """A bot answering ``/ping`` on a gate that shares the workers' Redis limits, and a
    user pinging it every ``PING_EVERY``: yields the reply latencies (seconds)."""
    env = {"SLUICE_REDIS_URL": REDIS_URL, "TELEGRAM_API_SERVER": url, "BOT_TOKEN": token}
    settings = load_settings(env, env_file=None)
    gate = open_gate(settings, limits=TelegramLimits(speed=speed), namespace=namespace)
    session = aiogram_session(settings, gate)
    bot = Bot(token, session=session)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    dp = Dispatcher()
    dp.update.outer_middleware(InteractiveMiddleware())

    @dp.message(F.text.startswith("/ping"))
    async def ping(message: Message) -> None:
        number = int((message.text or "/ping 0").split()[-1])
        await message.answer(f"pong {number}")
        latencies.append(time.perf_counter() - sent[number])

    async def pinging(sim: Sim) -> None:
        number = 0
        while True:
            number += 1
            sent[number] = time.perf_counter()
            await sim.send(chat, f"/ping {number}", bot_id=bot.id)
            await asyncio.sleep(PING_EVERY / speed)

    await bot.delete_webhook(drop_pending_updates=True)
    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    async with Sim.connect(url) as sim:
        pings = asyncio.create_task(pinging(sim))
        try:
            yield latencies
        finally:
            pings.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pings
            await dp.stop_polling()
            await polling
            await session.close()
            await gate.aclose()


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run_one(
    processes: int, report: Callable[[str], None], speed: float = SPEED, users_per_bot: int = USERS
) -> dict[str, Any]:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    config = EmulatorConfig(seed=1, limits=Limits(speed=speed))
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'sluice.db'}"
        store = Store.open(store_url)
        await store.setup()
        backend = open_backend(REDIS_URL, namespace=namespace)
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            async with (
                EmulatorServer(config) as server,
                httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=60) as http,
                Sim.connect(server.url) as sim,
            ):
                bots = [int(t.split(":")[0]) for t in TOKENS]
                users: dict[int, list[int]] = {}
                for bot in bots:
                    report(f"{processes} process(es): {users_per_bot} users of bot {bot}")
                    users[bot] = await sim.users(users_per_bot, start_bot_id=bot, first_name="u")
                (pinger,) = await sim.users(1, start_bot_id=bots[0], first_name="pinger")
                args = (REDIS_URL, namespace, store_url, server.url, str(speed), *TOKENS)
                async with (
                    _workers(processes, *args),
                    _replier(server.url, namespace, speed, TOKENS[0], pinger) as replies,
                ):
                    report(f"{processes} process(es): sending")
                    broadcasts = DurableBroadcasts(
                        store, JobQueue(backend), _unused, classify=_unused
                    )
                    started = time.perf_counter()
                    for bot in bots:
                        await sharded_broadcast(broadcasts, bot, users[bot], MESSAGES, shards=8)
                    enqueued = time.perf_counter()
                    total = len(bots) * users_per_bot * len(MESSAGES)
                    permitted = _permitted(users_per_bot * len(MESSAGES), speed)
                    cap = 5 * permitted
                    last = first = started
                    accepted = 0
                    while time.perf_counter() - started < cap:
                        stats = (await http.get("/_sim/stats")).json()["totals"]
                        if stats["sends_accepted"] > accepted:
                            if not accepted:
                                first = time.perf_counter()
                            accepted, last = stats["sends_accepted"], time.perf_counter()
                        # The replies count among the sends: the broadcast is done when
                        # what was accepted beyond them is every message.
                        if accepted >= total and accepted - len(await sim.texts(pinger)) >= total:
                            break
                        await asyncio.sleep(0.01)
                    rounds = sum(
                        int(v) for v in (await client.hgetall(f"{namespace}:bench:rt")).values()
                    )
                    latencies = list(replies)
                stats = (await http.get("/_sim/stats")).json()["totals"]
                delivered, violations = 0, 0
                texts = await sim.texts_of([u for bot in bots for u in users[bot]])
                for got in texts.values():
                    delivered += len(set(got) & {"m1", "m2"})
                    violations += got[:2] != ["m1", "m2"]
        finally:
            await backend.drop()
            await backend.close()
            async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
                await client.delete(key)
            await client.aclose()
            await store.close()
    achieved = last - started
    p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
    return {
        "ratio": round(permitted / achieved, 3),
        "r429": int(stats["r429"]),
        "order_violations": violations,
        "lost": total - delivered,
        "redis_round_trips_per_msg": round(rounds / max(1, stats["sends_accepted"]), 3),
        "achieved_s": round(achieved, 2),
        "first_send_s": round(first - started, 3),
        "enqueue_s": round(enqueued - started, 3),
        "replies": len(latencies),
        "reply_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "reply_p99_ms": None if p99 is None else round(p99 * 1000, 1),
    }


def _permitted(per_bot: int, speed: float) -> float:
    """The earliest the busiest bot's last send may go: 30 per window (1 s / speed)."""
    return ((per_bot - 1) // 30) * (1.0 / speed)


async def _unused(*args: Any) -> Any:
    raise AssertionError("the benchmark process only enqueues; the workers send")


async def run_all(
    report: Callable[[str], None] = lambda _: None, speed: float = SPEED, users: int = USERS
) -> dict[str, Any]:
    runs = {str(n): await run_one(n, report, speed, users) for n in PROCESSES}
    return {"speed": speed, "users_per_bot": users, "processes": runs}


def as_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"speed {results['speed']:g}x, {results['users_per_bot']} users a bot, 3 bots",
        "",
        "| processes | ratio | r429 | order violations | lost | Redis round trips/msg "
        "| time s | first send s | reply p50 ms | reply p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in results["processes"].items():
        lines.append(
            f"| {n} | {r['ratio']} | {r['r429']} | {r['order_violations']} | {r['lost']} | "
            f"{r['redis_round_trips_per_msg']} | {r['achieved_s']} | {r['first_send_s']} | "
            f"{r['reply_p50_ms']} | {r['reply_p99_ms']} |"
        )
    return "\n".join(lines)
