"""The limit primitives the memory limiter keeps: windows, the ledger, adaptive rates."""

from __future__ import annotations

import math

import pytest

from sluice._exceptions import ConfigError
from sluice.limits import AdaptiveRate, FloodLedger, SlidingWindow, TelegramLimits


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


def test_a_window_resized_keeps_what_was_sent() -> None:
    window = SlidingWindow(3, 3.0)
    for when in (0.0, 0.1):
        window.reserve(when)
        window.confirm(when)
    window.resize(1, 1.0)  # a chat that turned out to allow a burst of 1 a second
    assert (window.count, window.span) == (1, 1.0)
    assert window.ready_at(0.2) == pytest.approx(1.1)  # a second after the latest
    assert window.sent_since(0.0) == 1  # only as many as it now allows are remembered


def test_the_ledger_blocks_chats_and_accounts_until_they_reopen() -> None:
    ledger = FloodLedger()
    ledger.block_chat(1, 7, 5.0)
    ledger.block_chat(1, 7, 3.0)  # an earlier end never shortens a block
    assert ledger.open_at(1, 7, 0.0) == 5.0
    assert ledger.open_at(1, 8, 0.0) == 0.0
    ledger.block_account(1, 2.0)
    assert ledger.open_at(1, 8, 1.0) == 2.0
    assert ledger.open_at(1, 8, 2.5) == 2.5
    assert ledger.open_at(2, 7, 0.0) == 0.0


def test_the_ledger_keeps_the_unexplained_floods_of_a_recent_span() -> None:
    ledger = FloodLedger()
    assert [c for _, c, _, _ in ledger.unexplained(1, "a", 3.0, 0.0, within=2.0)] == ["a"]
    assert [c for _, c, _, _ in ledger.unexplained(1, "b", 4.0, 1.0, within=2.0)] == ["a", "b"]
    assert [c for _, c, _, _ in ledger.unexplained(1, "c", 5.0, 2.5, within=2.0)] == ["b", "c"]
    ledger.forget_unexplained(1)
    assert len(ledger.unexplained(1, "d", 6.0, 3.0, within=2.0)) == 1


def test_an_adaptive_rate_adopts_a_lower_factor_only() -> None:
    rate = AdaptiveRate(hold=10.0)
    rate.adopt(0.5, 0.0)
    assert rate.factor == 0.5
    rate.adopt(0.9, 1.0)  # a higher one is not learned
    assert rate.factor == 0.5
    assert not rate.on_success(5.0)  # it holds, as after a cut
    assert rate.on_success(10.0)


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
        ("escalate_share", 0.0, "escalate_share must be within"),
    ],
)
def test_limits_validate_themselves(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TelegramLimits(**{field: value})  # type: ignore[arg-type]
