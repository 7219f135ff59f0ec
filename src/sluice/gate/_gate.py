"""The gate: runs calls at the full speed Telegram permits, in order, without 429 storms.

Callers hand the gate a call factory; the gate decides when it runs and on
which account, and what a failure means (see DESIGN.md, "The gate's contract").
Scheduling is event-driven: a lane is examined when its head arrives, when the
call in flight finishes, or when a timer for its next open moment fires, so an
idle gate costs nothing and a busy one does no polling.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sluice._exceptions import (
    AccountRestricted,
    ConfigError,
    DeadlineExceeded,
    FloodRetriesExhausted,
    NoAccountAvailable,
    RetriesExhausted,
)
from sluice.accounts import Account
from sluice.gate._lanes import Call, Lane, Priority, ReadyQueue
from sluice.gate._outcome import Classifier, Fatal, Flood, Restricted, Transient, Unauthorized
from sluice.limits import AdaptiveRate, FloodLedger, SlidingWindow, TelegramLimits, TokenBucket

__all__ = ["Gate", "RetryPolicy"]

T = TypeVar("T")
_PRUNE_AT = 4096  # lanes per account before idle ones are forgotten


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the gate tries before it gives a call up.

    Parameters:
        transient_retries: retries after 5xx, network errors and timeouts.
        backoff_base, backoff_cap: exponential backoff with full jitter, in seconds.
        flood_retries: how many 429s one call may receive before it is given up.
    """

    transient_retries: int = 5
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    flood_retries: int = 20

    def __post_init__(self) -> None:
        if self.transient_retries < 0 or self.flood_retries < 0:
            raise ConfigError("retry counts must not be negative")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ConfigError("backoff needs 0 < backoff_base <= backoff_cap")


def _fatal(exc: BaseException) -> Fatal:
    return Fatal()


class _AccountState:
    __slots__ = (
        "account",
        "adaptive",
        "handle",
        "handle_at",
        "lanes",
        "ok_log",
        "paid",
        "prune_at",
        "ready",
        "timers",
        "waiting",
        "window",
    )

    def __init__(self, account: Account, limits: TelegramLimits) -> None:
        self.account = account
        self.window = SlidingWindow(limits.bot_count, limits.scaled(limits.bot_window))
        self.paid = SlidingWindow(limits.paid_count, limits.scaled(limits.paid_window))
        self.adaptive = AdaptiveRate(hold=30.0 / limits.speed)
        self.lanes: dict[Hashable, Lane] = {}
        self.ready = ReadyQueue()
        self.timers: list[tuple[float, int, Lane]] = []
        self.handle: asyncio.TimerHandle | None = None
        self.handle_at = 0.0
        self.waiting = 0  # calls queued in lanes, not in flight
        self.ok_log: deque[float] = deque(maxlen=limits.bot_count)
        self.prune_at = _PRUNE_AT


