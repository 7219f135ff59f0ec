"""Priorities and fairness: replies go before broadcasts, broadcasts share the bot,
and failover picks the account with the most room. On both limiters."""

from __future__ import annotations

import asyncio
import statistics

from fake_telegram import classify
from gate_env import Env
from sluice.emulator import Limits
from sluice.gate import Priority, current_priority, sending_as

BOT = 1
SPEED = 10.0


def test_a_reply_waits_at_most_one_chat_interval_behind_a_broadcast(env: Env) -> None:
    env = env.at(SPEED)
    tg = env.telegram(Limits(speed=SPEED))
    gate = env.gate([BOT], speed=SPEED, classifier=classify)
    latencies: list[float] = []
    replies = env.size(40, shrink=5)

    async def reply(n: int) -> None:
        start = tg.now()
        await gate.call(
            tg.sender(999_999, f"pong {n}"),
            account=BOT,
            chat_id=999_999,
            priority=Priority.INTERACTIVE,
        )
        latencies.append(tg.now() - start)

    async def scenario() -> None:
        broadcast = asyncio.gather(
            *(
                gate.call(tg.sender(chat, chat), account=BOT, chat_id=chat, priority=Priority.BULK)
                for chat in range(1, env.size(3000, shrink=3) + 1)
            )
        )
        for n in range(replies):
            await asyncio.sleep(env.seconds(0.2))
            await reply(n)
        await broadcast

    env.run(scenario())
    chat_interval = 1 / SPEED
    assert len(latencies) == replies
    assert max(latencies) <= env.bound(chat_interval)
    # The broadcast was still running while every reply was answered.
    last_bulk = max(a.at for a in tg.accepted if a.chat != 999_999)
    last_reply = max(a.at for a in tg.accepted if a.chat == 999_999)
    assert last_reply < last_bulk


def test_the_priority_context_applies_to_calls_made_inside_it(env: Env) -> None:
    async def scenario() -> tuple[Priority, Priority]:
        with sending_as(Priority.INTERACTIVE, flow="replies"):
            inside = current_priority()
        return inside, current_priority()

    assert env.run(scenario()) == (Priority.INTERACTIVE, Priority.DEFAULT)


def test_two_broadcasts_share_the_bot_fairly(env: Env) -> None:
    env = env.at(SPEED)
    tg = env.telegram(Limits(speed=SPEED))
    gate = env.gate([BOT], speed=SPEED, classifier=classify)
    small = env.size(500)

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
        await asyncio.gather(
            campaign("big", range(1, 4 * small + 1)),
            campaign("small", range(5001, 5001 + small)),
        )

    env.run(scenario())
    order = [a.payload for a in tg.accepted]
    # While both run they alternate: the small one is done in about twice its own time.
    slack = 10 if env.virtual else 20  # a shared limiter is asked a batch at a time
    small_done = max(i for i, p in enumerate(order) if p == "small")
    assert small_done < 2 * small + slack
    first_half = order[: 2 * small]
    assert abs(first_half.count("small") - first_half.count("big")) <= slack


def test_failover_picks_the_account_with_the_most_room(env: Env) -> None:
    env = env.at(SPEED)
    tg = env.telegram(Limits(speed=SPEED))
    gate = env.gate([1, 2, 3], speed=SPEED, classifier=classify)

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

    env.run(scenario())
    used = [a.bot for a in tg.accepted if a.chat <= -500]
    counts = {bot: used.count(bot) for bot in (1, 2, 3)}
    assert counts[1] < min(counts[2], counts[3])
    assert statistics.pstdev([counts[2], counts[3]]) <= 5
