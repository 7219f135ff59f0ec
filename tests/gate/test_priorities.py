"""Priorities and fairness: replies go before broadcasts, broadcasts share the bot,
and failover picks the account with the most room."""

from __future__ import annotations

import asyncio
import statistics

from fake_telegram import FakeTelegram, classify
from sluice.accounts import Account
from sluice.emulator import Limits
from sluice.gate import Gate, Priority
from sluice.gate._context import sending_as
from sluice.limits import TelegramLimits
from vclock import now, run

BOT = 1
SPEED = 10.0


def make_gate(*accounts: int) -> Gate:
    return Gate(
        [Account(a) for a in accounts or (BOT,)],
        limits=TelegramLimits(speed=SPEED),
        classifier=classify,
        clock=now,
    )


def test_a_reply_waits_at_most_one_chat_interval_behind_a_broadcast() -> None:
    tg = FakeTelegram(Limits(speed=SPEED))
    gate = make_gate()
    latencies: list[float] = []

    async def reply(n: int) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await gate.call(
            tg.sender(999_999, f"pong {n}"),
            account=BOT,
            chat_id=999_999,
            priority=Priority.INTERACTIVE,
        )
        latencies.append(loop.time() - start)

    async def scenario() -> None:
        broadcast = asyncio.gather(
            *(
                gate.call(tg.sender(chat, chat), account=BOT, chat_id=chat, priority=Priority.BULK)
                for chat in range(1, 3001)
            )
        )
        for n in range(40):
            await asyncio.sleep(0.2)
            await reply(n)
        await broadcast

    run(scenario())
    chat_interval = 1 / SPEED
    assert len(latencies) == 40
    assert max(latencies) <= chat_interval
    # The broadcast was still running while every reply was answered.
    last_bulk = max(a.at for a in tg.accepted if a.chat != 999_999)
    last_reply = max(a.at for a in tg.accepted if a.chat == 999_999)
    assert last_reply < last_bulk


def test_the_priority_context_applies_to_calls_made_inside_it() -> None:
    from sluice.gate._context import current_priority

    async def scenario() -> tuple[Priority, Priority]:
        with sending_as(Priority.INTERACTIVE):
            inside = current_priority.get()
        return inside, current_priority.get()

    assert run(scenario()) == (Priority.INTERACTIVE, Priority.DEFAULT)


def test_two_broadcasts_share_the_bot_fairly() -> None:
    tg = FakeTelegram(Limits(speed=SPEED))
    gate = make_gate()

    async def campaign(name: str, chats: range) -> None:
        await asyncio.gather(
            *(
                gate.call(
                    tg.sender(chat, name),
                    account=BOT,
                    chat_id=chat,
                    priority=Priority.BULK,
                    flow=name,
                )
                for chat in chats
            )
        )

    async def scenario() -> None:
        # The first campaign is queued first and is four times larger.
        await asyncio.gather(campaign("big", range(1, 2001)), campaign("small", range(5001, 5501)))

    run(scenario())
    order = [a.payload for a in tg.accepted]
    # While both run they alternate: the small one is done in about twice its own time.
    small_done = max(i for i, p in enumerate(order) if p == "small")
    assert small_done < 2 * 500 + 10
    first_thousand = order[:1000]
    assert abs(first_thousand.count("small") - first_thousand.count("big")) <= 10


def test_failover_picks_the_account_with_the_most_room() -> None:
    tg = FakeTelegram(Limits(speed=SPEED))
    gate = make_gate(1, 2, 3)

    async def scenario() -> None:
        # Account 1 is busy with its own broadcast; storage-channel uploads may use any.
        own = asyncio.gather(
            *(gate.call(tg.sender(c, c), account=1, chat_id=c) for c in range(1, 301))
        )
        await asyncio.sleep(0)
        shared = asyncio.gather(
            *(
                gate.call(tg.sender(-500 - n, n), account=[1, 2, 3], chat_id=-500 - n)
                for n in range(60)
            )
        )
        await asyncio.gather(own, shared)

    run(scenario())
    used = [a.bot for a in tg.accepted if a.chat <= -500]
    counts = {bot: used.count(bot) for bot in (1, 2, 3)}
    assert counts[1] < min(counts[2], counts[3])
    assert statistics.pstdev([counts[2], counts[3]]) <= 5
