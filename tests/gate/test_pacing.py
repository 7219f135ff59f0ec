"""The gate sends as fast as the limits allow and never faster: no 429 from an exact model.

The fake Telegram enforces the emulator's own flood model; the gate's limiter
is configured with the same figures. Whatever the workload and the network
jitter, Telegram must never refuse a call, every message must arrive in the
order it was made, and the whole must take little more than the limits' own
minimum. Each test runs on both limiters (see conftest.py).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_telegram import FakeTelegram, fixed
from gate_env import Env
from sluice.emulator import Limits
from sluice.gate import Gate, Priority

BOT = 1


async def broadcast(
    gate: Gate, tg: FakeTelegram, plan: list[tuple[int, int]], priority: Priority = Priority.BULK
) -> float:
    """Send ``count`` messages to each ``chat`` of the plan, all at once; the time it
    took on Telegram's clock (the model's seconds)."""
    start = tg.now()
    calls = [
        gate.call(tg.sender(chat, (chat, n)), account=BOT, chat_id=chat, priority=priority)
        for chat, count in plan
        for n in range(count)
    ]
    await asyncio.gather(*calls)
    return tg.now() - start


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


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=workloads, jitter=st.floats(0.0, 0.2), seed=st.integers(0, 2**16))
def test_no_429_and_order_kept_whatever_the_jitter(
    env: Env, plan: list[tuple[int, int]], jitter: float, seed: int
) -> None:
    if not env.virtual and seed % 8:
        return  # on real time, a sample of the examples: each costs real seconds
    env = env.at(10)
    rng = random.Random(seed)
    tg = env.telegram(
        Limits(speed=10),
        up=lambda: rng.uniform(0.0, jitter),
        down=lambda: rng.uniform(0.0, jitter),
    )
    gate = env.gate([BOT], speed=10)
    env.run(broadcast(gate, tg, plan))
    assert tg.r429 == 0
    assert_in_order(tg, plan)
    assert gate.pending() == 0


@pytest.mark.parametrize("rtt", [0.002, 0.004, 0.02])
def test_many_private_chats_go_at_the_bot_limit(env: Env, rtt: float) -> None:
    # One message to each of many chats: the bot window (300/s at speed 10) is the only limit.
    env = env.at(10)
    chats = env.size(3000)
    tg = env.telegram(Limits(speed=10), up=fixed(rtt / 2), down=fixed(rtt / 2))
    gate = env.gate([BOT], speed=10)
    took = env.run(broadcast(gate, tg, [(chat, 1) for chat in range(1, chats + 1)]))
    windows = (chats - 1) // 30
    ideal = windows * 0.1  # the last send's earliest moment
    # The price of never a 429 whatever the jitter: at most one round trip per window,
    # and the first window paced rather than fired at once.
    span = 0.1 * (1 + gate.limits.guard)
    bound = (windows + 1) * (span + rtt)
    assert tg.r429 == 0
    assert ideal <= took, f"{took:.3f}s, ideal {ideal:.2f}s"
    assert took <= env.bound(bound) + 1e-6, f"{took:.3f}s, bound {bound:.3f}s"
    if rtt <= 0.002 and env.virtual:  # loopback, as in the benchmark
        assert ideal / took >= 0.95


def test_one_chat_goes_at_its_own_limit(env: Env) -> None:
    env = env.at(1, rate=10)
    tg = env.telegram(Limits(speed=1))
    gate = env.gate([BOT])
    took = env.run(broadcast(gate, tg, [(42, 23)]))
    ideal = 23 - 3  # a burst of 3, then one a second
    assert tg.r429 == 0
    assert ideal <= took <= env.bound(ideal * 1.05)


def test_a_group_goes_at_twenty_a_minute(env: Env) -> None:
    env = env.at(1, rate=1)
    tg = env.telegram(Limits(speed=1))
    gate = env.gate([BOT])
    took = env.run(broadcast(gate, tg, [(-100, 60)]))
    ideal = 120.0  # 20 at once, 20 more a minute later, the last 20 at two minutes
    assert tg.r429 == 0
    assert ideal <= took <= env.bound(ideal * 1.05)


def test_many_chats_with_a_backlog_each_go_at_the_bot_limit(env: Env) -> None:
    # Forty chats with fifty messages each: together they could go faster than the
    # bot's 300/s (each chat 10/s at speed 10), so the bot window is the limit. A lane
    # that entered the ready queue with its first message must be ranked on all fifty
    # once they arrive, or it waits until every other chat is done and then goes
    # alone at its own chat's pace.
    env = env.at(10)
    rtt = 0.002
    tg = env.telegram(Limits(speed=10), up=fixed(rtt / 2), down=fixed(rtt / 2))
    gate = env.gate([BOT], speed=10)
    plan = [(chat, env.size(50)) for chat in range(1, 41)]
    took = env.run(broadcast(gate, tg, plan))
    sends = sum(count for _, count in plan)
    windows = (sends - 1) // 30
    span = 0.1 * (1 + gate.limits.guard)
    bound = (windows + 1) * (span + rtt)
    assert tg.r429 == 0
    assert_in_order(tg, plan)
    assert windows * 0.1 <= took <= env.bound(bound) + 1e-6, f"{took:.3f}s, bound {bound:.3f}s"
