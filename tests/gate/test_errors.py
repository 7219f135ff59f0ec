"""What the gate does with failures: back off and retry what is transient, fail over
from a revoked token, raise what Telegram refused for good, and honour deadlines.
Every call either succeeds or raises; nothing is dropped silently. On both limiters."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from fake_telegram import BadToken, Forbidden, RetryAfter, ServerError, classify, fixed
from gate_env import Env
from sluice import (
    AccountRestricted,
    DeadlineExceeded,
    FloodRetriesExhausted,
    NoAccountAvailable,
    RetriesExhausted,
)
from sluice.accounts import Account
from sluice.gate import Flood, Gate, Restricted, RetryPolicy, Verdict

A, B = 1, 2


def make_gate(env: Env, *accounts: int, retry: RetryPolicy | None = None) -> Gate:
    if retry is not None and not env.virtual:  # backoffs on the model's time
        retry = RetryPolicy(
            transient_retries=retry.transient_retries,
            backoff_base=env.seconds(retry.backoff_base),
            backoff_cap=env.seconds(retry.backoff_cap),
            flood_retries=retry.flood_retries,
        )
    return env.gate(list(accounts or (A,)), retry=retry, classifier=classify, seed=7)


def test_transient_errors_back_off_with_full_jitter_then_succeed(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, retry=RetryPolicy(transient_retries=5, backoff_base=0.5, backoff_cap=4.0))
    attempts: list[float] = []

    async def flaky(account: Account) -> str:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) <= 4:
            raise ServerError("502 Bad Gateway")
        return "ok"

    # A group: its window (20 a minute) leaves the retries to the backoff alone.
    assert env.run(gate.call(flaky, account=A, chat_id=-5)) == "ok"
    gaps = [env.model(b - a) for a, b in itertools.pairwise(attempts)]
    assert len(gaps) == 4
    for attempt, gap in enumerate(gaps):
        # Full jitter: anywhere in [0, min(cap, base * 2**attempt)], never above.
        assert 0.0 <= gap <= env.bound(min(4.0, 0.5 * 2**attempt)) + 1e-9
    assert len(set(gaps)) == len(gaps)  # jittered, not a fixed schedule
    health = gate.account(A).health
    assert (health.requests, health.successes, health.failures) == (5, 1, 4)


def test_transient_errors_give_up_after_the_retries_with_the_cause(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, retry=RetryPolicy(transient_retries=3, backoff_base=0.1))
    calls = 0

    async def down(account: Account) -> str:
        nonlocal calls
        calls += 1
        raise ServerError("500 Internal Server Error")

    with pytest.raises(RetriesExhausted) as info:
        env.run(gate.call(down, account=A, chat_id=-5, method="sendMessage"))
    assert calls == 4
    assert isinstance(info.value.__cause__, ServerError)
    assert (info.value.method, info.value.chat_id) == ("sendMessage", -5)
    assert gate.pending() == 0


def test_a_refusal_is_raised_at_once_as_the_library_raised_it(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(blocked_by={(A, 5)})
    gate = make_gate(env)

    async def scenario() -> None:
        with pytest.raises(Forbidden):
            await gate.call(tg.sender(5, "hi"), account=A, chat_id=5)
        # The lane moves on: the next call to the same chat is tried, not stuck.
        tg.blocked_by.clear()
        await gate.call(tg.sender(5, "again"), account=A, chat_id=5)

    env.run(scenario())
    assert tg.calls == 2
    assert tg.by_chat[5] == ["again"]


def test_a_revoked_token_pauses_the_account_and_calls_fail_over(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(revoked={A})
    gate = make_gate(env, A, B)

    async def scenario() -> list[object]:
        return list(
            await asyncio.gather(
                *(gate.call(tg.sender(-100, n), account=[A, B], chat_id=-100) for n in range(5))
            )
        )

    assert env.run(scenario()) == list(range(5))
    assert tg.by_chat[-100] == list(range(5))  # failover kept the order
    assert gate.account(A).paused
    assert "unauthorized" in (gate.account(A).health.paused or "")
    assert {a.bot for a in tg.accepted} == {B}


def test_no_account_left_is_a_clear_error(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(revoked={A})
    gate = make_gate(env)
    with pytest.raises(NoAccountAvailable, match="paused") as info:
        env.run(gate.call(tg.sender(5, "hi"), account=A, chat_id=5))
    assert isinstance(info.value.__cause__, BadToken)
    assert info.value.reasons == {"bot:1": "unauthorized: the token was refused"}


def test_a_spam_restricted_account_is_paused_not_worked_around(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, A, B)

    class PeerFlood(Exception):
        pass

    def classify_restricted(exc: BaseException) -> Verdict:
        return Restricted() if isinstance(exc, PeerFlood) else classify(exc)

    async def restricted(account: Account) -> str:
        raise PeerFlood("PEER_FLOOD")

    with pytest.raises(AccountRestricted, match="SpamBot") as info:
        env.run(gate.call(restricted, account=[A, B], chat_id=5, classifier=classify_restricted))
    paused = [a for a in (A, B) if gate.account(a).paused]
    assert len(paused) == 1  # only the one that was restricted; no swap to the other
    assert isinstance(info.value, NoAccountAvailable)


def test_a_paused_account_is_paused_for_every_gate_on_the_limiter(env: Env) -> None:
    env = env.at(1)
    first = make_gate(env, A, B)
    second = env.gate([A], share=first, classifier=classify)  # another process's
    tg = env.telegram()

    async def scenario() -> None:
        await first.pause(A, "restricted by Telegram: PEER_FLOOD")
        with pytest.raises(NoAccountAvailable, match="PEER_FLOOD"):
            await second.call(tg.sender(5, "x"), account=A, chat_id=5)
        await first.resume(A)
        await asyncio.sleep(1.1)  # the other gate takes a second look after a second
        assert await second.call(tg.sender(5, "y"), account=A, chat_id=5) == "y"

    env.run(scenario())
    assert tg.by_chat[5] == ["y"]


def test_a_deadline_turns_an_endless_wait_into_a_typed_error(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(up=fixed(0.0), down=fixed(0.0))
    gate = make_gate(env)

    async def scenario() -> None:
        # Fill the chat's burst, then ask for a fourth message within half a second.
        await asyncio.gather(*(gate.call(tg.sender(5, n), account=A, chat_id=5) for n in range(3)))
        await gate.call(tg.sender(5, 3), account=A, chat_id=5, timeout=env.seconds(0.5))

    with pytest.raises(DeadlineExceeded, match="deadline") as info:
        env.run(scenario())
    assert (info.value.method, info.value.chat_id) == ("", 5)
    assert tg.by_chat[5] == [0, 1, 2]
    assert gate.pending() == 0


def test_a_deadline_gives_up_early_when_a_retry_cannot_start_in_time(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env)
    took: list[float] = []

    async def refused(account: Account) -> str:
        raise RetryAfter(env.seconds(30))

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await gate.call(refused, account=A, chat_id=5, timeout=env.seconds(10))
        finally:
            took.append(env.model(loop.time() - start))

    with pytest.raises(DeadlineExceeded):
        env.run(scenario())
    assert took[0] < 1.0  # it did not wait out the 10 s for nothing


def test_flood_retries_are_bounded(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, retry=RetryPolicy(flood_retries=2))

    async def always_refused(account: Account) -> str:
        raise RetryAfter(env.seconds(1))

    with pytest.raises(FloodRetriesExhausted) as info:
        env.run(gate.call(always_refused, account=A, chat_id=5, method="sendMessage"))
    assert (info.value.method, info.value.chat_id) == ("sendMessage", 5)


def test_cancelling_a_call_frees_its_place(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(up=fixed(1.0), down=fixed(1.0))
    gate = make_gate(env)

    async def scenario() -> None:
        in_flight = asyncio.ensure_future(gate.call(tg.sender(5, "slow"), account=A, chat_id=5))
        waiting = asyncio.ensure_future(gate.call(tg.sender(5, "never"), account=A, chat_id=5))
        await asyncio.sleep(env.seconds(0.5))
        in_flight.cancel()
        waiting.cancel()
        await asyncio.gather(in_flight, waiting, return_exceptions=True)
        assert gate.pending() == 0
        await gate.call(tg.sender(5, "next"), account=A, chat_id=5)

    env.run(scenario())
    assert tg.by_chat[5] == ["next"]
    assert gate.account(A).health.in_flight == 0


def test_a_cancelled_send_gives_its_slot_back_and_no_chat_is_remembered(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, A)

    async def hang(account: Account) -> None:
        await asyncio.sleep(3600)

    async def scenario() -> None:
        calls = [
            asyncio.ensure_future(gate.call(hang, account=A, chat_id=-100 - n)) for n in range(30)
        ]
        await asyncio.sleep(env.seconds(0.1))
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await gate.drain()
        # The cancelled sends may have reached Telegram: they count, for a window after
        # their end, not for as long as the process lives (nothing answers them).
        started = asyncio.get_running_loop().time()
        tg = env.telegram(up=fixed(0.0), down=fixed(0.0))
        await asyncio.gather(
            *(gate.call(tg.sender(-200 - n, n), account=A, chat_id=-200 - n) for n in range(3))
        )
        assert env.model(asyncio.get_running_loop().time() - started) < env.bound(1.1)

    env.run(scenario())
    assert gate.pending() == 0
    assert gate.account(A).health.in_flight == 0


def test_an_account_closed_by_a_flood_hands_its_movable_calls_to_another(env: Env) -> None:
    env = env.at(1)
    tg = env.telegram(up=fixed(0.001), down=fixed(0.001))
    gate = make_gate(env, A, B)
    flooded = False

    async def upload(account: Account) -> object:
        nonlocal flooded
        if account.id == A and not flooded:
            flooded = True
            raise RetryAfter(env.seconds(60))
        return await tg.send(account.id, -100, "file")

    def account_wide(exc: BaseException) -> Verdict:
        if isinstance(exc, RetryAfter):
            return Flood(exc.retry_after, account_wide=True)
        return classify(exc)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        only_a = asyncio.ensure_future(gate.call(tg.sender(7, "A only"), account=A, chat_id=7))
        await gate.call(upload, account=[A, B], chat_id=-100, classifier=account_wide)
        moved_at = env.model(loop.time() - start)
        await only_a
        return moved_at

    moved_at = env.run(scenario())
    assert moved_at < 1.0  # served by B at once, not after A's 60 s
    assert [a.bot for a in tg.accepted if a.chat == -100] == [B]
    assert {a.bot for a in tg.accepted if a.chat == 7} == {A}


def test_calls_outside_the_limits_wait_only_for_floods(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env, retry=RetryPolicy(flood_retries=2))
    starts: list[float] = []

    async def download(account: Account) -> None:
        starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(env.seconds(1.0))  # a long download does not hold anything up

    async def scenario() -> None:
        await asyncio.gather(
            *(gate.call(download, account=A, chat_id=-100, limited=False) for _ in range(50))
        )

        async def flooded(account: Account) -> None:
            raise RetryAfter(env.seconds(30))

        with pytest.raises(FloodRetriesExhausted):
            await gate.call(flooded, account=A, chat_id=-100, classifier=classify, timeout=None)

    env.run(scenario())
    # Side by side, none counted against 30/s or 20/min.
    assert env.model(max(starts) - min(starts)) < 0.1


def test_calls_to_no_chat_run_side_by_side(env: Env) -> None:
    env = env.at(1)
    gate = make_gate(env)
    finished: list[float] = []

    async def edit_inline(account: Account) -> None:
        await asyncio.sleep(env.seconds(0.5))
        finished.append(asyncio.get_running_loop().time())

    async def scenario() -> float:
        start = asyncio.get_running_loop().time()
        await asyncio.gather(*(gate.call(edit_inline, account=A, chat_id=None) for _ in range(10)))
        return start

    start = env.run(scenario())
    # Paced by the account window only (a burst, then 30/s), not one at a time.
    assert env.model(max(finished) - start) < 1.0
    assert gate.pending() == 0
