"""The gate sends as fast as the limits allow and never faster: no 429 from an exact model.

The fake Telegram enforces the emulator's own flood model on virtual time;
the gate is configured with the same figures. Whatever the workload and the
network jitter, Telegram must never refuse a call, every message must arrive
in the order it was made, and the whole must take little more than the
limits' own minimum.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_telegram import FakeTelegram, fixed
from sluice.accounts import Account
from sluice.emulator import Limits
from sluice.gate import Gate, Priority
from sluice.limits import TelegramLimits
from vclock import now, run

BOT = 1


def gate_for(speed: float = 1.0) -> Gate:
    return Gate([Account(BOT)], limits=TelegramLimits(speed=speed), clock=now)


async def broadcast(
    gate: Gate, tg: FakeTelegram, plan: list[tuple[int, int]], priority: Priority = Priority.BULK
) -> float:
    """Send ``count`` messages to each ``chat`` of the plan, all at once; the time it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    calls = [
        gate.call(tg.sender(chat, (chat, n)), account=BOT, chat_id=chat, priority=priority)
        for chat, count in plan
        for n in range(count)
    ]
    await asyncio.gather(*calls)
    return loop.time() - start


def assert_in_order(tg: FakeTelegram, plan: list[tuple[int, int]]) -> None:
    for chat, count in plan:
        assert tg.by_chat[chat] == [(chat, n) for n in range(count)]


workloads = st.lists(
    st.tuples(
        st.one_of(st.integers(1, 10_000), st.integers(-10_000, -1)),  # private or group
        st.integers(1, 12),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda item: item[0],
)


@settings(deadline=None, max_examples=60)
@given(
    plan=workloads,
    speed=st.sampled_from([1.0, 10.0]),
    jitter=st.floats(0.0, 0.2),
    seed=st.integers(0, 2**16),
)
def test_no_429_and_order_kept_whatever_the_jitter(
    plan: list[tuple[int, int]], speed: float, jitter: float, seed: int
) -> None:
    rng = random.Random(seed)
    tg = FakeTelegram(
        Limits(speed=speed),
        up=lambda: rng.uniform(0.0, jitter),
        down=lambda: rng.uniform(0.0, jitter),
    )
    gate = gate_for(speed)
    run(broadcast(gate, tg, plan))
    assert tg.r429 == 0
    assert_in_order(tg, plan)
    assert gate.pending() == 0


@pytest.mark.parametrize("rtt", [0.002, 0.004, 0.02])
def test_many_private_chats_go_at_the_bot_limit(rtt: float) -> None:
    # 3,000 chats, one message each: the bot window (300/s at speed 10) is the only limit.
    tg = FakeTelegram(Limits(speed=10), up=fixed(rtt / 2), down=fixed(rtt / 2))
    limits = TelegramLimits(speed=10)
    gate = Gate([Account(BOT)], limits=limits, clock=now)
    took = run(broadcast(gate, tg, [(chat, 1) for chat in range(1, 3001)]))
    windows = (3000 - 1) // 30
    ideal = windows * 0.1  # the last send's earliest moment
    # The price of never a 429 whatever the jitter: at most one round trip per window,
    # and the first window paced rather than fired at once.
    span = 0.1 * (1 + limits.guard)
    bound = (windows + 1) * (span + rtt)
    assert tg.r429 == 0
    assert ideal <= took <= bound + 1e-6, f"{took:.3f}s, ideal {ideal:.2f}s, bound {bound:.3f}s"
    if rtt <= 0.002:  # loopback, as in the benchmark
        assert ideal / took >= 0.95


def test_one_chat_goes_at_its_own_limit() -> None:
    tg = FakeTelegram(Limits(speed=1))
    gate = gate_for(1)
    took = run(broadcast(gate, tg, [(42, 23)]))
    ideal = 23 - 3  # a burst of 3, then one a second
    assert tg.r429 == 0
    assert ideal <= took <= ideal * 1.05


def test_a_group_goes_at_twenty_a_minute() -> None:
    tg = FakeTelegram(Limits(speed=1))
    gate = gate_for(1)
    took = run(broadcast(gate, tg, [(-100, 60)]))
    ideal = 120.0  # 20 at once, 20 more a minute later, the last 20 at two minutes
    assert tg.r429 == 0
    assert ideal <= took <= ideal * 1.05
