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
import collections
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import TypeVar

from sluice._exceptions import ConfigError, DeadlineExceeded, RetriesExhausted
from sluice.accounts import Account
from sluice.gate._keys import chat_key
from sluice.gate._lanes import Priority
from sluice.gate._outcome import Classifier, Flood, Transient
from sluice.limits._redis import RedisLimiter, Ticket

__all__ = ["DistributedGate"]

T = TypeVar("T")


class DistributedGate:
    """Send through limits shared by every process on the same Redis.

    Parameters:
        limiter: the shared limits and flood keys.
        transient_retries: retries of 5xx and network errors (full-jitter backoff).
    """

    def __init__(self, limiter: RedisLimiter, *, transient_retries: int = 5) -> None:
        self.limiter = limiter
        self.transient_retries = transient_retries
        self._accounts: dict[int, Account] = {}
        self._lanes: dict[tuple[int, Hashable], asyncio.Lock] = {}
        self._rng = random.Random()
        self.floods = 0
        self._recent: dict[int, collections.deque[tuple[float, Hashable]]] = {}

    def has_account(self, account_id: int) -> bool:
        return account_id in self._accounts

    def add_account(self, account: Account) -> None:
        self._accounts.setdefault(account.id, account)

    def health(self) -> dict[str, dict[str, object]]:
        return {a.label: a.health.as_dict() for a in self._accounts.values()}

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
        if not isinstance(account, int):
            if len(account) != 1:
                raise ConfigError("a DistributedGate call names exactly one account")
            account = account[0]
        chosen = self._accounts.setdefault(account, Account(account, "bot"))
        deadline = None if timeout is None else time.monotonic() + timeout
        key = chat_key(chat_id)
        lane = self._lanes.setdefault((account, key), asyncio.Lock())
        async with lane:  # FIFO: one call per (account, chat) at a time, in order
            failures = 0
            while True:
                ticket = await self._admit(account, key, paid, deadline) if limited else None
                try:
                    result = await factory(chosen)
                except Exception as exc:
                    if ticket is not None:
                        await self.limiter.confirm(ticket)
                    verdict = classifier(exc) if classifier is not None else None
                    failures = await self._retry_or_raise(
                        exc, verdict, account, key, method, failures, deadline
                    )
                    continue
                if ticket is not None:
                    # Not awaited by the caller: the answer is theirs now; the window
                    # only needs to learn of it (batched with other answers).
                    asyncio.get_running_loop().create_task(self.limiter.confirm(ticket))
                return result

    async def _retry_or_raise(
        self,
        exc: Exception,
        verdict: object,
        account: int,
        key: Hashable | None,
        method: str,
        failures: int,
        deadline: float | None,
    ) -> int:
        """Wait as the failure asks and return the transient failures so far; or raise."""
        if isinstance(verdict, Flood):
            self.floods += 1
            scope = None if verdict.account_wide or self._storm(account, key) else key
            await self.limiter.flood(account, scope, verdict.retry_after)
            return failures
        if not isinstance(verdict, Transient):
            raise exc
        if failures >= self.transient_retries:
            raise RetriesExhausted(f"{method or 'call'} failed {failures + 1} times") from exc
        failures += 1
        await self._sleep(self._rng.uniform(0, min(5.0, 0.1 * 2**failures)), deadline)
        return failures

    def _storm(self, account: int, key: Hashable | None) -> bool:
        """Several 429s in a row from two chats or more: Telegram closed the whole bot
        (as the in-process gate's ledger decides), so every process waits, not each chat."""
        limits = self.limiter.limits
        now = time.monotonic()
        recent = self._recent.setdefault(account, collections.deque(maxlen=limits.escalate_after))
        recent.append((now, key))
        window = limits.escalate_window / limits.speed
        return (
            len(recent) == limits.escalate_after
            and now - recent[0][0] <= window
            and len({chat for _, chat in recent}) >= 2
        )

    async def _admit(
        self, account: int, key: Hashable | None, paid: bool, deadline: float | None
    ) -> Ticket:
        while True:
            granted = await self.limiter.acquire(account, key, paid=paid)
            if isinstance(granted, Ticket):
                return granted
            await self._sleep(granted, deadline)

    async def _sleep(self, seconds: float, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() + seconds > deadline:
            raise DeadlineExceeded("the call's deadline passed while waiting for Telegram's limits")
        await asyncio.sleep(seconds)
