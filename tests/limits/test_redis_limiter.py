"""What only the Redis limiter does: group requests into round trips, and release
the sends of a process that died before their answers. (What both backends do is
in test_limiter_contract.py.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from sluice.limits import RedisLimiter, Request, SendResult, TelegramLimits, Ticket

LIMITS = TelegramLimits(bot_count=5, bot_window=1.0, bot_burst=5)


@pytest.fixture
async def limiters(redis_url: str) -> AsyncIterator[tuple[RedisLimiter, RedisLimiter]]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    # Two processes' worth: separate connections, one namespace; heartbeats of 0.3 s.
    pair = tuple(
        RedisLimiter(aioredis.Redis.from_url(redis_url), LIMITS, namespace=namespace, heartbeat=0.3)
        for _ in range(2)
    )
    yield pair  # type: ignore[misc]
    await pair[0].drop()
    for limiter in pair:
        await limiter.aclose()


async def test_requests_made_together_share_round_trips(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    a, _ = limiters
    asked = await asyncio.gather(*(a.acquire([Request(1, -100 - n)]) for n in range(8)))
    results = [answer for (answer,) in asked]
    assert sum(isinstance(r, Ticket) for r in results) == 5
    assert a.round_trips <= 2  # the first alone, the other seven in one script call
    before = a.round_trips
    await asyncio.gather(*(a.confirm(r, SendResult.OK) for r in results if isinstance(r, Ticket)))
    assert a.round_trips - before <= 2
    # A gate's batch of requests: one round trip for all of them.
    before = a.round_trips
    answers = await a.acquire([Request(2, -200 - n) for n in range(5)])
    assert all(isinstance(answer, Ticket) for answer in answers)
    assert a.round_trips - before == 1


async def test_a_dead_processs_sends_in_flight_are_released_when_its_heartbeat_ends(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    dead, alive = limiters
    for n in range(5):
        assert isinstance((await dead.acquire([Request(1, -100 - n)]))[0], Ticket)
    # While the process lives, its unanswered sends hold the window.
    assert not isinstance((await alive.acquire([Request(1, -200)]))[0], Ticket)
    assert dead._beating is not None
    await asyncio.to_thread(dead._beating.stop)  # it dies: no answers, no heartbeat
    (granted,) = await alive.acquire([Request(1, -200)])
    assert isinstance(granted, Ticket)
