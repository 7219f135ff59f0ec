"""The gate: runs calls at the full speed Telegram permits, in order, without 429 storms.

Callers hand the gate a call factory; the gate decides when it runs and on
which account, and what a failure means (see DESIGN.md, "The gate's
contract"). The limits themselves live in a :class:`~sluice.limits.Limiter`:
in this process by default, shared through Redis to span processes. Each
account's lanes live in an :class:`~sluice.gate._scheduler.AccountScheduler`;
a call's states are in :mod:`sluice.gate._call`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from sluice._exceptions import (
    ConfigError,
    DeadlineExceeded,
    LimiterUnavailable,
    NoAccountAvailable,
    RetriesExhausted,
)
from sluice.accounts import Account
from sluice.gate._call import MOVE, Call, Priority, State
from sluice.gate._outcome import (
    Classifier,
    Fatal,
    Flood,
    Restricted,
    RetryPolicy,
    Transient,
    Unauthorized,
    Verdict,
    account_restricted,
    flood_retries_exhausted,
    pause_reason,
)
from sluice.gate._scheduler import AccountScheduler
from sluice.limits import Limiter, MemoryLimiter, SendResult, TelegramLimits

__all__ = ["Gate"]

log = logging.getLogger("sluice.gate")
T = TypeVar("T")
R = TypeVar("R")

_RECHECK_PAUSED = 1.0  # seconds before an account paused elsewhere is asked about again


def _fatal(exc: BaseException) -> Verdict:
    return Fatal()


class Gate:
    """Schedules Telegram calls within Telegram's limits.

    Parameters:
        accounts: the accounts calls may be sent as (more with :meth:`add_account`).
        limiter: where the limits are kept: a :class:`~sluice.limits.MemoryLimiter`
            (the default, this process only) or a :class:`~sluice.limits.RedisLimiter`
            shared by every process that sends as the same accounts.
        limits: what Telegram allows, for the default limiter (a given limiter
            brings its own).
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
        limiter: Limiter | None = None,
        limits: TelegramLimits | None = None,
        retry: RetryPolicy | None = None,
        classifier: Classifier = _fatal,
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
    ) -> None:
        self._clock = clock or time.monotonic
        if limiter is None:
            limiter = MemoryLimiter(limits, clock=self._clock)
        elif limits is not None and limits != limiter.limits:
            raise ConfigError("give the limits to the limiter, not to the gate as well")
        self.limiter = limiter
        self.limits = limiter.limits
        self.retry = retry or RetryPolicy()
        self.classifier = classifier
        self._rng = random.Random(seed)
        self._seq = itertools.count()
        self._accounts: dict[int, AccountScheduler] = {}
        self._paused_at: dict[int, float] = {}
        for account in accounts:
            self.add_account(account)

    def __repr__(self) -> str:
        return f"<Gate {len(self._accounts)} account(s) on {self.limiter!r}>"

    def now(self) -> float:
        return self._clock()

    def _loop_time(self, when: float) -> float:
        """``when`` on the gate's clock, as a time on the running loop's clock."""
        return asyncio.get_running_loop().time() + (when - self._clock())

    # -- accounts ------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        if account.id in self._accounts:
            raise ConfigError(f"account {account.label} is already in the gate")
        self._accounts[account.id] = AccountScheduler(
            account, self.limiter, self.now, self._loop_time, self._paused_elsewhere
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
        """Calls waiting for their turn (not admitted), on one account or all."""
        if account_id is not None:
            return self._scheduler(account_id).waiting
        return sum(s.waiting for s in self._accounts.values())

    async def pause(self, account_id: int, reason: str) -> None:
        """Stop sending as an account, in every process on the same limiter; its waiting
        calls that may go elsewhere move, the others fail."""
        scheduler = self._scheduler(account_id)
        self._pause_here(scheduler, reason)
        await self._steady(lambda: self.limiter.pause(account_id, reason))

    async def resume(self, account_id: int) -> None:
        """Send as a paused account again (for example after its token was fixed)."""
        scheduler = self._scheduler(account_id)
        await self._steady(lambda: self.limiter.resume(account_id))
        scheduler.account.resume()
        self._paused_at.pop(account_id, None)

    def _pause_here(self, scheduler: AccountScheduler, reason: str) -> None:
        scheduler.account.pause(reason)
        self._paused_at[scheduler.account.id] = self.now()
        scheduler.evict(movable_only=False)

    def _paused_elsewhere(self, scheduler: AccountScheduler, reason: str) -> None:
        """The limiter says another process paused the account."""
        self._pause_here(scheduler, reason)

    def health(self) -> dict[str, dict[str, object]]:
        """Each account's health as this process sees it, keyed by label (never a token)."""
        out: dict[str, dict[str, object]] = {}
        now = self.now()
        for scheduler in self._accounts.values():
            health = scheduler.account.health
            health.blocked_until = max(0.0, scheduler.blocked_until - now)
            row = health.as_dict() | {"waiting": scheduler.waiting}
            if isinstance(self.limiter, MemoryLimiter):
                shared = self.limiter.snapshot(scheduler.account.id, now)
                row["blocked_until"] = shared.blocked_until
                row["rate"] = shared.rate
            out[scheduler.account.label] = row
        return out

    async def shared_health(self) -> dict[str, dict[str, object]]:
        """Each account's health as every process on the limiter sees it: their counters
        summed, its flood block and its pause; this process's in-flight and waiting."""
        out: dict[str, dict[str, object]] = {}
        for scheduler in self._accounts.values():
            account = scheduler.account
            shared = await self.limiter.health(account.id)
            shared.in_flight = account.health.in_flight
            shared.last_used = account.health.last_used
            shared.rate = await self.limiter.rate(account.id)
            out[account.label] = shared.as_dict() | {"waiting": scheduler.waiting}
        return out

    async def drain(self) -> None:
        """Wait until the limiter heard of every answer so far (before closing it: an
        unconfirmed send holds its slot until this process's heartbeat lapses)."""
        await asyncio.gather(*(s.drain() for s in self._accounts.values()))

    async def aclose(self) -> None:
        """Drain, stop the timers, and close the limiter."""
        await self.drain()
        for scheduler in self._accounts.values():
            scheduler.close()
        await self.limiter.aclose()

    # -- calls -------------------------------------------------------------------------

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
        not ``limited`` (a download, reading history) is held back only by
        floods, never by the send limits, and orders nothing.
        """
        candidates = (account,) if isinstance(account, int) else tuple(account)
        if not candidates:
            raise ConfigError("a call needs at least one account")
        for candidate in candidates:
            self._scheduler(candidate)
        deadline = None if timeout is None else self.now() + timeout
        call = Call(
            next(self._seq), candidates, chat_id, method=method, priority=priority, flow=flow,
            paid=paid, limited=limited, deadline=deadline,
        )  # fmt: skip
        classify = classifier or self.classifier
        self._route(call)
        try:
            while True:
                scheduler = await self._admitted(call)
                result = await self._attempt(call, scheduler, factory, classify)
                if call.state is State.DONE:
                    return result  # type: ignore[return-value]
        finally:
            if call.account is not None:
                scheduler = self._accounts[call.account]
                if call.ticket is not None:  # admitted but never sent: nothing counts
                    scheduler.settle(call, SendResult.REFUSED)
                scheduler.leave(call)
            call.gone()

    async def _admitted(self, call: Call) -> AccountScheduler:
        """QUEUED -> ADMITTED, moving to another account as often as told; the scheduler
        of the account it was admitted on, once its ticket's delay has passed."""
        while True:
            assert call.account is not None
            scheduler = self._accounts[call.account]
            if await self._turn(call) is MOVE:
                scheduler.leave(call)
                self._route(call)
                continue
            ticket = call.ticket
            if ticket is not None and ticket.delay > 0:
                await self._sleep(ticket.delay, call)
                if scheduler.blocked_until > self.now():
                    # Admitted ahead, but a 429 closed the account meanwhile: it waits.
                    scheduler.settle(call, SendResult.REFUSED)
                    scheduler.retry_later(call, scheduler.blocked_until)
                    continue
            return scheduler

    async def _turn(self, call: Call) -> object:
        future = call.wakeup()
        if not isinstance(future, asyncio.Future):
            return future  # admitted (or moved) while it was being queued
        try:
            if call.deadline is None:
                return await future
            async with asyncio.timeout_at(self._loop_time(call.deadline)):
                return await future
        except TimeoutError:
            raise DeadlineExceeded(
                f"{call.method or 'the call'} could not be sent before its deadline",
                method=call.method,
                chat_id=call.chat,
            ) from None

    async def _attempt(
        self,
        call: Call,
        scheduler: AccountScheduler,
        factory: Callable[[Account], Awaitable[T]],
        classify: Classifier,
    ) -> T | None:
        """SENDING: run the factory; DONE with its result, or back to QUEUED, or raise."""
        account = scheduler.account
        health = account.health
        health.requests += 1
        health.in_flight += 1
        health.last_used = self.now()
        call.send()
        try:
            result = await factory(account)
        except asyncio.CancelledError:
            health.in_flight -= 1
            scheduler.settle(call, SendResult.FAILED)  # it may have reached Telegram
            raise
        except Exception as exc:
            health.in_flight -= 1
            await self._failed(call, scheduler, exc, classify(exc))
            return None
        health.in_flight -= 1
        health.successes += 1
        scheduler.settle(call, SendResult.OK)
        call.answered()
        return result

    async def _failed(
        self, call: Call, scheduler: AccountScheduler, exc: Exception, verdict: Verdict
    ) -> None:
        """What a failure means: retry (QUEUED again), move, or raise."""
        account = scheduler.account
        if isinstance(verdict, Flood):
            # A 429 is a refusal Telegram did not count.
            refused = call.ticket
            scheduler.settle(call, SendResult.REFUSED)
            account.health.floods += 1
            call.tries += 1
            flooded = await self._steady(
                lambda: self.limiter.flood(
                    account.id,
                    call.chat,
                    verdict.retry_after,
                    account_wide=verdict.account_wide,
                    refused=refused,
                ),
                call,
            )
            if flooded.account_wide:
                account.health.account_blocks += 1
            scheduler.on_flood(
                call, verdict.retry_after, flooded.seconds if flooded.account_wide else None
            )
            if call.tries > self.retry.flood_retries:
                raise flood_retries_exhausted(call.method, call.chat, call.tries) from exc
            if flooded.account_wide:
                scheduler.evict(movable_only=True)  # what may go elsewhere does
                if call.movable:
                    scheduler.leave(call)
                    self._route(call)
                    return
            self._again(call, scheduler, self.now() + verdict.retry_after, exc)
            return
        scheduler.settle(call, SendResult.FAILED)
        account.health.failures += 1
        if isinstance(verdict, Transient):
            if call.failures >= self.retry.transient_retries:
                raise RetriesExhausted(
                    f"{call.method or 'the call'} kept failing after {call.failures} retries: "
                    f"{type(exc).__name__}",
                    method=call.method,
                    chat_id=call.chat,
                ) from exc
            backoff = self.retry.backoff(call.failures, self._rng)
            call.failures += 1
            self._again(call, scheduler, self.now() + backoff, exc)
            return
        if isinstance(verdict, Unauthorized | Restricted):
            reason = pause_reason(verdict)
            await self.pause(account.id, reason)
            if isinstance(verdict, Restricted):
                raise account_restricted(account.label, verdict, call.method, call.chat) from exc
            # A refused token: the call moves to the next account it may use.
            scheduler.leave(call)
            self._route(call, cause=exc)
            return
        raise exc

    def _again(self, call: Call, scheduler: AccountScheduler, at: float, exc: Exception) -> None:
        """Back to QUEUED at the head of its lane, unless it could not go before its deadline."""
        if call.deadline is not None and at > call.deadline:
            raise DeadlineExceeded(
                f"{call.method or 'the call'} cannot be retried before its deadline",
                method=call.method,
                chat_id=call.chat,
            ) from exc
        scheduler.retry_later(call, at)

    # -- routing ---------------------------------------------------------------------

    def _route(self, call: Call, cause: BaseException | None = None) -> AccountScheduler:
        """QUEUED on the best account the call may use."""
        if len(call.accounts) == 1:
            only = self._accounts[call.accounts[0]]
            if not only.account.paused:
                only.enqueue(call)
                return only
        now = self.now()
        usable = [
            s
            for c in call.accounts
            if not (s := self._accounts[c]).account.paused
            or now - self._paused_at.get(c, now) >= _RECHECK_PAUSED
        ]
        if not usable:
            reasons = {
                self._accounts[c].account.label: self._accounts[c].account.health.paused or ""
                for c in call.accounts
            }
            error = NoAccountAvailable(
                f"no account can send {call.method or 'this call'}: every account it may use "
                f"is paused ({'; '.join(f'{k}: {v}' for k, v in reasons.items())})",
                method=call.method,
                chat_id=call.chat,
                reasons=reasons,
            )
            if cause is not None:
                raise error from cause
            raise error
        for scheduler in usable:
            if scheduler.account.paused:  # a second look: the limiter says if it still is
                scheduler.account.resume()
                self._paused_at.pop(scheduler.account.id, None)
        if len(usable) == 1:
            chosen = usable[0]
        else:
            # A chat with calls queued on an open account stays there until they are
            # sent: two accounts' lanes for one chat would race and break its order.
            sticky = [s for s in usable if s.has_backlog(call.chat) and s.blocked_until <= now]
            chosen = sticky[0] if sticky else min(usable, key=lambda s: self._preference(s, now))
        chosen.enqueue(call)
        return chosen

    def _preference(self, scheduler: AccountScheduler, now: float) -> tuple[Any, ...]:
        """Open soonest, most spare capacity, best success rate, fewest in flight, least recent."""
        spare = self.limiter.spare(scheduler.account.id)
        health = scheduler.account.health
        return (
            max(0.0, scheduler.blocked_until - now),
            -((spare if spare is not None else 0) - scheduler.waiting),
            -health.success_rate,
            health.in_flight,
            health.last_used,
        )

    # -- waiting -----------------------------------------------------------------------

    async def _sleep(self, seconds: float, call: Call) -> None:
        if call.deadline is not None and self.now() + seconds > call.deadline:
            raise DeadlineExceeded(
                f"{call.method or 'the call'} could not be sent before its deadline",
                method=call.method,
                chat_id=call.chat,
            )
        await asyncio.sleep(seconds)

    async def _steady(self, operation: Callable[[], Awaitable[R]], call: Call | None = None) -> R:
        """``operation()``, waiting out an outage of shared limits (with backoff), until
        the call's deadline if it has one."""
        backoff = 0.05
        while True:
            try:
                return await operation()
            except LimiterUnavailable as exc:
                log.warning("%s; waiting for them", exc)
                if (
                    call is not None
                    and call.deadline is not None
                    and self.now() + backoff > call.deadline
                ):
                    raise DeadlineExceeded(
                        f"{call.method or 'the call'}'s deadline passed while the shared "
                        "limits were unreachable",
                        method=call.method,
                        chat_id=call.chat,
                    ) from exc
                await asyncio.sleep(self._rng.uniform(backoff / 2, backoff))
                backoff = min(2.0, backoff * 2)
