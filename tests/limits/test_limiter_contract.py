"""One contract, two backends: every test runs on the in-memory limiter and on the
Redis one (two limiters on one namespace, as two processes would hold).

The memory backend runs on an injected clock and is given the Redis one's
lookahead, so the two answer alike. Redis counts on its own clock (``TIME``),
which no test can move: there, ``advance`` waits the given time for it to pass
(short: the limits run at 10x), and waits are compared with a tolerance of
Redis's millisecond rounding and the backend's clock margin.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from sluice import ConfigError
from sluice.limits import (
    Answer,
    Limiter,
    MemoryLimiter,
    Paused,
    RedisLimiter,
    Request,
    Scope,
    SendResult,
    TelegramLimits,
    Ticket,
    Wait,
    from_url,
)

# At 10x: the bot window is 0.1 s (5 sends, paced 0.02 s apart after 2), a private
# chat 2 per 0.2 s, a group 3 per 1 s; rates hold 0.05 s before a step back up;
# three unexplained 429s from two chats within 2 s may close the bot.
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
LOOKAHEAD = WINDOW + 0.005 + 0.001  # the Redis backend's default


@dataclass
class Backend:
    name: str
    limiter: Limiter
    other: Limiter  # the same state as another process sees it
    advance: Callable[[float], Awaitable[None]]

    def about(self, seconds: float, expected: float) -> bool:
        """``seconds`` is ``expected``, less the time the asking took (Redis's clock runs on)."""
        if self.name == "memory":
            return seconds == pytest.approx(expected)
        return expected - ELAPSED <= seconds <= expected + TOLERANCE


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        now = [1000.0]
        memory = MemoryLimiter(
            LIMITS, lookahead=LOOKAHEAD, pace=True, headroom=3, clock=lambda: now[0]
        )

        async def advance_clock(seconds: float) -> None:
            now[0] += seconds

        yield Backend("memory", memory, memory, advance_clock)
        return
    url = request.getfixturevalue("redis_url")
    namespace = f"t{uuid.uuid4().hex[:10]}"
    pair = [
        RedisLimiter(
            aioredis.Redis.from_url(url), LIMITS, namespace=namespace, pace=True, headroom=3
        )
        for _ in "ab"
    ]

    async def wait_for_redis(seconds: float) -> None:
        await asyncio.sleep(seconds)  # Redis's own clock must move; nothing else can

    yield Backend("redis", pair[0], pair[1], wait_for_redis)
    await pair[0].drop()
    for limiter in pair:
        await limiter.aclose()


async def ask(
    limiter: Limiter, chat: Hashable | None, account: int = 1, *, bulk: bool = False
) -> Answer:
    (answer,) = await limiter.acquire([Request(account, chat, bulk=bulk)])
    return answer


def opens_in(answer: Answer) -> float:
    """When the scope opens for a send: a ticket's delay, or a wait and the lookahead."""
    if isinstance(answer, Ticket):
        return answer.delay
    assert isinstance(answer, Wait), answer
    return answer.seconds + LOOKAHEAD


def waited(answer: Answer, scope: Scope) -> float:
    assert isinstance(answer, Wait), f"not asked to wait: {answer}"
    assert answer.scope is scope, answer
    return answer.seconds


async def tickets(limiter: Limiter, chats: range, account: int = 1) -> list[Ticket]:
    found = []
    for chat in chats:
        answer = await ask(limiter, chat, account)
        assert isinstance(answer, Ticket), f"chat {chat} was refused: {answer}"
        found.append(answer)
    return found


async def sent(limiter: Limiter, chat: Hashable, count: int = 1) -> None:
    """``count`` sends to ``chat`` admitted and answered."""
    for _ in range(count):
        ticket = await ask(limiter, chat)
        assert isinstance(ticket, Ticket), ticket
        await limiter.confirm(ticket, SendResult.OK)


async def test_sends_are_paced_after_the_burst_and_shared_by_every_process(
    backend: Backend,
) -> None:
    first = await tickets(backend.limiter, range(-10, -7))
    second = await tickets(backend.other, range(-7, -5))
    delays = [t.delay for t in first + second]
    # Two back to back, then one every 1/5 of the window, admitted ahead with a delay.
    expected = [0, 0, INTERVAL, 2 * INTERVAL, 3 * INTERVAL]
    assert all(backend.about(d, e) for d, e in zip(delays, expected, strict=True)), delays
    # Five in flight fill the window. The first must be answered before there is
    # room, which cannot be before a window after it started: ask again then.
    wait = await ask(backend.limiter, -20)
    assert backend.about(waited(wait, Scope.ACCOUNT), WINDOW)
    assert isinstance(wait, Wait)
    assert wait.on_answer
    assert isinstance(await ask(backend.other, -20, account=2), Ticket)  # another budget


async def test_sends_in_flight_longer_than_a_window_are_asked_after_every_tenth_of_it(
    backend: Backend,
) -> None:
    await tickets(backend.limiter, range(-10, -5))
    await backend.advance(2 * WINDOW)  # started long ago, still unanswered
    wait = await ask(backend.other, -20)
    assert backend.about(waited(wait, Scope.ACCOUNT), WINDOW / 10)


async def test_an_answered_send_leaves_the_window_one_window_after_its_answer(
    backend: Backend,
) -> None:
    admitted = await tickets(backend.limiter, range(-10, -5))
    await backend.advance(4 * INTERVAL)  # the last of them may start now
    for ticket in admitted:
        await backend.other.confirm(ticket, SendResult.OK)
    # The window is full of answered sends: the next is admitted for when the
    # first answer is a window old (within the lookahead, so no asking again).
    nxt = await ask(backend.limiter, -30)
    assert isinstance(nxt, Ticket)
    assert backend.about(nxt.delay, WINDOW)


async def test_a_refused_send_frees_its_slot_at_once(backend: Backend) -> None:
    admitted = await tickets(backend.limiter, range(-10, -5))
    assert not isinstance(await ask(backend.limiter, -30), Ticket)
    await backend.other.confirm(admitted[0], SendResult.REFUSED)  # a 429: not counted
    assert isinstance(await ask(backend.limiter, -30), Ticket)


async def test_a_private_chat_takes_its_burst_then_its_rate(backend: Backend) -> None:
    (first,) = await tickets(backend.limiter, range(42, 43))
    # One send in flight at a time: the next waits for its answer.
    wait = await ask(backend.other, 42)
    assert waited(wait, Scope.CHAT) > 0
    assert isinstance(wait, Wait)
    assert wait.on_answer
    await backend.other.confirm(first, SendResult.OK)
    await sent(backend.limiter, 42)  # its burst of 2, back to back
    # Then one every 0.1 s (1 a second at 10x), from the latest answer: admitted ahead.
    assert backend.about(opens_in(await ask(backend.other, 42)), 0.1)
    assert isinstance(await ask(backend.limiter, 43), Ticket)  # another chat is open


async def test_a_group_takes_its_count_per_window(backend: Backend) -> None:
    await sent(backend.limiter, "@channel", 3)
    wait = await ask(backend.other, "@channel")
    assert backend.about(waited(wait, Scope.CHAT), 1.0 - LOOKAHEAD)


async def test_a_429_no_chat_explains_closes_the_chat_only(backend: Backend) -> None:
    flooded = await backend.limiter.flood(1, -5, 3.0, account_wide=False)
    assert not flooded.account_wide
    assert flooded.seconds == pytest.approx(3.0)
    wait = await ask(backend.other, -5)
    assert backend.about(waited(wait, Scope.CHAT), 3.0 - LOOKAHEAD)
    assert isinstance(await ask(backend.other, -6), Ticket)  # the bot is open
    # Nothing the chat did explains it: its rate is not cut.
    assert await backend.other.rate(1, -5) == 1.0
    assert await backend.other.rate(1) == 1.0


async def test_a_private_chat_refusing_a_burst_teaches_every_private_chat_its_burst(
    backend: Backend,
) -> None:
    await sent(backend.limiter, 42)  # one accepted, the second of the burst refused
    flooded = await backend.other.flood(1, 42, 1.0, account_wide=False)
    assert not flooded.account_wide
    # Telegram let one through and refused the next: a burst of 1, for this chat and
    # for every private chat from now on, at the same rate (1 a second at 10x: 0.1 s).
    await sent(backend.limiter, 77)
    assert backend.about(opens_in(await ask(backend.other, 77)), 0.1)
    await backend.advance(WINDOW + 0.01)
    await sent(backend.limiter, -7)
    assert isinstance(await ask(backend.other, -7), Ticket)  # groups learned nothing
    assert (await backend.other.health(1)).account_blocks == 0


async def test_a_private_chat_refused_at_its_pace_gets_a_lower_rate(backend: Backend) -> None:
    await sent(backend.limiter, 42)
    await backend.other.flood(1, 42, 0.001, account_wide=False)  # its burst is 1
    assert await backend.other.rate(1, 42) == 1.0  # a burst cut, not a rate cut
    await backend.advance(0.11)
    await sent(backend.limiter, 42)  # one at its pace...
    await backend.other.flood(1, 42, 0.001, account_wide=False)  # ...refused: its rate
    assert await backend.other.rate(1, 42) == pytest.approx(0.7)
    assert await backend.other.rate(1, 77) == 1.0  # not learned by other chats
    # Its next send goes at the old pace (0.09 s from now); the one after it, at the new.
    await backend.advance(0.01)
    await sent(backend.limiter, 42)
    assert backend.about(opens_in(await ask(backend.other, 42)), 0.09 + 0.1 / 0.7)


async def test_a_group_refusing_teaches_every_group_its_count(backend: Backend) -> None:
    await sent(backend.limiter, -50, 2)  # two accepted, the third refused
    await backend.other.flood(1, -50, 1.0, account_wide=False)
    # Telegram let two of the model's three through: every group now counts two.
    assert await backend.other.rate(1, -51) == pytest.approx(2 / 3)
    await sent(backend.limiter, -51, 2)
    assert waited(await ask(backend.limiter, -51), Scope.CHAT) > 0
    assert await backend.other.rate(1, 42) == 1.0  # private chats learned nothing


async def test_an_account_wide_flood_closes_the_bot_for_every_process(backend: Backend) -> None:
    flooded = await backend.limiter.flood(1, -5, 2.0, account_wide=True)
    assert flooded.account_wide
    wait = await ask(backend.other, -6)
    assert backend.about(waited(wait, Scope.ACCOUNT), 2.0 - LOOKAHEAD)
    assert isinstance(await ask(backend.other, -6, account=2), Ticket)
    health = await backend.other.health(1)
    assert health.account_blocks == 1
    assert backend.about(health.blocked_until, 2.0)


async def test_unexplained_floods_from_two_chats_close_the_bot_and_cut_its_rate(
    backend: Backend,
) -> None:
    admitted = await tickets(backend.limiter, range(-40, -38))
    for ticket in admitted:
        await backend.limiter.confirm(ticket, SendResult.OK)  # Telegram accepted two
    assert not (await backend.limiter.flood(1, -1, 1.0, account_wide=False)).account_wide
    assert not (await backend.other.flood(1, -2, 1.5, account_wide=False)).account_wide
    closed = await backend.limiter.flood(1, -3, 1.0, account_wide=False)
    # Three fresh chats refused against two answers: a bot-wide limit.
    assert closed.account_wide
    assert backend.about(closed.seconds, 1.5)  # until the latest of them
    wait = await ask(backend.other, -9)
    assert backend.about(waited(wait, Scope.ACCOUNT), 1.5 - LOOKAHEAD)
    # Telegram accepted 2 of the model's 5 and refused more: cut to that, but never
    # below 0.7² in one step.
    assert await backend.other.rate(1) == pytest.approx(0.49)


async def test_stray_floods_among_many_answers_stay_with_their_chats(backend: Backend) -> None:
    # Three unexplained 429s, each in a window where Telegram accepted five sends:
    # a sixth of the answers, not a bot-wide limit. Each closes its own chat only.
    for round_, chat in enumerate((-1, -2, -3)):
        for n in range(5):
            await sent(backend.limiter, -100 - 10 * round_ - n)
        flooded = await backend.other.flood(1, chat, 1.0, account_wide=False)
        assert not flooded.account_wide
        await backend.advance(WINDOW + 0.02)
    assert (await backend.limiter.health(1)).account_blocks == 0
    assert await backend.limiter.rate(1) == 1.0


async def test_a_cut_rate_narrows_the_window_and_climbs_back_after_its_hold(
    backend: Backend,
) -> None:
    await backend.limiter.flood(1, None, 0.001, account_wide=True)  # no sends: cut to 0.7
    assert await backend.other.rate(1) == pytest.approx(0.7)
    await backend.advance(0.01)
    # 5 * 0.7 -> 3 sends per window, paced a third of it apart after the burst of 2.
    admitted = await tickets(backend.other, range(-10, -7))
    assert backend.about(admitted[2].delay, WINDOW / 3)
    assert not isinstance(await ask(backend.other, -7), Ticket)
    await backend.advance(0.05)  # the hold (0.5 s at 10x) passes quietly
    assert await backend.limiter.rate(1) == pytest.approx(0.75)


async def test_broadcasts_leave_headroom_while_replies_are_being_sent(backend: Backend) -> None:
    # No reply lately: a broadcast may fill the whole window.
    for chat in range(-10, -5):
        assert isinstance(await ask(backend.limiter, chat, account=2, bulk=True), Ticket)
    # A reply went out as bot 1: its broadcast sends leave 3 of the 5 slots free,
    admitted = [await ask(backend.limiter, 77), await ask(backend.other, -1, bulk=True)]
    assert not isinstance(await ask(backend.other, -2, bulk=True), Ticket)
    # which the next replies take at once.
    admitted += [await ask(backend.limiter, chat) for chat in (78, 79, 80)]
    assert not isinstance(await ask(backend.limiter, 81), Ticket)
    for ticket in admitted:
        assert isinstance(ticket, Ticket)
        await backend.limiter.confirm(ticket, SendResult.OK)
    await backend.advance(11 * WINDOW)  # ten windows without a reply: all of it again
    for chat in range(-10, -5):
        assert isinstance(await ask(backend.other, chat, bulk=True), Ticket)


async def test_a_reply_refused_by_a_full_window_still_makes_room_for_itself(
    backend: Backend,
) -> None:
    # Another process's broadcast fills the window before any reply went out: the
    # reply is refused, but having asked is what makes the next broadcast sends leave
    # room, or a busy broadcast would starve replies until it ends.
    bulk = [await ask(backend.other, chat, bulk=True) for chat in range(-10, -5)]
    assert all(isinstance(ticket, Ticket) for ticket in bulk)
    assert not isinstance(await ask(backend.other, -5, bulk=True), Ticket)
    assert not isinstance(await ask(backend.limiter, 77), Ticket)  # the window is full
    for ticket in bulk:
        assert isinstance(ticket, Ticket)
        await backend.other.confirm(ticket, SendResult.OK)
    # The next window: the broadcast takes 2 of its 5 slots, and the reply one of the 3.
    ahead = [await ask(backend.other, chat, bulk=True) for chat in range(-20, -17)]
    assert [isinstance(answer, Ticket) for answer in ahead] == [True, True, False]
    # At once, while they are in flight: its pace is not the broadcast's, which its
    # two sends booked ahead (a window they filled would refuse it until their answers).
    reply = await ask(backend.limiter, 77)
    assert isinstance(reply, Ticket)
    assert reply.delay <= ahead[1].delay + TOLERANCE  # not queued behind the broadcast


async def test_a_reply_goes_at_once_into_the_room_a_broadcast_booked_ahead_leaves(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    # One slot of headroom: while the bot talks, a broadcast takes 4 of 5 a window,
    # and books the next window's ahead. A reply must not be placed after those
    # bookings (a whole window later) when every window holding it has room now.
    if backend.name == "memory":
        clock = [2000.0]
        limiter: Limiter = MemoryLimiter(
            LIMITS, lookahead=LOOKAHEAD, headroom=1, clock=lambda: clock[0]
        )
        other = limiter

        async def advance(seconds: float) -> None:
            clock[0] += seconds
    else:
        client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
        namespace = f"t{uuid.uuid4().hex[:10]}"
        limiter = RedisLimiter(client, LIMITS, namespace=namespace, headroom=1)
        other = RedisLimiter(client, LIMITS, namespace=namespace, headroom=1)
        advance = asyncio.sleep
    try:
        first = await ask(limiter, 70)  # the bot talks: broadcasts leave a slot
        assert isinstance(first, Ticket)
        await limiter.confirm(first, SendResult.OK)
        await advance(WINDOW + 0.02)
        now = [await ask(other, chat, bulk=True) for chat in range(-40, -36)]
        for ticket in now:
            assert isinstance(ticket, Ticket)
            await other.confirm(ticket, SendResult.OK)
        booked = [await ask(other, chat, bulk=True) for chat in range(-30, -26)]
        assert isinstance(booked[0], Ticket)
        assert booked[0].delay > WINDOW / 2  # booked ahead, into the next window
        reply = await ask(limiter, 71)
        assert isinstance(reply, Ticket)
        assert reply.delay <= TOLERANCE  # at once: 4 sent + the reply is 5 a window
        # And never more than the window holds: a second reply has no room now.
        assert opens_in(await ask(limiter, 72)) > WINDOW / 2
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.drop()
            await limiter.aclose()
            assert isinstance(other, RedisLimiter)
            await other.aclose()


async def test_a_paused_account_admits_nothing_until_resumed(backend: Backend) -> None:
    await backend.limiter.pause(1, "restricted by Telegram: PEER_FLOOD")
    answer = await ask(backend.other, -5)
    assert answer == Paused("restricted by Telegram: PEER_FLOOD")
    assert (await backend.other.health(1)).paused == "restricted by Telegram: PEER_FLOOD"
    assert isinstance(await ask(backend.other, -5, account=2), Ticket)
    await backend.other.resume(1)
    assert isinstance(await ask(backend.limiter, -5), Ticket)
    assert (await backend.limiter.health(1)).paused is None


async def test_health_counts_every_processs_sends(backend: Backend) -> None:
    a, b = await tickets(backend.limiter, range(-10, -8))
    (c,) = await tickets(backend.other, range(-8, -7))
    await backend.other.confirm(a, SendResult.OK)
    await backend.limiter.confirm(b, SendResult.OK)
    await backend.limiter.confirm(c, SendResult.FAILED)
    await backend.other.flood(1, -3, 0.5, account_wide=False)
    health = await backend.limiter.health(1)
    assert (health.requests, health.successes, health.failures) == (3, 2, 1)
    assert (health.floods, health.account_blocks, health.blocked_until) == (1, 0, 0.0)
    assert health.success_rate == pytest.approx(2 / 3)
    assert health.rate == 1.0


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_unpaced_a_windows_worth_is_admitted_at_once(
    kind: str, request: pytest.FixtureRequest
) -> None:
    url = "memory://" if kind == "memory" else request.getfixturevalue("redis_url")
    options = {"pace": False} | ({} if kind == "memory" else {"namespace": uuid.uuid4().hex})
    limiter = from_url(url, LIMITS, **options)
    try:
        admitted = await tickets(limiter, range(-10, -5))
        assert [t.delay for t in admitted] == [0.0] * 5
        assert not isinstance(await ask(limiter, -5), Ticket)
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.drop()
        await limiter.aclose()


async def test_the_memory_limiter_answers_without_waiting() -> None:
    limiter = MemoryLimiter(LIMITS)
    answer = limiter.acquire_now(Request(1, -5))
    assert isinstance(answer, Ticket)
    assert answer.delay == 0.0  # no lookahead: only what may start now
    assert limiter.confirm_now(answer, SendResult.OK)
    assert limiter.spare(1) == LIMITS.bot_count - 1


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
    limiter = MemoryLimiter(
        TelegramLimits(bot_count=10_000, speed=10), pace=False, clock=lambda: now[0]
    )
    for chat in range(-3000, 0):
        ticket = limiter.acquire_now(Request(1, chat))
        assert isinstance(ticket, Ticket)
        limiter.confirm_now(ticket, SendResult.OK)
    await sent(limiter, -1)
    await limiter.flood(1, -1, 0.1, account_wide=False)  # a cut chat is kept
    now[0] += 10.0  # every group window (6 s at 10x) has emptied
    for chat in range(1, 1100):
        assert isinstance(limiter.acquire_now(Request(2, chat)), Ticket)
    assert set(limiter._accounts[1].chats) == {-1}
