"""The limit primitives the gate schedules with: windows, buckets, ledger, adaptive rates."""

from __future__ import annotations

import math

import pytest

from sluice._exceptions import ConfigError
from sluice.limits import AdaptiveRate, FloodLedger, SlidingWindow, TelegramLimits, TokenBucket


def test_a_window_holds_a_slot_in_flight_and_counts_the_send_at_its_answer() -> None:
    window = SlidingWindow(2, 1.0)
    assert window.ready_at(0.0) == 0.0
    window.reserve(0.0)
    window.reserve(0.0)
    assert math.isinf(window.ready_at(0.0))  # only an answer can free a slot
    window.confirm(0.3)
    assert window.ready_at(0.3) == pytest.approx(1.3)  # a full window after the answer
    window.confirm(0.5, counted=False)  # refused, Telegram did not count it
    assert window.ready_at(0.5) == 0.5


def test_a_window_paces_after_its_burst() -> None:
    window = SlidingWindow(10, 1.0, burst=2)
    starts = []
    now = 0.0
    for _ in range(5):
        now = window.ready_at(now)
        starts.append(now)
        window.reserve(now)
        window.confirm(now)
    assert starts == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])


def test_a_window_factor_scales_what_it_allows() -> None:
    window = SlidingWindow(30, 1.0)
    window.factor = 20 / 30
    assert window.allowed == 20  # not 19 from float rounding
    window.factor = 0.001
    assert window.allowed == 1


def test_a_bucket_credits_no_refill_while_a_send_is_in_flight() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, now=0.0)
    bucket.reserve(0.0)
    assert math.isinf(bucket.ready_at(5.0))
    bucket.confirm(5.0)  # answered late: Telegram may have counted it at 5.0
    assert bucket.ready_at(5.0) == pytest.approx(6.0)


def test_a_refused_send_gives_its_token_back_but_a_flood_drains_the_bucket() -> None:
    bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
    bucket.reserve(0.0)
    bucket.confirm(0.0, counted=False)
    assert bucket.idle(0.0)
    bucket.drain()
    assert bucket.ready_at(0.0) == pytest.approx(1.0)


def test_the_ledger_blocks_chats_and_escalates_a_streak_across_chats() -> None:
    ledger = FloodLedger(escalate_after=3, escalate_window=2.0)
    assert not ledger.record_flood("bot", 1, until=5.0, now=0.0)
    assert ledger.chat_until("bot", 1, 0.0) == 5.0
    assert ledger.account_until("bot", 0.0) == 0.0
    assert not ledger.record_flood("bot", 1, until=6.0, now=0.1)
    assert ledger.record_flood("bot", 2, until=4.0, now=0.2)  # third in a row, second chat
    assert ledger.account_until("bot", 0.3) == 6.0
    assert ledger.open_at("bot", 3, 0.3) == 6.0


def test_a_success_between_floods_breaks_the_streak() -> None:
    ledger = FloodLedger(escalate_after=3, escalate_window=2.0)
    ledger.record_flood("bot", 1, until=5.0, now=0.0)
    ledger.record_flood("bot", 2, until=5.0, now=0.1)
    ledger.record_success("bot")
    assert not ledger.record_flood("bot", 3, until=5.0, now=0.2)
    assert ledger.account_until("bot", 0.3) == 0.3


def test_floods_of_one_chat_never_block_the_account() -> None:
    ledger = FloodLedger(escalate_after=2, escalate_window=2.0)
    for n in range(5):
        assert not ledger.record_flood("bot", 1, until=5.0, now=n * 0.1)
    assert ledger.account_until("bot", 1.0) == 1.0


def test_an_adaptive_rate_cuts_to_what_telegram_accepted_and_recovers_slowly() -> None:
    rate = AdaptiveRate(hold=10.0, step=0.1)
    assert rate.on_flood(0.0, observed=2 / 3) == pytest.approx(2 / 3)
    assert not rate.on_success(5.0)  # still holding
    assert rate.on_success(10.0)
    assert rate.factor == pytest.approx(2 / 3 + 0.1)
    # The probe flooded: back down, and the next probe waits twice as long.
    rate.on_flood(10.5, observed=2 / 3)
    assert not rate.on_success(29.0)
    assert rate.on_success(30.6)


def test_an_adaptive_rate_without_a_count_cuts_by_its_decrease() -> None:
    rate = AdaptiveRate(decrease=0.5, floor=0.2)
    assert rate.on_flood(0.0) == 0.5
    assert rate.on_flood(1.0) == 0.25
    assert rate.on_flood(2.0) == 0.2  # never below the floor


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("speed", 0.0, "speed must be a positive number"),
        ("bot_count", 0, "bot_count must be a whole number of at least 1"),
        ("guard", 0.7, "guard must be within"),
        ("escalate_after", 0, "escalate_after must be a whole number"),
    ],
)
def test_limits_validate_themselves(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TelegramLimits(**{field: value})  # type: ignore[arg-type]