class Gate:
    """Schedules Telegram calls within Telegram's limits.

    Parameters:
        accounts: the accounts calls may be sent as (more with :meth:`add_account`).
        limits: what Telegram allows per account (Telegram's published figures by default).
        retry: retry and backoff policy.
        classifier: turns a call's exception into a verdict; integrations pass their own.
        clock: monotonic seconds; the running loop's clock by default.
        seed: seeds the backoff jitter (tests).
    """

    def __init__(
        self,
        accounts: Iterable[Account] = (),
        *,
        limits: TelegramLimits | None = None,
        retry: RetryPolicy | None = None,
        classifier: Classifier = _fatal,
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
    ) -> None:
        self.limits = limits or TelegramLimits()
        self.retry = retry or RetryPolicy()
        self.classifier = classifier
        self._clock = clock
        self._rng = random.Random(seed)
        self._seq = itertools.count()
        self._states: dict[int, _AccountState] = {}
        self.ledger = FloodLedger(escalate_window=max(0.5, 2.0 / self.limits.speed))
        for account in accounts:
            self.add_account(account)

    def now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def add_account(self, account: Account) -> None:
        if account.id in self._states:
            raise ConfigError(f"account {account.label} is already in the gate")
        self._states[account.id] = _AccountState(account, self.limits)

    @property
    def accounts(self) -> list[Account]:
        return [s.account for s in self._states.values()]

    def account(self, account_id: int) -> Account:
        state = self._states.get(account_id)
        if state is None:
            raise ConfigError(f"account {account_id} is not in the gate; add it first")
        return state.account

    def pending(self, account_id: int | None = None) -> int:
        states = self._states.values() if account_id is None else [self._states[account_id]]
        return sum(s.waiting for s in states)

    async def call(
        self,
        factory: Callable[[Account], Awaitable[T]],
        *,
        account: int | Sequence[int],
        chat_id: int | str | None,
        method: str = "",
        priority: Priority = Priority.DEFAULT,
        flow: Hashable = None,
        # Covers waits and retries; wrapping the call in asyncio.timeout instead
        # would cancel a request already on the wire and leave its fate unknown.
        timeout: float | None = None,  # noqa: ASYNC109
        paid: bool = False,
        classifier: Classifier | None = None,
    ) -> T:
        """Run ``factory(account)`` when Telegram's limits allow; retry what is worth retrying.

        ``account`` names the account, or the accounts that may serve the call
        (failover). ``timeout`` bounds the whole call, waits and retries included.
        """
        candidates = [account] if isinstance(account, int) else list(account)
        if not candidates:
            raise ConfigError("a call needs at least one account")
        classify = classifier or self.classifier
        deadline = None if timeout is None else self.now() + timeout
        call = Call(next(self._seq), priority, flow, paid, method)
        state = self._route(candidates, chat_id, method, call)
        transient = 0
        while True:
            await self._turn(state, call, deadline, chat_id)
            if state.account.quarantined:
                self._leave(state, call)
                state = self._route(candidates, chat_id, method, call)
                continue
            health = state.account.health
            health.requests += 1
            health.in_flight += 1
            health.last_used = self.now()
            try:
                result = await factory(state.account)
            except asyncio.CancelledError:
                health.in_flight -= 1
                self._leave(state, call)
                raise
            except Exception as exc:
                health.in_flight -= 1
                verdict = classify(exc)
                now = self.now()
                if isinstance(verdict, Flood):
                    health.floods += 1
                    call.tries += 1
                    self._on_flood(state, call, chat_id, verdict, now)
                    if call.tries > self.retry.flood_retries:
                        self._leave(state, call)
                        raise FloodRetriesExhausted(
                            f"Telegram answered 429 to {method or 'a call'} {call.tries} times; "
                            "giving up",
                            method=method,
                            chat_id=chat_id,
                        ) from exc
                    self._check_deadline(deadline, state, call, chat_id, method, exc)
                    continue
                health.failures += 1
                if isinstance(verdict, Transient) and transient < self.retry.transient_retries:
                    transient += 1
                    lane = call.lane
                    assert lane is not None
                    ceiling = min(self.retry.backoff_cap, self.retry.backoff_base * 2**transient)
                    lane.retry_at = now + self._rng.uniform(0, ceiling)
                    self._release(state, lane)
                    self._check_deadline(deadline, state, call, chat_id, method, exc)
                    continue
                self._leave(state, call)
                if isinstance(verdict, Transient):
                    raise RetriesExhausted(
                        f"{method or 'the call'} kept failing after {transient} retries: "
                        f"{type(exc).__name__}",
                        method=method,
                        chat_id=chat_id,
                    ) from exc
                if isinstance(verdict, Unauthorized):
                    self.quarantine(state.account.id, "unauthorized: the token was refused")
                    state = self._route(candidates, chat_id, method, call, cause=exc)
                    continue
                if isinstance(verdict, Restricted):
                    self.quarantine(state.account.id, "restricted by Telegram (PEER_FLOOD)")
                    raise AccountRestricted(
                        f"account {state.account.label} is spam-restricted by Telegram; "
                        "it is paused and its owner should check @SpamBot",
                        method=method,
                        chat_id=chat_id,
                    ) from exc
                raise
            else:
                health.in_flight -= 1
                health.successes += 1
                self._on_success(state, call)
                return result

    def quarantine(self, account_id: int, reason: str) -> None:
        """Stop using an account; waiting calls that may fail over move elsewhere."""
        state = self._states[account_id]
        state.account.quarantine(reason)
        for lane in list(state.lanes.values()):
            for call in lane.queue:
                if call.future is not None and not call.future.done():
                    call.future.set_result(True)

    def health(self) -> dict[str, dict[str, object]]:
        now = self.now()
        out = {}
        for state in self._states.values():
            health = state.account.health
            health.blocked_until = max(0.0, self.ledger.account_until(state.account.id, now) - now)
            out[state.account.label] = health.as_dict() | {"waiting": state.waiting}
        return out

    def _route(
        self,
        candidates: list[int],
        chat_id: int | str | None,
        method: str,
        call: Call,
        cause: BaseException | None = None,
    ) -> _AccountState:
        now = self.now()
        usable = [self._states[c] for c in candidates if not self._states[c].account.quarantined]
        if not usable:
            error = NoAccountAvailable(
                f"no account can send {method or 'this call'}: every allowed account is "
                "quarantined (check their tokens)",
                method=method,
                chat_id=chat_id,
            )
            if cause is not None:
                raise error from cause
            raise error
        state = min(usable, key=lambda s: self._preference(s, chat_id, now))
        lane = state.lanes.get(chat_id)
        if lane is None:
            lane = state.lanes[chat_id] = Lane(state.account.id, chat_id, self._limiter(chat_id))
        lane.insert(call)
        call.future = asyncio.get_running_loop().create_future()
        state.waiting += 1
        if lane.queue[0] is call:
            self._schedule(state, lane, now)
        return state

    def _preference(self, state: _AccountState, chat_id: Hashable, now: float) -> tuple[Any, ...]:
        account_id = state.account.id
        blocked = self.ledger.open_at(account_id, chat_id, now) > now
        spare = state.window.allowed - state.window.sent_since(now - state.window.span)
        health = state.account.health
        return (
            blocked,
            -(spare - state.waiting),
            -health.success_rate,
            health.in_flight,
            health.last_used,
        )

    def _limiter(self, chat_id: int | str | None) -> SlidingWindow | TokenBucket | None:
        lim = self.limits
        if chat_id is None or not lim.enabled:
            return None
        if isinstance(chat_id, int) and chat_id > 0:
            rate = lim.private_rate * lim.speed / (1.0 + lim.guard)
            return TokenBucket(rate, lim.private_burst, self.now())
        return SlidingWindow(lim.group_count, lim.scaled(lim.group_window))

    async def _turn(
        self, state: _AccountState, call: Call, deadline: float | None, chat_id: object
    ) -> None:
        """Wait until the gate grants this call (its lane's head, limits open)."""
        future = call.future
        assert future is not None
        if future.done():
            call.future = None
            return  # granted while it was being queued: no trip through the loop
        try:
            if deadline is None:
                await future
            else:
                async with asyncio.timeout_at(self._loop_time(deadline)):
                    await future
        except TimeoutError:
            self._leave(state, call)
            raise DeadlineExceeded(
                f"{call.method or 'the call'} could not be sent before its deadline",
                method=call.method,
                chat_id=chat_id,
            ) from None
        except asyncio.CancelledError:
            self._leave(state, call)
            raise
        finally:
            call.future = None

    def _loop_time(self, deadline: float) -> float:
        if self._clock is None:
            return deadline
        return asyncio.get_running_loop().time() + (deadline - self.now())

    def _check_deadline(
        self,
        deadline: float | None,
        state: _AccountState,
        call: Call,
        chat_id: object,
        method: str,
        exc: BaseException,
    ) -> None:
        lane = call.lane
        if deadline is None or lane is None:
            return
        now = self.now()
        opens = max(self.ledger.open_at(state.account.id, lane.chat, now), lane.retry_at)
        if opens > deadline:
            self._leave(state, call)
            raise DeadlineExceeded(
                f"{method or 'the call'} cannot be retried before its deadline",
                method=method,
                chat_id=chat_id,
            ) from exc

    def _schedule(self, state: _AccountState, lane: Lane, now: float) -> None:
        """Place an idle lane with a head where it belongs: ready, or on a timer."""
        if lane.busy or lane.queued or not lane.queue:
            return
        opens = max(self.ledger.chat_until(lane.account, lane.chat, now), lane.retry_at)
        if lane.limiter is not None:
            opens = max(opens, lane.limiter.ready_at(now))
        if opens > now:
            lane.queued = True
            heapq.heappush(state.timers, (opens, id(lane), lane))
            self._wake_at(state, opens)
            return
        state.ready.push(lane)
        self._pump(state)

    def _wake_at(self, state: _AccountState, when: float) -> None:
        if state.handle is not None and state.handle_at <= when:
            return
        if state.handle is not None:
            state.handle.cancel()
        loop = asyncio.get_running_loop()
        state.handle_at = when
        state.handle = loop.call_at(self._loop_time(when), self._on_timer, state)

    def _on_timer(self, state: _AccountState) -> None:
        state.handle = None
        now = self.now()
        while state.timers and state.timers[0][0] <= now:
            _, _, lane = heapq.heappop(state.timers)
            lane.queued = False
            self._schedule(state, lane, now)
        if state.timers:
            self._wake_at(state, state.timers[0][0])
        self._pump(state)

    def _pump(self, state: _AccountState) -> None:
        """Grant lane heads while the account's own limit allows."""
        now = self.now()
        account_id = state.account.id
        blocked = self.ledger.account_until(account_id, now)
        if blocked > now:
            if len(state.ready):
                self._wake_at(state, blocked)
            return
        ready = state.ready
        while len(ready):
            lane = ready.peek()
            assert lane is not None
            head = lane.queue[0] if lane.queue else None
            if head is None or lane.busy:
                ready.pop()
                continue
            window = state.paid if head.paid else state.window
            if self.limits.enabled:
                opens = window.ready_at(now)
                if opens > now:
                    self._wake_at(state, opens)
                    return
            ready.pop()
            if lane.limiter is not None and lane.limiter.ready_at(now) > now:
                self._schedule(state, lane, now)  # the chat closed meanwhile: back on a timer
                continue
            lane.busy = True
            state.waiting -= 1
            window.take(now)
            if lane.limiter is not None:
                lane.limiter.take(now)
            if head.future is not None and not head.future.done():
                head.future.set_result(True)

    def _release(self, state: _AccountState, lane: Lane) -> None:
        """The lane's call in flight came back and stays at the head (to be retried)."""
        lane.busy = False
        state.waiting += 1
        if lane.queue and lane.queue[0].future is None:
            lane.queue[0].future = asyncio.get_running_loop().create_future()
        self._schedule(state, lane, self.now())

    def _leave(self, state: _AccountState, call: Call) -> None:
        """Take a call out of its lane (done, given up, cancelled) and move the lane on."""
        lane = call.lane
        if lane is None:
            return
        call.lane = None
        was_head = bool(lane.queue) and lane.queue[0] is call
        if was_head and lane.busy:
            lane.busy = False
        else:
            state.waiting -= 1
        try:
            lane.queue.remove(call)
        except ValueError:
            return
        if lane.queue and was_head:
            self._schedule(state, lane, self.now())
        elif not lane.queue and len(state.lanes) > state.prune_at:
            self._prune(state)

    def _prune(self, state: _AccountState) -> None:
        # A lane outlives its calls while its chat's limiter remembers recent sends:
        # a fresh lane would start with a full burst and earn a 429.
        now = self.now()
        for chat, lane in list(state.lanes.items()):
            idle = lane.limiter is None or lane.limiter.idle(now)
            if not lane.queue and not lane.busy and not lane.queued and idle:
                del state.lanes[chat]
        state.prune_at = max(_PRUNE_AT, 2 * len(state.lanes))

    def _on_success(self, state: _AccountState, call: Call) -> None:
        now = self.now()
        state.ok_log.append(now)
        self.ledger.record_success(state.account.id)
        lane = call.lane
        if lane is not None and lane.limiter is not None and lane.adaptive.on_success(now):
            lane.limiter.factor = lane.adaptive.factor
        if state.adaptive.on_success(now):
            state.window.factor = state.adaptive.factor
        self._leave(state, call)

    def _on_flood(
        self, state: _AccountState, call: Call, chat_id: Hashable, verdict: Flood, now: float
    ) -> None:
        lane = call.lane
        assert lane is not None
        until = now + verdict.retry_after
        account_id = state.account.id
        if verdict.account_wide:
            escalated = True
            self.ledger.block_account(account_id, until)
        else:
            escalated = self.ledger.record_flood(account_id, chat_id, until, now)
        if escalated:
            # Telegram accepted what went through in the last real window: that is its count.
            real_span = self.limits.bot_window / self.limits.speed
            accepted = sum(1 for t in state.ok_log if t >= now - real_span)
            observed = accepted / self.limits.bot_count if accepted else None
            state.window.factor = state.adaptive.on_flood(now, observed)
        elif lane.limiter is not None:
            lane.limiter.factor = lane.adaptive.on_flood(now)
        self._release(state, lane)
