"""The emulator's flood model, driven by a fake clock.

Two families of properties: nothing gets through faster than the documented
limits allow, and a client that paces itself exactly within them (checked
with exact rational arithmetic, not the model's floats) never sees a 429.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice._exceptions import ConfigError
from sluice.emulator import Limits, Rate
from sluice.emulator._limits import FloodModel

EPS = 1e-6
BOT = 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def model(limits: Limits | None = None) -> tuple[FloodModel, Clock]:
    clock = Clock()
    return FloodModel(limits or Limits(), clock), clock


gaps = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=2.0)), min_size=1, max_size=120
)
speeds = st.sampled_from([1.0, 2.0, 10.0])


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_bot_window_never_exceeded(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed, bot=Rate(5, 1.0)))
    admitted: list[float] = []
    for chat, gap in enumerate(gaps):
        clock.now += gap / 20
        if flood.admit(BOT, 10_000 + chat, private=True).retry_after is None:
            admitted.append(clock.now)
    window = 1.0 / speed
    for first, later in zip(admitted, admitted[5:], strict=False):
        assert later - first >= window - EPS


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_private_chat_never_beats_its_bucket(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed))
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        if flood.admit(BOT, 42, private=True).retry_after is None:
            admitted.append(clock.now)
    rate = 1.0 * speed
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            sent = j - i + 1
            assert sent <= 3 + rate * (admitted[j] - start) + EPS


@settings(deadline=None, max_examples=150)
@given(gaps=gaps, speed=speeds)
def test_group_window_never_exceeded(gaps: list[float], speed: float) -> None:
    flood, clock = model(Limits(speed=speed))
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap * 5
        if flood.admit(BOT, -100, private=False).retry_after is None:
            admitted.append(clock.now)
    for first, later in zip(admitted, admitted[20:], strict=False):
        assert later - first >= 60.0 / speed - EPS


@settings(deadline=None, max_examples=150)
@given(
    wishes=st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=150),
    speed=st.sampled_from([Fraction(1), Fraction(10)]),
)
def test_client_pacing_within_the_private_bucket_never_sees_429(
    wishes: list[int], speed: Fraction
) -> None:
    # The client keeps its own exact bucket (burst 3, 1/s) and waits until it allows a send.
    flood, clock = model(Limits(speed=float(speed)))
    rate = speed
    tokens, stamp, now = Fraction(3), Fraction(0), Fraction(0)
    for wish in wishes:
        now += Fraction(wish, 1000)
        tokens = min(Fraction(3), tokens + (now - stamp) * rate)
        stamp = now
        if tokens < 1:
            now += (1 - tokens) / rate  # wait exactly as long as needed, not a moment more
            tokens, stamp = Fraction(1), now
        clock.now = float(now)
        assert flood.admit(BOT, 7, private=True).retry_after is None
        tokens -= 1


@settings(deadline=None, max_examples=150)
@given(
    wishes=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=200),
    speed=st.sampled_from([Fraction(1), Fraction(10)]),
)
def test_client_pacing_within_the_bot_window_never_sees_429(
    wishes: list[int], speed: Fraction
) -> None:
    flood, clock = model(Limits(speed=float(speed)))
    window = Fraction(1) / speed
    sent: list[Fraction] = []
    now = Fraction(0)
    for chat, wish in enumerate(wishes):
        now += Fraction(wish, 1000)
        if len(sent) >= 30 and now < sent[-30] + window:
            now = sent[-30] + window  # the 30th-last send leaves the window exactly now
        clock.now = float(now)
        assert flood.admit(BOT, 50_000 + chat, private=True).retry_after is None
        sent.append(now)


@settings(deadline=None, max_examples=100)
@given(wishes=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=60))
def test_client_pacing_within_the_group_window_never_sees_429(wishes: list[int]) -> None:
    flood, clock = model()
    sent: list[Fraction] = []
    now = Fraction(0)
    for wish in wishes:
        now += Fraction(wish, 1000)
        if len(sent) >= 20 and now < sent[-20] + 60:
            now = sent[-20] + 60
        clock.now = float(now)
        assert flood.admit(BOT, -200, private=False).retry_after is None
        sent.append(now)


def test_exact_published_pace_is_admitted() -> None:
    flood, clock = model()
    for k in range(300):  # 30 per second for ten seconds, to distinct chats
        clock.now = k / 30
        assert flood.admit(BOT, 1000 + k, private=True).retry_after is None


def test_retry_after_is_whole_seconds_and_enforced() -> None:
    flood, clock = model(Limits(speed=10))
    for _ in range(3):
        assert flood.admit(BOT, 5, private=True).retry_after is None
    refused = flood.admit(BOT, 5, private=True)
    # The bucket refills in 0.1 s at speed 10, but Telegram answers whole seconds.
    assert refused.retry_after == 1
    assert refused.scope == "chat"
    clock.now = 0.5  # the bucket has a token again, but the 429 closed the chat for 1 s
    again = flood.admit(BOT, 5, private=True)
    assert again.retry_after == 1
    assert flood.admit(BOT, 6, private=True).retry_after is None  # other chats are open
    clock.now = 1.0
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_retry_after_counts_the_real_wait() -> None:
    flood, clock = model()
    for _ in range(20):
        assert flood.admit(BOT, -9, private=False).retry_after is None
        clock.now += 0.5
    verdict = flood.admit(BOT, -9, private=False)
    assert verdict.retry_after == 50  # the first send leaves the window at t=60, now t=10
    clock.now = 60.0
    assert flood.admit(BOT, -9, private=False).retry_after is None


def test_without_enforcement_a_scope_reopens_as_soon_as_the_limit_allows() -> None:
    flood, clock = model(Limits(speed=10, enforce_retry_after=False))
    for _ in range(3):
        flood.admit(BOT, 5, private=True)
    assert flood.admit(BOT, 5, private=True).retry_after == 1
    clock.now = 0.1
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_bot_limit_closes_the_whole_bot() -> None:
    flood, clock = model()
    for chat in range(30):
        assert flood.admit(BOT, chat + 1, private=True).retry_after is None
    verdict = flood.admit(BOT, 999, private=True)
    assert (verdict.retry_after, verdict.scope) == (1, "bot")
    assert flood.admit(2, 999, private=True).retry_after is None  # another bot is unaffected
    clock.now = 1.0
    assert flood.admit(BOT, 999, private=True).retry_after is None


def test_paid_broadcast_uses_its_own_limit() -> None:
    flood, _ = model()
    for chat in range(1000):
        assert flood.admit(BOT, chat + 1, private=True, paid=True).retry_after is None
    assert flood.admit(BOT, 5000, private=True, paid=True).retry_after == 1
    assert flood.admit(BOT, 5001, private=True).retry_after is None  # free limit is separate


def test_chat_limits_are_per_bot() -> None:
    flood, _ = model()
    for _ in range(3):
        assert flood.admit(BOT, 5, private=True).retry_after is None
    assert flood.admit(BOT, 5, private=True).retry_after is not None
    assert flood.admit(2, 5, private=True).retry_after is None


def test_penalty_closes_a_scope_for_its_retry_after() -> None:
    flood, clock = model()
    flood.penalize(BOT, 5, 3)
    assert flood.admit(BOT, 5, private=True).retry_after == 3
    clock.now = 2.5
    assert flood.admit(BOT, 5, private=True).retry_after == 1
    clock.now = 3.0
    assert flood.admit(BOT, 5, private=True).retry_after is None


def test_memory_stays_bounded_over_a_long_run() -> None:
    flood, clock = model(Limits(speed=10))
    for k in range(200_000):  # 200k distinct chats, paced at the bot limit
        clock.now = k / 300
        assert flood.admit(BOT, 10**6 + k, private=True).retry_after is None
    # Only chats active within the last refill period (and the bot) remain tracked.
    assert flood.tracked_scopes < 4096 + 100


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30/1", Rate(30, 1.0)), ("20/60", Rate(20, 60.0)), ("5", Rate(5, 1.0))],
)
def test_rate_parses(text: str, expected: Rate) -> None:
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["", "x/1", "0/1", "1/0", "1/-5", "3/inf"])
def test_bad_rates_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        Rate.parse(text)


def test_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="speed"):
        Limits(speed=0)
    with pytest.raises(ConfigError, match="private_burst"):
        Limits(private_burst=0)
