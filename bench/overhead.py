"""``sluice bench overhead``: what the gate itself costs per call.

A null transport (the call returns at once) and no limits, so nothing is
measured but the gate's own bookkeeping: routing, lanes, the ready queue,
admissions and answers. Concurrent callers loop over calls to many chats, the
shape of a bot under load. One process, one event loop: one core. On the
memory limiter (the default), and, given a Redis, on a ``RedisLimiter`` whose
limits are too large to bind: its cost is the round trips, a batch at a time.
"""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from typing import Any

from sluice.accounts import Account
from sluice.gate import Gate
from sluice.limits import Limiter, RedisLimiter, TelegramLimits

CALLS = 200_000
CALLERS = 1000
CHATS = 5000


async def _null(account: Account) -> None:
    return None


BIG = 10**9  # limits no workload here reaches


async def measure(
    calls: int = CALLS,
    callers: int = CALLERS,
    chats: int = CHATS,
    limiter: Limiter | None = None,
) -> float:
    """Calls per second through a gate with no limits and a transport that does nothing."""
    if limiter is None:
        gate = Gate([Account(1)], limits=TelegramLimits(enabled=False))
    else:
        gate = Gate([Account(1)], limiter=limiter)
    per_caller = calls // callers

    async def caller(offset: int) -> None:
        for n in range(per_caller):
            await gate.call(_null, account=1, chat_id=(offset + n * callers) % chats)

    await asyncio.gather(*(caller(c) for c in range(min(callers, 50))))  # warm up
    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - started
    return per_caller * callers / elapsed


async def measure_redis(url: str, calls: int = CALLS // 4) -> tuple[float, float]:
    """Calls per second on a ``RedisLimiter`` at ``url``, and its round trips a call."""
    limits = TelegramLimits(
        bot_count=BIG, bot_burst=BIG, private_burst=BIG, group_count=BIG, paid_count=BIG
    )
    limiter = RedisLimiter.from_url(url, limits, namespace=f"bench{uuid.uuid4().hex[:8]}")
    try:
        rate = await measure(calls, limiter=limiter)
        return rate, limiter.round_trips / (calls + CALLERS)
    finally:
        await limiter.drop()
        await limiter.aclose()


def run(redis_url: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"calls_per_s": round(asyncio.run(measure()), 1)}
    if redis_url:
        rate, trips = asyncio.run(measure_redis(redis_url))
        result["redis"] = {"calls_per_s": round(rate, 1), "round_trips_per_call": round(trips, 3)}
    return result
