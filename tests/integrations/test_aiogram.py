"""aiogram 3 with sluice's middleware, against the emulator enforcing Telegram's limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import SendMessage

from sluice.broadcasts import Outcome
from sluice.broadcasts.aiogram import broadcast_messages, status_message
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import Gate, Priority, sending_as
from sluice.integrations.aiogram import GateMiddleware
from sluice.limits import TelegramLimits
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

SPEED = 10.0


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(limits=Limits(speed=SPEED), seed=1)


@pytest.fixture
def gate() -> Gate:
    return Gate(limits=TelegramLimits(speed=SPEED))


@pytest.fixture
async def session(server: EmulatorServer, gate: Gate) -> AsyncIterator[AiohttpSession]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    session.middleware(GateMiddleware(gate))
    yield session
    await session.close()


async def started(sim: Sim, bot_id: int, count: int) -> list[int]:
    return [int((await sim.started_user(bot_id, first_name=f"u{n}"))["id"]) for n in range(count)]


async def test_one_line_makes_a_burst_safe(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    users = await started(sim, BOT_A, 20)
    # Eight messages into each of twenty chats at once: bursts, per-chat and bot limits.
    await asyncio.gather(*(bot.send_message(u, f"m{n}") for n in range(8) for u in users))
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["r429"]["total"] == 0
    assert stats["sends_accepted"] == 160
    for user in users:
        texts = [m["text"] for m in await sim.messages(user) if m["sender"]["type"] == "bot"]
        assert texts == [f"m{n}" for n in range(8)]


async def test_one_gate_serves_many_bots_each_with_its_own_limits(
    session: AiohttpSession, sim: Sim, gate: Gate
) -> None:
    bots = [Bot(TOKEN_A, session=session), Bot(TOKEN_B, session=session)]
    users = {BOT_A: await started(sim, BOT_A, 40), BOT_B: await started(sim, BOT_B, 40)}
    await asyncio.gather(*(bot.send_message(u, "hello") for bot in bots for u in users[bot.id]))
    assert {a.id for a in gate.accounts} == {BOT_A, BOT_B}
    for bot_id in (BOT_A, BOT_B):
        stats = (await sim.stats())["bots"][str(bot_id)]
        assert (stats["sends_accepted"], stats["r429"]["total"]) == (40, 0)
    assert gate.health()[f"bot:{BOT_A}"]["successes"] == 40


async def test_refusals_arrive_as_aiogram_raised_them(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    (user,) = await started(sim, BOT_A, 1)
    await sim.post("block", bot_id=BOT_A, user_id=user)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(user, "hi")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(987654321, "hi")


async def test_polling_is_not_paced(session: AiohttpSession, sim: Sim, gate: Gate) -> None:
    bot = Bot(TOKEN_A, session=session)
    await started(sim, BOT_A, 1)
    for _ in range(50):
        await bot.get_updates(timeout=0)
    assert gate.pending() == 0
    assert not gate.has_account(BOT_A)  # nothing send-like went through the gate


async def test_broadcast_reports_every_recipient(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    users = await started(sim, BOT_A, 60)
    await sim.post("block", bot_id=BOT_A, user_id=users[3])
    never_started = int((await sim.user(first_name="stranger"))["id"])
    seen: list[int] = []
    report = await broadcast_messages(
        bot,
        [*users, never_started, 555],
        "news",
        progress=lambda p: seen.append(p.done),
    )
    assert report.outcomes[users[3]] is Outcome.BLOCKED
    assert report.outcomes[never_started] is Outcome.FORBIDDEN
    assert report.outcomes[555] is Outcome.CHAT_NOT_FOUND
    assert len(report.delivered) == 59
    assert seen == list(range(1, 63))
    assert list(report.outcomes) == [*users, never_started, 555]  # in recipient order
    assert "blocked by the user" in report.errors[users[3]]


async def test_broadcast_with_a_factory_per_recipient(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    users = await started(sim, BOT_A, 5)
    report = await broadcast_messages(
        bot, users, lambda chat: SendMessage(chat_id=chat, text=f"hi {chat}")
    )
    assert len(report.delivered) == 5
    for user in users:
        assert (await sim.messages(user))[-1]["text"] == f"hi {user}"


async def test_a_flood_storm_loses_nothing_and_keeps_order(
    session: AiohttpSession, sim: Sim
) -> None:
    bot = Bot(TOKEN_A, session=session)
    users = await started(sim, BOT_A, 30)
    await sim.post("faults", p429=0.2, retry_after_min=1, retry_after_max=1, p5xx=0.05)
    await asyncio.gather(*(bot.send_message(u, f"m{n}") for n in range(3) for u in users))
    await sim.post("faults", p429=0.0, p5xx=0.0)
    stats = (await sim.stats())["bots"][str(BOT_A)]
    assert stats["sends_accepted"] == 90
    assert stats["r429"]["limit"] == 0  # only the injected ones, never one the model earned
    for user in users:
        texts = [m["text"] for m in await sim.messages(user) if m["sender"]["type"] == "bot"]
        assert texts == ["m0", "m1", "m2"]


async def test_status_edits_coalesce_and_show_the_latest(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    (user,) = await started(sim, BOT_A, 1)
    message = await bot.send_message(user, "starting")
    status = status_message(bot, user, message.message_id, initial="starting")
    for percent in range(101):
        status.update(f"downloading {percent} %")
    await status.close()
    (shown,) = [m for m in await sim.messages(user) if m["message_id"] == message.message_id]
    assert shown["text"] == "downloading 100 %"
    # A hundred updates, a handful of edits: the stale ones never went out.
    assert 1 <= status.edits <= 3
    assert len(shown["edit_history"]) == status.edits


async def test_replies_made_inside_sending_as_go_first(session: AiohttpSession, sim: Sim) -> None:
    bot = Bot(TOKEN_A, session=session)
    users = await started(sim, BOT_A, 150)
    (asker,) = await started(sim, BOT_A, 1)
    loop = asyncio.get_running_loop()
    bulk = asyncio.gather(*(bot.send_message(u, "bulk") for u in users))
    await asyncio.sleep(0.05)
    with sending_as(Priority.INTERACTIVE):
        start = loop.time()
        await bot.send_message(asker, "pong")
        waited = loop.time() - start
    remaining = not bulk.done()
    await bulk
    assert remaining  # the broadcast was still going
    assert waited < 0.1 + 0.1  # one chat interval at speed 10, plus the round trip
