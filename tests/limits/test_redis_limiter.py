"""The Redis limiter on a real Redis: shared windows, answer-time counting, floods."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from sluice.limits import RedisLimiter, TelegramLimits, Ticket

LIMITS = TelegramLimits(bot_count=5, bot_window=1.0, private_burst=2, private_rate=1.0)


@pytest.fixture
async def limiters(redis_url: str) -> AsyncIterator[tuple[RedisLimiter, RedisLimiter]]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    # Two processes' worth: separate connections, one namespace.
    pair = tuple(
        RedisLimiter(aioredis.Redis.from_url(redis_url), LIMITS, namespace=namespace)
        for _ in range(2)
    )
    yield pair  # type: ignore[misc]
    await pair[0].drop()
    for limiter in pair:
        await limiter.aclose()


async def test_two_processes_share_one_bot_window(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    a, b = limiters
    granted = [await (a if n % 2 else b).acquire(1, -100 - n) for n in range(5)]
    assert all(isinstance(g, Ticket) for g in granted)
    refused = await a.acquire(1, -200)
    # The window is full of sends still in flight: their answers are due, and they
    # leave it a window after them; ask again in a tenth of a window.
    assert refused == pytest.approx(0.1)
    assert isinstance(await a.acquire(2, -200), Ticket)  # another bot has its own budget


async def test_a_confirmed_send_leaves_the_window_one_window_after_its_answer(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    a, _ = limiters
    tickets = [await a.acquire(1, -100 - n) for n in range(5)]
    for ticket in tickets:
        assert isinstance(ticket, Ticket)
        await a.confirm(ticket)
    wait = await a.acquire(1, -300)
    assert isinstance(wait, float)
    assert 0.9 < wait <= 1.007  # + margin, + the 1 ms stamp


async def test_a_private_chat_takes_its_burst_then_waits(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    a, b = limiters
    first, second = await a.acquire(1, 42), await b.acquire(1, 42)
    assert isinstance(first, Ticket)
    assert isinstance(second, Ticket)
    # Both in flight: their answers are due, ask again in a tenth of the window.
    assert await a.acquire(1, 42) == pytest.approx(0.2)
    await a.confirm(first)
    await b.confirm(second)
    wait = await a.acquire(1, 42)
    assert isinstance(wait, float)
    assert 1.9 < wait <= 2.007  # burst 2 at 1/s: 2 per 2 s, + margin, + the 1 ms stamp
    assert isinstance(await a.acquire(1, 43), Ticket)


async def test_a_flood_closes_the_chat_for_every_process(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    a, b = limiters
    await a.flood(1, -5, 3.0)
    wait = await b.acquire(1, -5)
    assert isinstance(wait, float)
    assert 2.9 < wait <= 3.0
    assert isinstance(await b.acquire(1, -6), Ticket)
    await a.flood(1, None, 2.0)  # account-wide
    assert isinstance(await b.acquire(1, -6), float)


async def test_requests_made_together_share_round_trips(
    limiters: tuple[RedisLimiter, RedisLimiter],
) -> None:
    import asyncio

    a, _ = limiters
    results = await asyncio.gather(*(a.acquire(1, -100 - n) for n in range(8)))
    assert sum(isinstance(r, Ticket) for r in results) == 5
    assert a.round_trips <= 2  # the first alone, the other seven in one script call
