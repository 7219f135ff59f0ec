"""The limiter: what the gate asks before every send, whichever backend keeps the limits.

One process or many, the :class:`~sluice.gate.Gate` schedules the same way;
only where Telegram's limit model keeps its state differs: in the process
(:class:`~sluice.limits.MemoryLimiter`) or in Redis for every process that
shares a bot (:class:`~sluice.limits.RedisLimiter`). A limiter answers a
:class:`Request` with a :class:`Ticket` (send after ``delay``), a
:class:`Wait` (and says which scope is full or closed) or :class:`Paused`;
hears each send's :class:`SendResult` and each 429 (:meth:`Limiter.flood`).

The hot path has a synchronous form (:meth:`Limiter.acquire_now`,
:meth:`Limiter.confirm_now`) that a backend answers without I/O when it can:
the memory backend always, so a gate on it never awaits to admit a send.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sluice._exceptions import ConfigError
from sluice.accounts import Health
from sluice.limits._config import TelegramLimits

__all__ = [
    "Answer",
    "Flooded",
    "Limiter",
    "Paused",
    "Request",
    "Scope",
    "SendResult",
    "Ticket",
    "Wait",
    "from_url",
    "is_private",
]


class SendResult(StrEnum):
    """How a send ended, as the limits count it."""

    OK = "ok"  # answered: Telegram counted it
    FAILED = "failed"  # failed after it may have reached Telegram: it counts
    REFUSED = "refused"  # a 429: Telegram did not count it


class Scope(StrEnum):
    """What a :class:`Wait` is for: the whole account, or one chat."""

    ACCOUNT = "account"
    CHAT = "chat"


# Requests, tickets and waits are made for every send: named tuples, which cost a
# third of a frozen dataclass to build.
class Request(NamedTuple):
    """One send the gate would like to start."""

    account: int
    chat: Hashable | None  # the chat's key (``sluice.gate.chat_key``); None: no chat
    paid: bool = False  # allow_paid_broadcast: the account's paid budget
    bulk: bool = False  # a broadcast's: leaves headroom while others are being sent


class Ticket(NamedTuple):
    """An admitted send: start it after ``delay`` seconds, then confirm it."""

    member: Hashable  # the backend's name for the send
    account: int
    chat: Hashable | None  # the chat's key, None when the send has no chat
    delay: float = 0.0
    paid: bool = False


class Wait(NamedTuple):
    """Not now: ask again in ``seconds`` (``inf``: when a send in flight is answered).

    ``scope``: what is full or closed. ``on_answer``: an answer in flight will
    open it, maybe sooner than ``seconds`` (the earliest it can)."""

    seconds: float
    scope: Scope
    on_answer: bool = False


@dataclass(frozen=True, slots=True)
class Paused:
    """The account is paused for every sender: ``reason`` (never a secret)."""

    reason: str


Answer = Ticket | Wait | Paused


@dataclass(frozen=True, slots=True)
class Flooded:
    """What a 429 closed: its chat, or the whole account, for ``seconds`` from now."""

    account_wide: bool
    seconds: float


class Limiter(Protocol):
    """Telegram's limits, the flood ledger, adaptive rates and account health."""

    limits: TelegramLimits
    round_trips: int  # to a shared store (0 for the memory backend)

    def acquire_now(self, request: Request) -> Answer | None:
        """The answer, if this backend has it without I/O; None: ask :meth:`acquire`."""
        ...

    async def acquire(self, requests: Sequence[Request]) -> list[Answer]:
        """An answer for each request, in order (one round trip for all of them)."""
        ...

    def confirm_now(self, ticket: Ticket, result: SendResult) -> bool:
        """Count the send's end without I/O if this backend can; False: :meth:`confirm`."""
        ...

    async def confirm(self, ticket: Ticket, result: SendResult) -> None:
        """The admitted send ended: an answered or failed one leaves the windows one
        window after now; a refused one (429) at once."""
        ...

    async def flood(
        self,
        account: int,
        chat: Hashable | None,
        retry_after: float,
        *,
        account_wide: bool,
        refused: Ticket | None = None,
    ) -> Flooded:
        """Telegram answered 429 (to ``refused``, which then counts for nothing): close
        the chat, or the account, and cut what the 429 says was too much."""
        ...

    async def pause(self, account: int, reason: str) -> None: ...

    async def resume(self, account: int) -> None: ...

    async def health(self, account: int) -> Health:
        """The account's counters and state as every sender sees them."""
        ...

    async def rate(self, account: int, chat: Hashable | None = None) -> float:
        """The scope's rate as a share of the published one (1 when never cut): an
        account's; a private chat's rate (its learned burst shows in when it opens);
        a group's count."""
        ...

    def spare(self, account: int) -> int | None:
        """Sends the account may start now, if known without I/O (to rank accounts)."""
        ...

    async def aclose(self) -> None: ...


def is_private(chat: Hashable | None) -> bool:
    """A private chat (a user's id): its own burst and rate; else a group's window."""
    return isinstance(chat, int) and chat > 0


def wait_seconds(seconds: float) -> float:
    """``seconds`` as a :class:`Wait` says it: never negative, ``inf`` kept."""
    return seconds if math.isinf(seconds) else max(0.0, seconds)


def from_url(url: str, limits: TelegramLimits | None = None, **options: Any) -> Limiter:
    """A limiter: ``memory://`` (this process only) or ``redis://``, ``rediss://``,
    ``unix://`` (shared by every process on that Redis)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        from sluice.limits._memory import MemoryLimiter

        return MemoryLimiter(limits, **options)
    if scheme in {"redis", "rediss", "unix"}:
        from sluice.limits._redis import RedisLimiter

        return RedisLimiter.from_url(url, limits, **options)
    raise ConfigError(f"no limits backend for {scheme or url!r}: use memory:// or redis://")
