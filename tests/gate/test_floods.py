"""429s: the flood ledger blocks the scope, the call returns to the head of its lane,
nothing enters a blocked scope early, floods on many chats escalate to the account,
and rates adapt when Telegram is stricter than the model."""

from __future__ import annotations

import asyncio
import random

from fake_telegram import FakeTelegram, RetryAfter, classify, fixed
from sluice.accounts import Account
from sluice.emulator import Limits, Rate
from sluice.gate import Gate, Priority
from sluice.limits import TelegramLimits
from vclock import now, run

BOT = 1


def make_gate(speed: float = 1.0, **limits: float) -> Gate:
    return Gate(
        [Account(BOT)],
        limits=TelegramLimits(speed=speed, **limits),  # type: ignore[arg-type]
        classifier=classify,
        clock=now,
        seed=1,
    )


async def send_all(gate: Gate, tg: FakeTelegram, plan: list[tuple[int, int]]) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.gather(
        *(
            gate.call(tg.sender(chat, (chat, n)), account=BOT, chat_id=chat, priority=Priority.BULK)
            for chat, count in plan
            for n in range(count)
        )
    )
    return loop.time() - start


def test_a_429_blocks_its_chat_until_retry_after_and_the_call_keeps_its_place() -> None:
    tg = FakeTelegram()
    gate = make_gate()
    answers = iter([RetryAfter(5)])

    async def flaky(account: Account) -> object:
        exc = next(answers, None)
        if exc is not None:
            await asyncio.sleep(0.002)
            raise exc
        return await tg.send(account.id, 7, "first")

    async def scenario() -> None:
        first = asyncio.ensure_future(gate.call(flaky, account=BOT, chat_id=7))
        second = asyncio.ensure_future(gate.call(tg.sender(7, "second"), account=BOT, chat_id=7))
        other = asyncio.ensure_future(gate.call(tg.sender(8, "other"), account=BOT, chat_id=8))
        await asyncio.gather(first, second, other)

    run(scenario())
    assert tg.by_chat[7] == ["first", "second"]
    arrivals = {a.payload: a.at for a in tg.accepted}
    assert arrivals["first"] >= 5.0  # not a moment before retry_after
    assert arrivals["other"] < 0.1  # another chat is not held up
    assert gate.account(BOT).health.floods == 1


def test_spurious_429s_cost_order_nothing_and_are_not_retried_early() -> None:
    tg = FakeTelegram(Limits(speed=10), p429=0.05, seed=3)
    gate = make_gate(10)
    plan = [(chat, 5) for chat in range(1, 201)] + [(-chat, 5) for chat in range(1, 11)]
    run(send_all(gate, tg, plan))
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
            assert not at < accepted.at < at + 1.0 - 1e-9


def test_floods_on_several_chats_in_a_row_block_the_whole_account() -> None:
    # Telegram's bot-wide limit is half what the gate assumes: every chat floods at once.
    tg = FakeTelegram(Limits(speed=10, bot=Rate(15, 1.0)))
    gate = make_gate(10)
    took = run(send_all(gate, tg, [(chat, 1) for chat in range(1, 601)]))
    assert len(tg.by_chat) == 600
    # Escalation stops the storm after a handful of refusals, and the cut rate holds.
    assert tg.r429 <= 2 * gate.limits.escalate_after
    assert gate.account(BOT).health.floods == tg.r429
    real_minimum = (600 - 1) // 15 * 0.1
    assert took <= (real_minimum + 1.0) / 0.95  # plus the one second Telegram closed the bot


def test_a_stray_429_costs_one_chat_a_pause_not_the_bot() -> None:
    tg = FakeTelegram(Limits(speed=10))
    gate = make_gate(10)
    hit: set[int] = set()

    async def once_refused(chat: int) -> object:
        async def factory(account: Account) -> object:
            if chat not in hit and chat % 50 == 0:
                hit.add(chat)
                raise RetryAfter(3)
            return await tg.send(account.id, chat, chat)

        return await gate.call(factory, account=BOT, chat_id=chat)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(once_refused(chat) for chat in range(1, 301)))
        return max(a.at for a in tg.accepted if a.chat % 50) - loop.time() + loop.time()

    last_unrefused = run(scenario())
    assert len(tg.accepted) == 300
    assert last_unrefused < 1.2  # ~1 s of work at 300/s: no account-wide pause


def test_rates_adapt_when_telegram_is_stricter_than_assumed() -> None:
    # Telegram allows 2/3 of what the gate assumes. Little more than the first flood is paid.
    strict = Limits(speed=10, bot=Rate(20, 1.0))
    tg = FakeTelegram(strict)
    gate = make_gate(10)
    took = run(send_all(gate, tg, [(chat, 1) for chat in range(1, 3001)]))
    assert len(tg.accepted) == 3000
    assert tg.r429 <= 30  # 1 % of the calls
    real_minimum = (3000 - 1) // 20 * 0.1
    assert real_minimum / took >= 0.85


def test_jittery_network_and_spurious_floods_lose_nothing() -> None:
    rng = random.Random(9)
    tg = FakeTelegram(
        Limits(speed=10),
        up=lambda: rng.uniform(0.01, 0.03),
        down=lambda: rng.uniform(0.01, 0.03),
        p429=0.05,
        p5xx=0.02,
        seed=4,
    )
    gate = make_gate(10)
    plan = [(chat, 4) for chat in range(1, 301)]
    run(send_all(gate, tg, plan))
    for chat, count in plan:
        assert tg.by_chat[chat] == [(chat, n) for n in range(count)]
    assert gate.pending() == 0


def test_account_wide_floods_block_every_chat() -> None:
    gate = make_gate()
    tg = FakeTelegram(up=fixed(0.0), down=fixed(0.0))
    refused = False

    async def mtproto_flood(account: Account) -> object:
        nonlocal refused
        if not refused:
            refused = True
            from sluice.gate import Flood  # noqa: F401  (the verdict the classifier gives)

            raise _AccountFlood(10)
        return await tg.send(account.id, 5, "after")

    def classify_mtproto(exc: BaseException) -> object:
        from sluice.gate import Flood

        if isinstance(exc, _AccountFlood):
            return Flood(exc.seconds, account_wide=True)
        return classify(exc)

    async def scenario() -> None:
        first = asyncio.ensure_future(
            gate.call(mtproto_flood, account=BOT, chat_id=5, classifier=classify_mtproto)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.5)
        await gate.call(tg.sender(6, "elsewhere"), account=BOT, chat_id=6)
        await first

    run(scenario())
    arrivals = {a.payload: a.at for a in tg.accepted}
    assert arrivals["elsewhere"] >= 10.0
    assert arrivals["after"] >= 10.0


class _AccountFlood(Exception):
    def __init__(self, seconds: int) -> None:
        super().__init__(f"FLOOD_WAIT_{seconds}")
        self.seconds = seconds
