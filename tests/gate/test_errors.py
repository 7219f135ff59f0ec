"""What the gate does with failures: back off and retry what is transient, fail over
from a revoked token, raise what Telegram refused for good, and honour deadlines.
Every call either succeeds or raises; nothing is dropped silently."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from fake_telegram import BadToken, FakeTelegram, Forbidden, ServerError, classify, fixed
from sluice import (
    AccountRestricted,
    DeadlineExceeded,
    FloodRetriesExhausted,
    NoAccountAvailable,
    RetriesExhausted,
)
from sluice.accounts import Account
from sluice.gate import Gate, Restricted, RetryPolicy, Verdict
from sluice.limits import TelegramLimits
from vclock import now, run

A, B = 1, 2


def make_gate(*accounts: int, retry: RetryPolicy | None = None) -> Gate:
    return Gate(
        [Account(a) for a in accounts or (A,)],
        limits=TelegramLimits(),
        retry=retry,
        classifier=classify,
        clock=now,
        seed=7,
    )


def test_transient_errors_back_off_with_full_jitter_then_succeed() -> None:
    gate = make_gate(retry=RetryPolicy(transient_retries=5, backoff_base=0.5, backoff_cap=4.0))
    attempts: list[float] = []

    async def flaky(account: Account) -> str:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) <= 4:
            raise ServerError("502 Bad Gateway")
        return "ok"

    assert run(gate.call(flaky, account=A, chat_id=5)) == "ok"
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert len(gaps) == 4
    for attempt, gap in enumerate(gaps):
        # Full jitter: anywhere in [0, min(cap, base * 2**attempt)], never above.
        assert 0.0 <= gap <= min(4.0, 0.5 * 2**attempt) + 1e-9
    assert len(set(gaps)) == len(gaps)  # jittered, not a fixed schedule
    health = gate.account(A).health
    assert (health.requests, health.successes, health.failures) == (5, 1, 4)


def test_transient_errors_give_up_after_the_retries_with_the_cause() -> None:
    gate = make_gate(retry=RetryPolicy(transient_retries=3, backoff_base=0.1))
    calls = 0

    async def down(account: Account) -> str:
        nonlocal calls
        calls += 1
        raise ServerError("500 Internal Server Error")

    with pytest.raises(RetriesExhausted) as info:
        run(gate.call(down, account=A, chat_id=5, method="sendMessage"))
    assert calls == 4
    assert isinstance(info.value.__cause__, ServerError)
    assert (info.value.method, info.value.chat_id) == ("sendMessage", 5)
    assert gate.pending() == 0


def test_a_refusal_is_raised_at_once_as_the_library_raised_it() -> None:
    tg = FakeTelegram(blocked_by={(A, 5)})
    gate = make_gate()

    async def scenario() -> None:
        with pytest.raises(Forbidden):
            await gate.call(tg.sender(5, "hi"), account=A, chat_id=5)
        # The lane moves on: the next call to the same chat is tried, not stuck.
        tg.blocked_by.clear()
        await gate.call(tg.sender(5, "again"), account=A, chat_id=5)

    run(scenario())
    assert tg.calls == 2
    assert tg.by_chat[5] == ["again"]


def test_a_revoked_token_is_quarantined_and_calls_fail_over() -> None:
    tg = FakeTelegram(revoked={A})
    gate = make_gate(A, B)

    async def scenario() -> list[object]:
        return list(
            await asyncio.gather(
                *(gate.call(tg.sender(-100, n), account=[A, B], chat_id=-100) for n in range(5))
            )
        )

    assert run(scenario()) == list(range(5))
    assert tg.by_chat[-100] == list(range(5))  # failover kept the order
    assert gate.account(A).quarantined
    assert "unauthorized" in (gate.account(A).health.quarantined or "")
    assert {a.bot for a in tg.accepted} == {B}


def test_no_account_left_is_a_clear_error() -> None:
    tg = FakeTelegram(revoked={A})
    gate = make_gate()
    with pytest.raises(NoAccountAvailable, match="quarantined") as info:
        run(gate.call(tg.sender(5, "hi"), account=A, chat_id=5))
    assert isinstance(info.value.__cause__, BadToken)


def test_a_spam_restricted_account_is_paused_not_worked_around() -> None:
    gate = make_gate(A, B)

    class PeerFlood(Exception):
        pass

    def classify_restricted(exc: BaseException) -> Verdict:
        return Restricted() if isinstance(exc, PeerFlood) else classify(exc)

    async def restricted(account: Account) -> str:
        raise PeerFlood("PEER_FLOOD")

    with pytest.raises(AccountRestricted, match="SpamBot"):
        run(gate.call(restricted, account=[A, B], chat_id=5, classifier=classify_restricted))
    quarantined = [a for a in (A, B) if gate.account(a).quarantined]
    assert len(quarantined) == 1  # only the one that was restricted; no swap to the other


def test_a_deadline_turns_an_endless_wait_into_a_typed_error() -> None:
    tg = FakeTelegram(up=fixed(0.0), down=fixed(0.0))
    gate = make_gate()

    async def scenario() -> None:
        # Fill the chat's burst, then ask for a fourth message within half a second.
        await asyncio.gather(*(gate.call(tg.sender(5, n), account=A, chat_id=5) for n in range(3)))
        await gate.call(tg.sender(5, 3), account=A, chat_id=5, timeout=0.5)

    with pytest.raises(DeadlineExceeded, match="deadline"):
        run(scenario())
    assert tg.by_chat[5] == [0, 1, 2]
    assert gate.pending() == 0


def test_a_deadline_gives_up_early_when_a_retry_cannot_start_in_time() -> None:
    from fake_telegram import RetryAfter

    gate = make_gate()
    clock: list[float] = []

    async def refused(account: Account) -> str:
        raise RetryAfter(30)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        try:
            await gate.call(refused, account=A, chat_id=5, timeout=10)
        finally:
            clock.append(loop.time())

    with pytest.raises(DeadlineExceeded):
        run(scenario())
    assert clock[0] < 1.0  # it did not wait out the 10 s for nothing


def test_flood_retries_are_bounded() -> None:
    from fake_telegram import RetryAfter

    gate = make_gate(retry=RetryPolicy(flood_retries=2))

    async def always_refused(account: Account) -> str:
        raise RetryAfter(1)

    with pytest.raises(FloodRetriesExhausted):
        run(gate.call(always_refused, account=A, chat_id=5))


def test_cancelling_a_call_frees_its_place() -> None:
    tg = FakeTelegram(up=fixed(1.0), down=fixed(1.0))
    gate = make_gate()

    async def scenario() -> None:
        in_flight = asyncio.ensure_future(gate.call(tg.sender(5, "slow"), account=A, chat_id=5))
        waiting = asyncio.ensure_future(gate.call(tg.sender(5, "never"), account=A, chat_id=5))
        await asyncio.sleep(0.5)
        in_flight.cancel()
        waiting.cancel()
        await asyncio.gather(in_flight, waiting, return_exceptions=True)
        assert gate.pending() == 0
        await gate.call(tg.sender(5, "next"), account=A, chat_id=5)

    run(scenario())
    assert tg.by_chat[5] == ["next"]
    assert gate.account(A).health.in_flight == 0


def test_an_account_closed_by_a_flood_hands_its_movable_calls_to_another() -> None:
    from fake_telegram import RetryAfter
    from sluice.gate import Flood

    tg = FakeTelegram(up=fixed(0.001), down=fixed(0.001))
    gate = make_gate(A, B)
    flooded = False

    async def upload(account: Account) -> object:
        nonlocal flooded
        if account.id == A and not flooded:
            flooded = True
            raise RetryAfter(60)
        return await tg.send(account.id, -100, "file")

    def account_wide(exc: BaseException) -> Verdict:
        if isinstance(exc, RetryAfter):
            return Flood(exc.retry_after, account_wide=True)
        return classify(exc)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        only_a = asyncio.ensure_future(gate.call(tg.sender(7, "A only"), account=A, chat_id=7))
        await gate.call(upload, account=[A, B], chat_id=-100, classifier=account_wide)
        moved_at = loop.time()
        await only_a
        return moved_at

    moved_at = run(scenario())
    assert moved_at < 1.0  # served by B at once, not after A's 60 s
    assert [a.bot for a in tg.accepted if a.chat == -100] == [B]
    assert {a.bot for a in tg.accepted if a.chat == 7} == {A}


def test_calls_outside_the_limits_wait_only_for_the_flood_ledger() -> None:
    from fake_telegram import RetryAfter

    gate = make_gate()
    starts: list[float] = []

    async def download(account: Account) -> None:
        starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(1.0)  # a long download does not hold anything up

    async def scenario() -> None:
        await asyncio.gather(
            *(gate.call(download, account=A, chat_id=-100, limited=False) for _ in range(50))
        )

        async def flooded(account: Account) -> None:
            raise RetryAfter(30)

        with pytest.raises(FloodRetriesExhausted):
            await gate.call(flooded, account=A, chat_id=-100, classifier=classify, timeout=None)

    run(scenario())
    assert starts == [0.0] * 50  # side by side, none counted against 30/s or 20/min


def test_calls_to_no_chat_run_side_by_side() -> None:
    gate = make_gate()
    finished: list[float] = []

    async def edit_inline(account: Account) -> None:
        await asyncio.sleep(0.5)
        finished.append(asyncio.get_running_loop().time())

    async def scenario() -> None:
        await asyncio.gather(*(gate.call(edit_inline, account=A, chat_id=None) for _ in range(10)))

    run(scenario())
    # Paced by the account window only (a burst, then 30/s), not one at a time.
    assert max(finished) < 1.0
    assert gate.pending() == 0
