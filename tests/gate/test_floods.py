"""429s: the flood ledger blocks the scope, the call returns to the head of its lane,
nothing enters a blocked scope early, floods that no chat explains escalate to the
account, and limits are learned when Telegram is stricter than the model. On both
limiters."""

from __future__ import annotations

import asyncio
import random

import pytest

from fake_telegram import FakeTelegram, RetryAfter, classify, fixed
from gate_env import Env
from sluice.accounts import Account
from sluice.emulator import Limits, Rate
from sluice.gate import Flood, Gate, Priority, Verdict

BOT = 1


def make_gate(env: Env, speed: float = 1.0) -> Gate:
    return env.gate([BOT], speed=speed, classifier=classify, seed=1)


async def send_all(gate: Gate, tg: FakeTelegram, plan: list[tuple[int, int]]) -> float:
    """Everything of the plan at once; the time it took, on Telegram's clock."""
    start = tg.now()
    await asyncio.gather(
        *(
            gate.call(tg.sender(chat, (chat, n)), account=BOT, chat_id=chat, priority=Priority.BULK)
            for chat, count in plan
            for n in range(count)
        )
    )
    return tg.now() - start


def test_a_429_blocks_its_chat_until_retry_after_and_the_call_keeps_its_place(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram()
    gate = make_gate(env)
    answers = iter([RetryAfter(env.seconds(5))])

    async def flaky(account: Account) -> object:
        exc = next(answers, None)
        if exc is not None:
            await asyncio.sleep(env.seconds(0.002))
            raise exc
        return await tg.send(account.id, 7, "first")

    async def scenario() -> float:
        start = tg.now()
        first = asyncio.ensure_future(gate.call(flaky, account=BOT, chat_id=7))
        second = asyncio.ensure_future(gate.call(tg.sender(7, "second"), account=BOT, chat_id=7))
        other = asyncio.ensure_future(gate.call(tg.sender(8, "other"), account=BOT, chat_id=8))
        await asyncio.gather(first, second, other)
        return start

    start = env.run(scenario())
    assert tg.by_chat[7] == ["first", "second"]
    arrivals = {a.payload: a.at - start for a in tg.accepted}
    assert arrivals["first"] >= 5.0  # not a moment before retry_after
    assert arrivals["other"] < env.bound(0.1)  # another chat is not held up
    assert gate.account(BOT).health.floods == 1


def test_spurious_429s_cost_order_nothing_and_are_not_retried_early(env: Env) -> None:
    env = env.at(10)
    tg = env.telegram(Limits(speed=10), p429=0.05, seed=3)
    gate = make_gate(env, 10)
    chats = env.size(200, shrink=4)
    plan = [(chat, 5) for chat in range(1, chats + 1)] + [(-chat, 5) for chat in range(1, 11)]
    env.run(send_all(gate, tg, plan))
    for chat, count in plan:
        assert tg.by_chat[chat] == [(chat, n) for n in range(count)]
    assert tg.r429_injected > 0
    assert tg.r429 == tg.r429_injected  # the model itself never earned a 429
    # Nothing was sent into a chat while its retry_after ran.
    refused: dict[int, list[float]] = {}
    for _bot, chat, at in tg.refused_at:
        refused.setdefault(chat, []).append(at)
    for accepted in tg.accepted:
        for at in refused.get(accepted.chat, []):
            assert not at < accepted.at < at + 1.0 - 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_spurious_429s_at_random_never_close_the_account(seed: int) -> None:
    # One send in twenty refused at random, on chats that sent nothing lately: no
    # chat explains them, yet they are not a bot-wide limit (nearly every other send
    # goes through). Closing the account for them would cut the bot's rate for
    # minutes. On virtual time (the memory limiter): the same runs every time.
    env = Env("memory").at(10)
    rng = random.Random(seed)

    def jitter() -> float:
        return rng.uniform(0.005, 0.015)

    tg = env.telegram(Limits(speed=10), up=jitter, down=jitter, p429=0.05, p5xx=0.02, seed=seed)
    gate = make_gate(env, 10)
    env.run(send_all(gate, tg, [(chat, 4) for chat in range(1, 501)]))
    assert tg.r429_injected >= 80  # enough floods that a trigger-happy rule would fire
    assert len(tg.accepted) == 2000
    assert gate.account(BOT).health.account_blocks == 0


def test_a_bot_limit_stricter_than_assumed_closes_the_account_and_is_learned(env: Env) -> None:
    # Telegram's bot-wide limit is half what the gate assumes: fresh chats are refused,
    # which no chat explains: the account closes, and its rate is cut to what went through.
    env = env.at(10)
    tg = env.telegram(Limits(speed=10, bot=Rate(15, 1.0)))
    gate = make_gate(env, 10)
    chats = env.size(600, shrink=3)
    took = env.run(send_all(gate, tg, [(chat, 1) for chat in range(1, chats + 1)]))
    assert len(tg.by_chat) == chats
    # Escalation stops the storm after a handful of refusals, and the cut rate holds.
    assert tg.r429 <= 3 * gate.limits.escalate_after
    assert gate.account(BOT).health.floods == tg.r429
    assert gate.account(BOT).health.account_blocks >= 1
    real_minimum = (chats - 1) // 15 * 0.1
    assert took <= env.bound((real_minimum + 1.0) / 0.9)  # plus a second Telegram closed it


def test_a_stray_429_costs_one_chat_a_pause_not_the_bot(env: Env) -> None:
    env = env.at(10)
    tg = env.telegram(Limits(speed=10))
    gate = make_gate(env, 10)
    hit: set[int] = set()
    chats = env.size(300, shrink=3)

    async def once_refused(chat: int) -> object:
        async def factory(account: Account) -> object:
            if chat not in hit and chat % 50 == 0:
                hit.add(chat)
                raise RetryAfter(env.seconds(3))
            return await tg.send(account.id, chat, chat)

        return await gate.call(factory, account=BOT, chat_id=chat)

    async def scenario() -> float:
        start = tg.now()
        await asyncio.gather(*(once_refused(chat) for chat in range(1, chats + 1)))
        return max(a.at for a in tg.accepted if a.chat % 50) - start

    last_unrefused = env.run(scenario())
    assert len(tg.accepted) == chats
    assert last_unrefused < env.bound(chats / 300 + 0.2)  # no account-wide pause
    assert gate.account(BOT).health.account_blocks == 0


def test_a_stricter_telegram_costs_few_429s_and_little_time(env: Env) -> None:
    # Telegram allows 2/3 of the bot rate, a burst of 1 in private chats and 10 a
    # minute in groups. A broadcast, chats with ten messages each, and two groups:
    # what each kind of scope refuses is learned, and the 429s stay few.
    env = env.at(10)
    strict = Limits(speed=10, bot=Rate(20, 1.0), private_burst=1, group=Rate(10, 60.0))
    tg = env.telegram(strict)
    gate = make_gate(env, 10)
    broadcast = env.size(300, shrink=2)
    plan = (
        [(chat, 1) for chat in range(1, broadcast + 1)]
        + [(10_000 + chat, 10) for chat in range(20)]
        + [(-chat, 15) for chat in range(1, 3)]
    )
    env.run(send_all(gate, tg, plan))
    for chat, count in plan:
        assert tg.by_chat[chat] == [(chat, n) for n in range(count)]
    sends = sum(count for _, count in plan)
    assert tg.r429 <= 0.04 * sends, f"{tg.r429} 429s of {sends} sends"


def test_jittery_network_and_spurious_floods_lose_nothing(env: Env) -> None:
    env = env.at(10)
    rng = random.Random(9)
    tg = env.telegram(
        Limits(speed=10),
        up=lambda: rng.uniform(0.01, 0.03),
        down=lambda: rng.uniform(0.01, 0.03),
        p429=0.05,
        p5xx=0.02,
        seed=4,
    )
    gate = make_gate(env, 10)
    plan = [(chat, 4) for chat in range(1, env.size(300, shrink=3) + 1)]
    env.run(send_all(gate, tg, plan))
    for chat, count in plan:
        assert tg.by_chat[chat] == [(chat, n) for n in range(count)]
    assert gate.pending() == 0


class _AccountFlood(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"FLOOD_WAIT_{seconds:g}")
        self.seconds = seconds


def test_account_wide_floods_block_every_chat(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env)
    tg = env.telegram(up=fixed(0.0), down=fixed(0.0))
    refused = False

    async def mtproto_flood(account: Account) -> object:
        nonlocal refused
        if not refused:
            refused = True
            raise _AccountFlood(env.seconds(10))
        return await tg.send(account.id, 5, "after")

    def classify_mtproto(exc: BaseException) -> Verdict:
        if isinstance(exc, _AccountFlood):
            return Flood(exc.seconds, account_wide=True)
        return classify(exc)

    async def scenario() -> float:
        start = tg.now()
        first = asyncio.ensure_future(
            gate.call(mtproto_flood, account=BOT, chat_id=5, classifier=classify_mtproto)
        )
        await asyncio.sleep(env.seconds(0.5))
        await gate.call(tg.sender(6, "elsewhere"), account=BOT, chat_id=6)
        await first
        return start

    start = env.run(scenario())
    arrivals = {a.payload: a.at - start for a in tg.accepted}
    assert arrivals["elsewhere"] >= 10.0 - 1e-6
    assert arrivals["after"] >= 10.0 - 1e-6
