"""The gate for many processes: Telegram's limits and floods shared through Redis.

:class:`DistributedGate` has the :class:`~sluice.gate.Gate`'s ``call`` (so
:class:`~sluice.integrations.aiogram.GateMiddleware` takes either) and asks a
:class:`~sluice.limits.RedisLimiter` before each send instead of in-process
windows. Within a process, calls for one (account, chat) still run one at a
time in the order they were made. Across processes, order per chat holds
because a chat's work is routed to one process at a time (see
:func:`sluice.jobs.sharded_broadcast` and the README's "Scaling out"): the limiter
shares the budget, not the order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from sluice._exceptions import ConfigError, DeadlineExceeded, NoAccountAvailable, RetriesExhausted
from sluice.accounts import Account
from sluice.gate._keys import chat_key
from sluice.gate._lanes import Priority
from sluice.gate._outcome import (
    Classifier,
    Flood,
    Restricted,
    RetryPolicy,
    Transient,
    Unauthorized,
    account_restricted,
    flood_retries_exhausted,
    pause_reason,
)
from sluice.limits import AccountPaused, Limiter, LimiterUnavailable, Outcome, Ticket

__all__ = ["DistributedGate"]

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("sluice.gate")

_PAUSE_CHECK = 1.0  # seconds an account seen paused is skipped before it is asked again
_CONFIRM_FOR = 300.0  # seconds an answer is kept trying to reach an unreachable limiter


class _Lane:
    """One chat's calls in this process: a FIFO lock, and how many calls hold or await it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class DistributedGate:
    """Send through limits shared by every process on the same limiter.

    Parameters:
        limiter: the shared limits, flood ledger, adaptive rates and account health
            (a :class:`~sluice.limits.RedisLimiter`; a
            :class:`~sluice.limits.MemoryLimiter` for one process).
        retry: how hard to try before giving a call up (the in-process gate's policy).

    Priorities are shared as headroom: while anything but ``BULK`` calls went
    out as a bot in the last two windows (in any process), its ``BULK`` calls
    (broadcasts) leave a few slots of its window free for them.

    While the shared limits are unreachable (Redis restarting, a network
    split) nothing is sent: calls wait, asking again with backoff, until
    they are back or the call's deadline passes.

    A call may name several accounts: it goes as the first one that is not
    paused, and moves on when Telegram refuses a token. A restricted account
    (PEER_FLOOD and the like) is paused for every process and the call fails:
    sluice does not work around a restriction.
    """

    def __init__(self, limiter: Limiter, *, retry: RetryPolicy | None = None) -> None:
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self._accounts: dict[int, Account] = {}
        self._lanes: dict[tuple[tuple[int, ...], Hashable], _Lane] = {}
        self._paused: dict[int, float] = {}  # account -> when it was last seen paused
        self._rng = random.Random()
        self._confirming: set[asyncio.Task[None]] = set()
        self._outage = False
        self.floods = 0

    def has_account(self, account_id: int) -> bool:
        return account_id in self._accounts

    def add_account(self, account: Account) -> None:
        self._accounts.setdefault(account.id, account)

    def health(self) -> dict[str, dict[str, object]]:
        """This process's view of each account it used, keyed by label."""
        return {a.label: a.health.as_dict() for a in self._accounts.values()}

    async def shared_health(self) -> dict[str, dict[str, object]]:
        """Each account's health as every process sees it: counters summed over
        them, its flood block and its pause (the reason), from the limiter."""
        out = {}
        for account in self._accounts.values():
            shared = await self.limiter.health(account.id)
            shared.in_flight = account.health.in_flight
            shared.last_used = account.health.last_used
            out[account.label] = shared.as_dict()
        return out

    async def drain(self) -> None:
        """Wait until the limiter has heard of every answer so far (before closing it:
        an unconfirmed send holds its slot until this process's heartbeat lapses)."""
        while self._confirming:
            await asyncio.gather(*self._confirming, return_exceptions=True)

    async def pause(self, account_id: int, reason: str) -> None:
        """Stop every process from sending as this account (until :meth:`resume`)."""
        await self.limiter.pause(account_id, reason)

    async def resume(self, account_id: int) -> None:
        self._paused.pop(account_id, None)
        await self.limiter.resume(account_id)

    async def call(
        self,
        factory: Callable[[Account], Awaitable[T]],
        *,
        account: int | Sequence[int],
        chat_id: Hashable | None,
        method: str = "",
        priority: Priority = Priority.DEFAULT,
        flow: Hashable = None,
        timeout: float | None = None,  # noqa: ASYNC109 - covers waits and retries
        paid: bool = False,
        limited: bool = True,
        classifier: Classifier | None = None,
    ) -> T:
        """Run ``factory(account)`` once the shared limits allow; retry floods and 5xx."""
        candidates = (account,) if isinstance(account, int) else tuple(account)
        if not candidates:
            raise ConfigError("a call needs at least one account")
        deadline = None if timeout is None else time.monotonic() + timeout
        key = chat_key(chat_id)
        lane_key = (candidates, key)
        lane = self._lanes.get(lane_key)
        if lane is None:
            lane = self._lanes[lane_key] = _Lane()
        lane.users += 1
        try:
            async with lane.lock:  # FIFO: one call per chat at a time, in order
                return await self._send(
                    factory, candidates, key, chat_id, method, priority, deadline, paid, limited,
                    classifier,
                )  # fmt: skip
        finally:
            lane.users -= 1
            if not lane.users:  # a broadcast's millions of chats leave nothing behind
                del self._lanes[lane_key]

    async def _send(
        self,
        factory: Callable[[Account], Awaitable[T]],
        candidates: tuple[int, ...],
        key: Hashable | None,
        chat_id: Hashable | None,
        method: str,
        priority: Priority,
        deadline: float | None,
        paid: bool,
        limited: bool,
        classifier: Classifier | None,
    ) -> T:
        failures = floods = 0
        while True:
            bulk = priority >= Priority.BULK
            chosen, ticket = await self._admit(candidates, key, paid, bulk, limited, deadline)
            health = chosen.health
            health.requests += 1
            health.in_flight += 1
            health.last_used = time.time()
            try:
                result = await factory(chosen)
            except asyncio.CancelledError:
                health.in_flight -= 1
                if ticket is not None:  # it may have reached Telegram: it counts
                    self._confirm_later(ticket, "failed")
                raise
            except Exception as exc:
                health.in_flight -= 1
                verdict = classifier(exc) if classifier is not None else None
                if ticket is not None:
                    refused = isinstance(verdict, Flood)  # a 429 is not counted
                    await self._confirm(ticket, "refused" if refused else "failed")
                if isinstance(verdict, Flood):
                    health.floods += 1
                    floods += 1
                    self.floods += 1
                    report = functools.partial(
                        self.limiter.flood,
                        chosen.id,
                        key,
                        verdict.retry_after,
                        account_wide=verdict.account_wide,
                    )
                    await self._steady(report, deadline)
                    if floods > self.retry.flood_retries:
                        raise flood_retries_exhausted(method, chat_id, floods) from exc
                    continue
                health.failures += 1
                if isinstance(verdict, Unauthorized | Restricted):
                    await self._pause(chosen, verdict, method, chat_id, exc)
                    continue  # an unauthorized account's call moves to the next one
                failures = await self._retry_or_raise(exc, verdict, method, failures, deadline)
                continue
            health.in_flight -= 1
            health.successes += 1
            if ticket is not None:
                # Not awaited by the caller: the answer is theirs now; the window
                # only needs to learn of it (batched with other answers).
                self._confirm_later(ticket, "ok")
            return result

    def _confirm_later(self, ticket: Ticket, outcome: Outcome) -> None:
        task = asyncio.get_running_loop().create_task(self._confirm(ticket, outcome))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)

    async def _pause(
        self,
        account: Account,
        verdict: Unauthorized | Restricted,
        method: str,
        chat_id: Hashable | None,
        exc: Exception,
    ) -> None:
        reason = pause_reason(verdict)
        account.quarantine(reason)
        self._paused[account.id] = time.monotonic()
        await self._steady(lambda: self.limiter.pause(account.id, reason), None)
        if isinstance(verdict, Restricted):
            raise account_restricted(account.label, verdict, method, chat_id) from exc

    async def _retry_or_raise(
        self,
        exc: Exception,
        verdict: object,
        method: str,
        failures: int,
        deadline: float | None,
    ) -> int:
        """Wait as a transient failure asks and return the failures so far; or raise."""
        if not isinstance(verdict, Transient):
            raise exc
        if failures >= self.retry.transient_retries:
            raise RetriesExhausted(
                f"{method or 'the call'} kept failing after {failures} retries: "
                f"{type(exc).__name__}",
                method=method,
            ) from exc
        await self._sleep(self.retry.backoff(failures, self._rng), deadline)
        return failures + 1

    async def _admit(
        self,
        candidates: tuple[int, ...],
        key: Hashable | None,
        paid: bool,
        bulk: bool,
        limited: bool,
        deadline: float | None,
    ) -> tuple[Account, Ticket | None]:
        """The first account that is not paused, and its admission (after its delay)."""
        while True:
            now = time.monotonic()
            usable = [
                a for a in candidates if now - self._paused.get(a, -_PAUSE_CHECK) >= _PAUSE_CHECK
            ]
            if not usable:
                raise NoAccountAvailable("every account this call may use is paused", chat_id=key)
            for account_id in usable:
                chosen = self._accounts.setdefault(account_id, Account(account_id, "bot"))
                if not limited:
                    return chosen, None
                try:
                    ask = functools.partial(
                        self.limiter.acquire, account_id, key, paid=paid, bulk=bulk
                    )
                    granted = await self._steady(ask, deadline)
                except AccountPaused as paused:
                    chosen.quarantine(paused.reason)
                    self._paused[account_id] = time.monotonic()
                    continue
                if isinstance(granted, Ticket):
                    if granted.delay > 0:
                        await self._sleep(granted.delay, deadline)
                    return chosen, granted
                # The first usable account keeps the chat's order: wait for it.
                await self._sleep(granted, deadline)
                break

    async def _steady(self, operation: Callable[[], Awaitable[R]], deadline: float | None) -> R:
        """``operation()``, waiting out an outage of the shared limits (with backoff)."""
        backoff = 0.05
        while True:
            try:
                result = await operation()
            except LimiterUnavailable as exc:
                if not self._outage:
                    self._outage = True
                    log.warning("%s; nothing is sent until they are back", exc)
                await self._sleep(self._rng.uniform(backoff / 2, backoff), deadline)
                backoff = min(2.0, backoff * 2)
                continue
            if self._outage:
                self._outage = False
                log.warning("the shared limits are reachable again")
            return result

    async def _confirm(self, ticket: Ticket, outcome: Outcome) -> None:
        try:
            await self._steady(
                lambda: self.limiter.confirm(ticket, outcome), time.monotonic() + _CONFIRM_FOR
            )
        except DeadlineExceeded:  # its entry leaves the window when its in-flight time is up
            log.warning("an answer never reached the shared limits; its slot frees itself")

    async def _sleep(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() + seconds > deadline:
            raise DeadlineExceeded("the call's deadline passed while waiting for Telegram's limits")
        await asyncio.sleep(seconds)
