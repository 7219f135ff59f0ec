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

from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.jobs import DurableBroadcasts, JobQueue, open_backend, sharded_broadcast
from sluice.store import Store

HERE = Path(__file__).resolve().parent
REDIS_URL = os.environ.get("SLUICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TOKENS = tuple(f"{1000001 + n}:" + chr(ord("A") + n) * 35 for n in range(3))  # fake
USERS = 600
MESSAGES = [{"text": "m1"}, {"text": "m2"}]
PROCESSES = (1, 2, 4)
SPEED = 1.0


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
            ):
                bots = [int(t.split(":")[0]) for t in TOKENS]
                users: dict[int, list[int]] = {}
                for bot in bots:
                    report(f"{processes} process(es): {users_per_bot} users of bot {bot}")
                    users[bot] = []
                    for _ in range(users_per_bot):
                        user = (await http.post("/_sim/users", json={"first_name": "u"})).json()
                        await http.post("/_sim/start", json={"bot_id": bot, "user_id": user["id"]})
                        users[bot].append(int(user["id"]))
                args = (REDIS_URL, namespace, store_url, server.url, str(speed), *TOKENS)
                async with _workers(processes, *args):
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
                        if accepted >= total:
                            break
                        await asyncio.sleep(0.01)
                    rounds = sum(
                        int(v) for v in (await client.hgetall(f"{namespace}:bench:rt")).values()
                    )
                stats = (await http.get("/_sim/stats")).json()["totals"]
                delivered, violations = 0, 0
                for bot in bots:
                    for user in users[bot]:
                        got = (await http.get(f"/_sim/chats/{user}/messages")).json()
                        texts = [m["text"] for m in got if m["sender"]["type"] == "bot"]
                        delivered += len(set(texts) & {"m1", "m2"})
                        violations += texts[:2] != ["m1", "m2"]
        finally:
            await backend.drop()
            await backend.close()
            async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
                await client.delete(key)
            await client.aclose()
            await store.close()
    achieved = last - started
    return {
        "ratio": round(permitted / achieved, 3),
        "r429": int(stats["r429"]),
        "order_violations": violations,
        "lost": total - delivered,
        "redis_round_trips_per_msg": round(rounds / max(1, stats["sends_accepted"]), 3),
        "achieved_s": round(achieved, 2),
        "first_send_s": round(first - started, 3),
        "enqueue_s": round(enqueued - started, 3),
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
        "| time s | first send s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in results["processes"].items():
        lines.append(
            f"| {n} | {r['ratio']} | {r['r429']} | {r['order_violations']} | {r['lost']} | "
            f"{r['redis_round_trips_per_msg']} | {r['achieved_s']} | {r['first_send_s']} |"
        )
    return "\n".join(lines)
