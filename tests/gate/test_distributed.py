"""The distributed gate: two "processes" (two gates, two Redis connections, two
aiogram sessions) share one bot's limits against the emulator at 10x speed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import DistributedGate
from sluice.integrations.aiogram import GateMiddleware
from sluice.jobs import shard_of
from sluice.limits import RedisLimiter, TelegramLimits
from support import BOT_A, TOKEN_A, Sim


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1, limits=Limits(speed=10))


@pytest.fixture
async def gates(redis_url: str) -> AsyncIterator[list[DistributedGate]]:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    limiters = [
        RedisLimiter(
            aioredis.Redis.from_url(redis_url), TelegramLimits(speed=10), namespace=namespace
        )
        for _ in range(2)
    ]
    yield [DistributedGate(limiter) for limiter in limiters]
    await limiters[0].drop()
    for limiter in limiters:
        await limiter.aclose()


async def test_two_processes_share_one_bot_without_a_429_and_keep_each_chats_order(
    server: EmulatorServer, sim: Sim, gates: list[DistributedGate]
) -> None:
    users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(120)]
    sessions = []
    for gate in gates:
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        session.middleware(GateMiddleware(gate))
        sessions.append(session)
    bots = [Bot(TOKEN_A, session=session) for session in sessions]

    async def chat(user: int) -> None:
        # Each chat's work is routed to one process, as the job layer does.
        bot = bots[shard_of(user, 2)]
        for n in (1, 2, 3):
            await bot.send_message(user, f"m{n}")

    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.gather(*(chat(u) for u in users))
    finally:
        for session in sessions:
            await session.close()
    elapsed = loop.time() - started
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["r429"]["total"] == 0
    assert stats["sends_accepted"] == 360
    for user in users[:40]:
        assert [m["text"] for m in await sim.messages(user)][1:] == ["m1", "m2", "m3"]
    # 360 sends at 300/s need at least 1.1 s: shared, not doubled.
    assert elapsed > (360 - 30) / 300
    assert {shard_of(u, 2) for u in users} == {0, 1}  # both processes took part
    rounds = sum(g.limiter.round_trips for g in gates)
    assert rounds < 2 * 360  # grouped: fewer than two round trips a message


def test_a_chats_shard_is_the_same_in_every_process() -> None:
    # blake2b, not hash(): Python salts str hashes per process.
    assert [shard_of(c, 16) for c in (1, -1001234567890, 424242)] == [
        shard_of(c, 16) for c in (1, -1001234567890, 424242)
    ]
    assert all(0 <= shard_of(c, 7) < 7 for c in range(-500, 500))
    counts = [sum(1 for c in range(10_000) if shard_of(c, 4) == s) for s in range(4)]
    assert min(counts) > 2_200  # spread evenly
