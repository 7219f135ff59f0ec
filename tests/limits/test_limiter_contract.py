"""One contract, two backends: every test runs on the in-memory limiter and on the
Redis one (two limiters on one namespace, as two processes would hold).

The memory backend runs on an injected clock. Redis counts on its own clock
(``TIME``), which no test can move: there, ``advance`` waits the given time
for it to pass (short: the limits run at 10x), and waits are compared with a
tolerance of Redis's millisecond rounding and the backend's clock margin.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from sluice import ConfigError
from sluice.limits import (
    AccountPaused,
    Limiter,
    MemoryLimiter,
    RedisLimiter,
    TelegramLimits,
    Ticket,
    from_url,
)

# At 10x: the bot window is 0.1 s (5 sends, paced 0.02 s apart after 2), a private
# chat 2 per 0.2 s, a group 3 per 1 s; rates hold 0.05 s before a step back up.
LIMITS = TelegramLimits(
    bot_count=5,
    bot_window=1.0,
    bot_burst=2,
    private_burst=2,
    private_rate=1.0,
    group_count=3,
    group_window=10.0,
    escalate_after=3,
    escalate_window=20.0,
    adapt_hold=0.5,
    speed=10,
)
WINDOW = 0.1
INTERVAL = WINDOW / 5
# Redis: whole milliseconds, the 5 ms clock margin, and the time asking takes
# (which only shortens what is left to wait; more so on a busy machine).
TOLERANCE = 0.008
ELAPSED = 0.05


@dataclass
class Backend:
    name: str
    limiter: Limiter
    other: Limiter  # the same state as another process sees it
    advance: Callable[[float], Awaitable[None]]

    def about(self, seconds: Ticket | float, expected: float) -> bool:
        """``seconds`` is ``expected``, less the time the asking took (Redis's clock runs on)."""
        assert isinstance(seconds, float), f"admitted, not asked to wait: {seconds}"
        if self.name == "memory":
            return seconds == pytest.approx(expected)
        return expected - ELAPSED <= seconds <= expected + TOLERANCE


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        now = [1000.0]
        memory = MemoryLimiter(LIMITS, pace=True, clock=lambda: now[0])

        async def advance_clock(seconds: float) -> None:
            now[0] += seconds

        yield Backend("memory", memory, memory, advance_clock)
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"t{uuid.uuid4().hex[:10]}"
    pair = [
        RedisLimiter(aioredis.Redis.from_url(url), LIMITS, namespace=namespace, pace=True)
        for _ in "ab"
    ]

    async def wait_for_redis(seconds: float) -> None:
        await asyncio.sleep(seconds)  # Redis's own clock must move; nothing else can

    yield Backend("redis", pair[0], pair[1], wait_for_redis)
    await pair[0].drop()
    for limiter in pair:
        await limiter.aclose()


async def _tickets(limiter: Limiter, chats: range, bot: int = 1) -> list[Ticket]:
    tickets = []
    for chat in chats:
        granted = await limiter.acquire(bot, chat)
        assert isinstance(granted, Ticket), f"chat {chat} was refused: wait {granted}"
        tickets.append(granted)
    return tickets


async def test_sends_are_paced_after_the_burst_and_shared_by_every_process(
    backend: Backend,
) -> None:
    first = await _tickets(backend.limiter, range(-10, -7))
    second = await _tickets(backend.other, range(-7, -5))
    delays = [t.delay for t in first + second]
    # Two back to back, then one every 1/5 of the window, admitted ahead with a delay.
    expected = [0, 0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL]
    assert all(backend.about(d, e) for d, e in zip(delays, expected, strict=True)), delays
    # Five in flight fill the window. The first must be answered before there is
    # room, which cannot be before a window after it started: ask again then.
    wait = await backend.limiter.acquire(1, -20)
    assert backend.about(wait, WINDOW)
    assert isinstance(await backend.other.acquire(2, -20), Ticket)  # another bot's budget


async def test_sends_in_flight_longer_than_a_window_are_asked_after_every_tenth_of_it(
    backend: Backend,
) -> None:
    await _tickets(backend.limiter, range(-10, -5))
    await backend.advance(2 * WINDOW)  # started long ago, still unanswered
    assert backend.about(await backend.other.acquire(1, -20), WINDOW / 10)


async def test_an_answered_send_leaves_the_window_one_window_after_its_answer(
    backend: Backend,
) -> None:
    tickets = await _tickets(backend.limiter, range(-10, -5))
    await backend.advance(4 * INTERVAL)  # the last of them may start now
    for ticket in tickets:
        await backend.other.confirm(ticket)
    # The window is full of answered sends: the next is admitted for when the
    # first answer is a window old (within the lookahead, so no asking again).
    nxt = await backend.limiter.acquire(1, -30)
    assert isinstance(nxt, Ticket)
    assert backend.about(nxt.delay, WINDOW)


async def test_a_refused_send_frees_its_slot_at_once(backend: Backend) -> None:
    tickets = await _tickets(backend.limiter, range(-10, -5))
    assert not isinstance(await backend.limiter.acquire(1, -30), Ticket)
    await backend.other.confirm(tickets[0], "refused")  # a 429: Telegram did not count it
    assert isinstance(await backend.limiter.acquire(1, -30), Ticket)


async def test_a_private_chat_takes_its_burst_then_its_rate(backend: Backend) -> None:
    a, b = (
        await _tickets(backend.limiter, range(42, 43)),
        await _tickets(backend.other, range(42, 43)),
    )
    # Both in flight fill the chat's window (2 per 0.2 s): not before it is 0.2 s old.
    assert backend.about(await backend.limiter.acquire(1, 42), 0.2)
    await backend.limiter.confirm(a[0])
    await backend.other.confirm(b[0])
    # Now it opens a chat window after the answers: beyond the lookahead, so wait
    # until it is a lookahead away.
    wait = await backend.limiter.acquire(1, 42)
    assert backend.about(wait, 0.2 - backend.limiter.lookahead)
    assert isinstance(await backend.limiter.acquire(1, 43), Ticket)  # another chat is open


async def test_a_group_takes_its_count_per_window(backend: Backend) -> None:
    tickets = [await backend.limiter.acquire(1, "@channel") for _ in range(3)]
    for ticket in tickets:
        assert isinstance(ticket, Ticket)
        await backend.other.confirm(ticket)
    wait = await backend.other.acquire(1, "@channel")
    assert backend.about(wait, 1.0 - backend.limiter.lookahead)


async def test_a_flood_closes_its_chat_and_cuts_the_chats_rate(backend: Backend) -> None:
    escalated = await backend.limiter.flood(1, -5, 3.0, account_wide=False)
    assert escalated is False
    wait = await backend.other.acquire(1, -5)
    assert backend.about(wait, 3.0 - backend.limiter.lookahead)
    assert isinstance(await backend.other.acquire(1, -6), Ticket)  # the bot is open
    assert await backend.other.rate(1, -5) == pytest.approx(0.7)
    assert await backend.other.rate(1) == 1.0


async def test_an_account_wide_flood_closes_the_bot_for_every_process(backend: Backend) -> None:
    assert await backend.limiter.flood(1, -5, 2.0, account_wide=True) is True
    wait = await backend.other.acquire(1, -6)
    assert backend.about(wait, 2.0 - backend.limiter.lookahead)
    assert isinstance(await backend.other.acquire(2, -6), Ticket)
    health = await backend.other.health(1)
    assert health.account_blocks == 1
    assert backend.about(health.blocked_until, 2.0)


async def test_floods_in_a_row_from_two_chats_close_the_bot_and_cut_its_rate(
    backend: Backend,
) -> None:
    sent = await _tickets(backend.limiter, range(-40, -38))
    for ticket in sent:
        await backend.limiter.confirm(ticket)  # Telegram accepted two in this window
    assert await backend.limiter.flood(1, -1, 1.0, account_wide=False) is False
    assert await backend.other.flood(1, -2, 1.5, account_wide=False) is False
    assert await backend.limiter.flood(1, -1, 1.0, account_wide=False) is True
    wait = await backend.other.acquire(1, -3)
    assert backend.about(wait, 1.5 - backend.limiter.lookahead)  # until the latest of them
    # Telegram accepted 2 of the model's 5 and refused more: cut to that, but never
    # below 0.7² in one step.
    assert await backend.other.rate(1) == pytest.approx(0.49)


async def test_a_success_between_floods_keeps_them_from_closing_the_bot(
    backend: Backend,
) -> None:
    (ticket,) = await _tickets(backend.limiter, range(-40, -39))
    assert await backend.limiter.flood(1, -1, 1.0, account_wide=False) is False
    assert await backend.other.flood(1, -2, 1.0, account_wide=False) is False
    await backend.other.confirm(ticket)  # an answer: the streak is over
    assert await backend.limiter.flood(1, -1, 1.0, account_wide=False) is False
    assert isinstance(await backend.other.acquire(1, -3), Ticket)


async def test_a_cut_rate_narrows_the_window_and_climbs_back_after_its_hold(
    backend: Backend,
) -> None:
    await backend.limiter.flood(1, -1, 0.001, account_wide=True)  # no sends: cut to 0.7
    assert await backend.other.rate(1) == pytest.approx(0.7)
    await backend.advance(0.01)
    # 5 * 0.7 -> 3 sends per window, paced a third of it apart after the burst of 2.
    tickets = await _tickets(backend.other, range(-10, -7))
    assert backend.about(tickets[2].delay, WINDOW / 3)
    assert not isinstance(await backend.other.acquire(1, -7), Ticket)
    await backend.advance(0.05)  # the hold (0.5 s at 10x) passes quietly
    assert await backend.limiter.rate(1) == pytest.approx(0.75)


async def test_broadcasts_leave_headroom_while_replies_are_being_sent(backend: Backend) -> None:
    # No reply lately: a broadcast may fill the whole window.
    for chat in range(-10, -5):
        assert isinstance(await backend.limiter.acquire(2, chat, bulk=True), Ticket)
    # A reply went out as bot 1: its broadcast sends leave 3 of the 5 slots free,
    sent = [await backend.limiter.acquire(1, 77), await backend.other.acquire(1, -1, bulk=True)]
    assert not isinstance(await backend.other.acquire(1, -2, bulk=True), Ticket)
    # which the next replies take at once.
    sent += [await backend.limiter.acquire(1, chat) for chat in (78, 79, 80)]
    assert not isinstance(await backend.limiter.acquire(1, 81), Ticket)
    for ticket in sent:
        assert isinstance(ticket, Ticket)
        await backend.limiter.confirm(ticket)
    await backend.advance(3 * WINDOW)  # two windows without a reply: all of it again
    for chat in range(-10, -5):
        assert isinstance(await backend.other.acquire(1, chat, bulk=True), Ticket)


async def test_a_paused_account_admits_nothing_until_resumed(backend: Backend) -> None:
    await backend.limiter.pause(1, "restricted by Telegram: PEER_FLOOD")
    with pytest.raises(AccountPaused, match="PEER_FLOOD") as caught:
        await backend.other.acquire(1, -5)
    assert caught.value.account == 1
    assert (await backend.other.health(1)).quarantined == "restricted by Telegram: PEER_FLOOD"
    assert isinstance(await backend.other.acquire(2, -5), Ticket)
    await backend.other.resume(1)
    assert isinstance(await backend.limiter.acquire(1, -5), Ticket)
    assert (await backend.limiter.health(1)).quarantined is None


async def test_health_counts_every_processs_sends(backend: Backend) -> None:
    a, b, c = await _tickets(backend.limiter, range(-10, -8)) + await _tickets(
        backend.other, range(-8, -7)
    )
    await backend.other.confirm(a)
    await backend.limiter.confirm(b)
    await backend.limiter.confirm(c, "failed")
    await backend.other.flood(1, -3, 0.5, account_wide=False)
    health = await backend.limiter.health(1)
    assert (health.requests, health.successes, health.failures) == (3, 2, 1)
    assert (health.floods, health.account_blocks, health.blocked_until) == (1, 0, 0.0)
    assert health.success_rate == pytest.approx(2 / 3)


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_unpaced_a_windows_worth_is_admitted_at_once(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if kind == "memory" else request.getfixturevalue("redis_url")
    limiter = from_url(url, LIMITS, **({} if kind == "memory" else {"namespace": uuid.uuid4().hex}))
    try:
        tickets = await _tickets(limiter, range(-10, -5))
        assert [t.delay for t in tickets] == [0.0] * 5
        assert not isinstance(await limiter.acquire(1, -5), Ticket)
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.drop()
        await limiter.aclose()


async def test_from_url_opens_either_backend(redis_url: str) -> None:
    assert isinstance(from_url("memory://"), MemoryLimiter)
    opened = from_url(redis_url.replace("redis://", "redis://:s3cret-pass@"), LIMITS)
    try:
        assert isinstance(opened, RedisLimiter)
        assert "s3cret" not in repr(opened)
    finally:
        await opened.aclose()
    with pytest.raises(ConfigError, match="memory:// or redis://"):
        from_url("ftp://example.invalid")


async def test_the_memory_limiter_forgets_chats_that_went_quiet() -> None:
    now = [0.0]
    limiter = MemoryLimiter(TelegramLimits(bot_count=10_000, speed=10), clock=lambda: now[0])
    for chat in range(-3000, 0):
        ticket = await limiter.acquire(1, chat)
        assert isinstance(ticket, Ticket)
        await limiter.confirm(ticket)
    await limiter.flood(1, -1, 0.1, account_wide=False)  # a cut rate is kept until whole
    now[0] += 10.0  # every group window (6 s at 10x) has emptied
    for chat in range(1, 1100):
        assert isinstance(await limiter.acquire(2, chat), Ticket)
    remembered = {key for key in limiter._windows if key[0] == "1"}
    assert remembered == {("1", ""), ("1", "-1")}
