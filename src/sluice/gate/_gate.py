"""The gate: runs calls at the full speed Telegram permits, in order, without 429 storms.

Callers hand the gate a call factory; the gate decides when it runs and on
which account, and what a failure means (see DESIGN.md, "The gate's
contract"). Each account's lanes and limits live in an
:class:`~sluice.gate._scheduler.AccountScheduler`; this module routes calls
to accounts and turns each outcome into the next step: done, retry at the
head of the lane, fail over, or raise.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from sluice._exceptions import (
    ConfigError,
    DeadlineExceeded,
    NoAccountAvailable,
    RetriesExhausted,
)
from sluice.accounts import Account
from sluice.gate._lanes import Call, Priority
from sluice.gate._outcome import (
    Classifier,
    Fatal,
    Flood,
    Restricted,
    RetryPolicy,
    Transient,
    Unauthorized,
    account_restricted,
    flood_retries_exhausted,
    pause_reason,
)
from sluice.gate._scheduler import AccountScheduler
from sluice.limits import FloodLedger, TelegramLimits

__all__ = ["Gate"]

T = TypeVar("T")


def _fatal(exc: BaseException) -> Fatal:
    return Fatal()


class Gate:
    """Schedules Telegram calls within Telegram's limits.

    Parameters:
        accounts: the accounts calls may be sent as (more with :meth:`add_account`).
        limits: what Telegram allows per account (Telegram's published figures by default).
        retry: retry and backoff policy.
        classifier: turns a call's exception into a verdict; integrations pass their own.
        clock: monotonic seconds; ``time.monotonic`` by default (precise even under
            uvloop, whose loop clock moves in whole milliseconds). Inject the loop's
            own clock to run the gate on virtual time.
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
        self._clock = clock or time.monotonic
        self._rng = random.Random(seed)
        self._seq = itertools.count()
        self._accounts: dict[int, AccountScheduler] = {}
        lim = self.limits
        self.ledger = FloodLedger(lim.escalate_after, lim.escalate_window / lim.speed)
        for account in accounts:
            self.add_account(account)

    def now(self) -> float:
        return self._clock()

    def _loop_time(self, when: float) -> float:
        """``when`` on the gate's clock, as a time on the running loop's clock."""
        return asyncio.get_running_loop().time() + (when - self._clock())

    def add_account(self, account: Account) -> None:
        if account.id in self._accounts:
            raise ConfigError(f"account {account.label} is already in the gate")
        self._accounts[account.id] = AccountScheduler(
            account, self.limits, self.ledger, self.now, self._loop_time
        )

    def has_account(self, account_id: int) -> bool:
        return account_id in self._accounts

    @property
    def accounts(self) -> list[Account]:
        return [s.account for s in self._accounts.values()]

    def account(self, account_id: int) -> Account:
        return self._scheduler(account_id).account

    def _scheduler(self, account_id: int) -> AccountScheduler:
        scheduler = self._accounts.get(account_id)
        if scheduler is None:
            raise ConfigError(f"account {account_id} is not in the gate; add it first")
        return scheduler

    def pending(self, account_id: int | None = None) -> int:
        """Calls waiting for their turn (not in flight), on one account or all."""
        if account_id is not None:
            return self._scheduler(account_id).waiting
        return sum(s.waiting for s in self._accounts.values())

    async def call(
        self,
        factory: Callable[[Account], Awaitable[T]],
        *,
        account: int | Sequence[int],
        chat_id: Hashable | None,
        method: str = "",
        priority: Priority = Priority.DEFAULT,
        flow: Hashable = None,
        # Covers waits and retries; wrapping the call in asyncio.timeout instead
        # would cancel a request already on the wire and leave its fate unknown.
        timeout: float | None = None,  # noqa: ASYNC109
        paid: bool = False,
        limited: bool = True,
        classifier: Classifier | None = None,
    ) -> T:
        """Run ``factory(account)`` when Telegram's limits allow; retry what is worth retrying.

        ``account`` names the account, or the accounts that may serve the call
        (failover; a private chat belongs to the bot the user started, so name
        one). Calls for the same (account, chat) run one at a time in the order
        they were made. ``timeout`` bounds the whole call, waits and retries
        included, and raises :class:`~sluice.DeadlineExceeded`. A call that is
        not ``limited`` (a download, reading history) is held back only by the
        flood ledger, never by the send limits, and orders nothing.
        """
        candidates = [account] if isinstance(account, int) else list(account)
        if not candidates:
            raise ConfigError("a call needs at least one account")
        for candidate in candidates:
            self._scheduler(candidate)
        classify = classifier or self.classifier
        deadline = None if timeout is None else self.now() + timeout
        call = Call(next(self._seq), priority, flow, paid, method, tuple(candidates), limited)
        scheduler = self._route(candidates, chat_id, call)
        transient = 0
        while True:
            await self._turn(scheduler, call, deadline, chat_id)
            if not call.granted or scheduler.account.quarantined:
                # Woken to move: its account was quarantined or closed by a flood.
                scheduler.settle(call, counted=False)
                scheduler.leave(call)
                scheduler = self._route(candidates, chat_id, call)
                continue
            health = scheduler.account.health
            health.requests += 1
            health.in_flight += 1
            health.last_used = self.now()
            try:
                result = await factory(scheduler.account)
            except asyncio.CancelledError:
                health.in_flight -= 1
                scheduler.settle(call, counted=True)  # it may have reached Telegram
                scheduler.leave(call)
                raise
            except Exception as exc:
                health.in_flight -= 1
                verdict = classify(exc)
                # A 429 is a refusal Telegram did not count; anything else may have been.
                scheduler.settle(call, counted=not isinstance(verdict, Flood))
                if isinstance(verdict, Flood):
                    health.floods += 1
                    call.tries += 1
                    closed = scheduler.on_flood(
                        call, verdict.retry_after, account_wide=verdict.account_wide
                    )
                    if call.tries > self.retry.flood_retries:
                        scheduler.leave(call)
                        raise flood_retries_exhausted(method, chat_id, call.tries) from exc
                    if closed:
                        # The whole account is closed: whatever may go elsewhere does.
                        scheduler.release(movable_only=True)
                    if closed and call.movable:
                        scheduler.leave(call)
                        scheduler = self._route(candidates, chat_id, call)
                    else:
                        scheduler.retry_later(call)
                    self._check_deadline(deadline, scheduler, call, chat_id, exc)
                    continue
                health.failures += 1
                if isinstance(verdict, Transient) and transient < self.retry.transient_retries:
                    lane = call.lane
                    assert lane is not None
                    lane.retry_at = self.now() + self.retry.backoff(transient, self._rng)
                    transient += 1
                    scheduler.retry_later(call)
                    self._check_deadline(deadline, scheduler, call, chat_id, exc)
                    continue
                scheduler.leave(call)
                if isinstance(verdict, Transient):
                    raise RetriesExhausted(
                        f"{method or 'the call'} kept failing after {transient} retries: "
                        f"{type(exc).__name__}",
                        method=method,
                        chat_id=chat_id,
                    ) from exc
                if isinstance(verdict, Unauthorized):
                    self.quarantine(scheduler.account.id, pause_reason(verdict))
                    scheduler = self._route(candidates, chat_id, call, cause=exc)
                    continue
                if isinstance(verdict, Restricted):
                    self.quarantine(scheduler.account.id, pause_reason(verdict))
                    raise account_restricted(
                        scheduler.account.label, verdict, method, chat_id
                    ) from exc
                raise
            else:
                health.in_flight -= 1
                health.successes += 1
                scheduler.settle(call, counted=True)
                scheduler.on_success(call)
                scheduler.leave(call)
                return result

    def quarantine(self, account_id: int, reason: str) -> None:
        """Stop using an account; its waiting calls that may fail over move elsewhere."""
        scheduler = self._scheduler(account_id)
        scheduler.account.quarantine(reason)
        scheduler.release(movable_only=False)

    def release(self, account_id: int) -> None:
        """Use a quarantined account again (for example after its token was fixed)."""
        self._scheduler(account_id).account.release()

    def health(self) -> dict[str, dict[str, object]]:
        """Each account's health, keyed by its label (never a token)."""
        now = self.now()
        out: dict[str, dict[str, object]] = {}
        for scheduler in self._accounts.values():
            health = scheduler.account.health
            until = self.ledger.account_until(scheduler.account.id, now)
            health.blocked_until = max(0.0, until - now)
            out[scheduler.account.label] = health.as_dict() | {
                "waiting": scheduler.waiting,
                # The account's send rate as a fraction of the published one (< 1
                # after Telegram refused more than the model allowed).
                "rate": round(scheduler.window.factor, 4),
            }
        return out

    async def shared_health(self) -> dict[str, dict[str, object]]:
        """:meth:`health`, as :meth:`DistributedGate.shared_health` reads every process's:
        an in-process gate is the only one its accounts send through."""
        return self.health()

    def _route(
        self,
        candidates: list[int],
        chat_id: Hashable | None,
        call: Call,
        cause: BaseException | None = None,
    ) -> AccountScheduler:
        usable = [self._accounts[c] for c in candidates]
        usable = [s for s in usable if not s.account.quarantined]
        if not usable:
            error = NoAccountAvailable(
                f"no account can send {call.method or 'this call'}: every allowed account is "
                "quarantined (check their tokens)",
                method=call.method,
                chat_id=chat_id,
            )
            if cause is not None:
                raise error from cause
            raise error
        now = self.now()
        # A chat with calls queued on an open account stays there until they are sent:
        # two accounts' lanes for one chat would race and break its order.
        sticky = [
            s
            for s in usable
            if s.has_backlog(chat_id) and self.ledger.account_until(s.account.id, now) <= now
        ]
        if len(usable) == 1:
            scheduler = usable[0]
        elif sticky:
            scheduler = sticky[0]
        else:
            scheduler = min(usable, key=lambda s: self._preference(s, chat_id, now))
        scheduler.enqueue(call, chat_id)
        return scheduler

    def _preference(
        self, scheduler: AccountScheduler, chat_id: Hashable, now: float
    ) -> tuple[Any, ...]:
        """Open soonest, most spare capacity, best success rate, fewest in flight, least recent."""
        blocked = max(0.0, self.ledger.open_at(scheduler.account.id, chat_id, now) - now)
        window = scheduler.window
        spare = window.allowed - window.sent_since(now - window.span) - window.in_flight
        health = scheduler.account.health
        return (
            blocked,
            -(spare - scheduler.waiting),
            -health.success_rate,
            health.in_flight,
            health.last_used,
        )

    async def _turn(
        self,
        scheduler: AccountScheduler,
        call: Call,
        deadline: float | None,
        chat_id: Hashable | None,
    ) -> None:
        """Wait until the scheduler grants this call (its lane's head, limits open)."""
        future = call.future
        assert future is not None
        try:
            if future.done():
                return  # granted while it was being queued: no trip through the loop
            if deadline is None:
                await future
            else:
                async with asyncio.timeout_at(self._loop_time(deadline)):
                    await future
        except TimeoutError:
            scheduler.settle(call, counted=False)
            scheduler.leave(call)
            raise DeadlineExceeded(
                f"{call.method or 'the call'} could not be sent before its deadline",
                method=call.method,
                chat_id=chat_id,
            ) from None
        except asyncio.CancelledError:
            scheduler.settle(call, counted=False)
            scheduler.leave(call)
            raise
        finally:
            call.future = None

    def _check_deadline(
        self,
        deadline: float | None,
        scheduler: AccountScheduler,
        call: Call,
        chat_id: Hashable | None,
        exc: BaseException,
    ) -> None:
        """Give up now, not later, when the retry cannot start before the deadline."""
        lane = call.lane
        if deadline is None or lane is None:
            return
        now = self.now()
        opens = max(self.ledger.open_at(scheduler.account.id, lane.chat, now), lane.retry_at)
        if opens > deadline:
            scheduler.leave(call)
            raise DeadlineExceeded(
                f"{call.method or 'the call'} cannot be retried before its deadline",
                method=call.method,
                chat_id=chat_id,
            ) from exc
