"""Limits as a service: one interface, an in-memory backend and a Redis one.

The :class:`~sluice.gate.Gate` schedules with the primitives of this package
directly, inside one process. Several processes sharing one bot's budget ask
a *limiter* instead, before every send (:class:`~sluice.gate.DistributedGate`).
A limiter answers ``acquire`` with a :class:`Ticket` (the send may start after
``ticket.delay`` seconds) or the seconds to wait before asking again, hears
each send's outcome (``confirm``) and each 429 (``flood``), and keeps what
every process must agree on: the windows, the flood ledger (with its
escalation from a chat to the whole bot), the adaptive rate of every scope,
and each account's health and pause.

:class:`MemoryLimiter` keeps that state in the process, on the same
primitives as the gate (:class:`SlidingWindow`, :class:`FloodLedger`,
:class:`AdaptiveRate`), with an injectable clock: the reference the Redis
backend is tested against (``tests/limits/test_limiter_contract.py`` runs
one suite on both). :func:`from_url` opens either.

The contract, for a bot's scope and a chat's:

* a send is counted from its admission until its answer, then one window
  after the answer (Telegram counts it on arrival, somewhere in between);
* a send whose moment comes within ``lookahead`` is admitted at once with
  that ``delay`` (its slot is held), so processes do not poll for each slot;
  with ``pace``, after ``bot_burst`` back-to-back sends a bot's sends are
  spaced ``window / allowed`` apart;
* while sends in flight fill a window, the answer is "ask again a window
  after the one that must be answered first started" (not before it can
  leave), or in a tenth of a window if that has passed;
* a 429 closes its chat for ``retry_after``; ``escalate_after`` of them in a
  row from two chats or more within ``escalate_window`` close the whole bot
  and cut its rate to what Telegram was seen to accept; a lone one cuts the
  chat's rate. Rates recover a step per quiet hold;
* while anything but bulk sends (broadcasts) went out as a bot within the
  last two windows, its bulk sends leave ``headroom`` slots of its window
  free: a reply during a broadcast does not queue behind a window of it;
* a paused account admits nothing (``AccountPaused``) until resumed.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sluice._exceptions import ConfigError, SluiceError
from sluice.accounts import Health
from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._ledger import FloodLedger
from sluice.limits._windows import SlidingWindow

__all__ = [
    "AccountPaused",
    "Limiter",
    "LimiterUnavailable",
    "MemoryLimiter",
    "Outcome",
    "Ticket",
    "from_url",
]

Outcome = Literal["ok", "failed", "refused"]
"""How a send ended: answered; failed after it may have reached Telegram (it
counts); refused uncounted (a 429)."""


_EPS = 1e-9


class AccountPaused(SluiceError):
    """The account is paused for every process (restricted, or its token refused)."""

    def __init__(self, account: int, reason: str) -> None:
        super().__init__(f"account {account} is paused: {reason}")
        self.account = account
        self.reason = reason


class LimiterUnavailable(SluiceError):
    """The shared limits could not be reached (Redis down, restarting, unreachable).

    Nothing may be sent without them: the gate waits and asks again.
    """


@dataclass(frozen=True, slots=True)
class Ticket:
    """An admitted send: start it after ``delay`` seconds, then ``confirm`` it."""

    member: str
    bot: str
    chat: str
    delay: float = 0.0
    paid: bool = False


class Limiter(Protocol):
    """What :class:`~sluice.gate.DistributedGate` needs from a limits backend."""

    limits: TelegramLimits
    lookahead: float
    round_trips: int

    async def acquire(
        self, bot_id: int, chat_id: Hashable | None, *, paid: bool = False, bulk: bool = False
    ) -> Ticket | float: ...

    async def confirm(self, ticket: Ticket, outcome: Outcome = "ok") -> None: ...

    async def flood(
        self, bot_id: int, chat_id: Hashable | None, retry_after: float, *, account_wide: bool
    ) -> bool: ...

    async def pause(self, bot_id: int, reason: str) -> None: ...

    async def resume(self, bot_id: int) -> None: ...

    async def health(self, bot_id: int) -> Health: ...

    async def rate(self, bot_id: int, chat_id: Hashable | None = None) -> float: ...

    async def aclose(self) -> None: ...


def is_private(chat_id: Hashable | None) -> bool:
    return isinstance(chat_id, int) and chat_id > 0


def _chat_kind(chat_id: Hashable | None) -> str:
    return "private" if is_private(chat_id) else "group"


_SWEEP_EVERY = 1024  # admissions between two sweeps of idle chats' state


class MemoryLimiter:
    """The limiter contract for one process, on the in-process primitives.

    Parameters:
        limits: what Telegram allows.
        lookahead: the furthest ahead a send is admitted with a delay
            (default: one bot window).
        pace: space a bot's sends after ``limits.bot_burst`` (see
            :class:`~sluice.limits.RedisLimiter`).
        headroom: slots of a bot's window that bulk sends leave free while
            other sends are being made.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(
        self,
        limits: TelegramLimits | None = None,
        *,
        lookahead: float | None = None,
        pace: bool = False,
        headroom: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits = limits or TelegramLimits()
        self.lookahead = limits.scaled(limits.bot_window) if lookahead is None else lookahead
        self.pace = pace
        self.headroom = headroom
        self.clock = clock
        self._hot: dict[str, float] = {}  # bot -> until when its bulk sends leave headroom
        self.round_trips = 0  # nothing leaves the process
        self.ledger = FloodLedger(limits.escalate_after, limits.escalate_window / limits.speed)
        self._windows: dict[tuple[str, str], SlidingWindow] = {}
        # When each send in flight was to start, per window: one that must be answered
        # before the window has room cannot free it before its start + the window.
        self._starts: dict[tuple[str, str], dict[str, float]] = {}
        self._rates: dict[tuple[str, str], AdaptiveRate] = {}
        self._paused: dict[int, str] = {}
        self._health: dict[int, Health] = {}
        self._ids = itertools.count()
        self._asked = 0

    def _window(self, key: tuple[str, str], kind: str) -> SlidingWindow:
        """The window of ``key``: ``(bot, "")`` the bot's, ``(bot, "paid")`` its paid
        sends', ``(bot, chat)`` a chat's (``kind``: "private" or "group")."""
        window = self._windows.get(key)
        if window is None:
            lim = self.limits
            if kind == "bot":
                burst = lim.bot_burst if self.pace else None
                window = SlidingWindow(lim.bot_count, lim.scaled(lim.bot_window), burst)
            elif kind == "paid":
                window = SlidingWindow(lim.paid_count, lim.scaled(lim.paid_window))
            elif kind == "private":  # the chat's token bucket, as a window of its burst
                span = lim.scaled(lim.private_burst / lim.private_rate)
                window = SlidingWindow(lim.private_burst, span)
            else:
                window = SlidingWindow(lim.group_count, lim.scaled(lim.group_window))
            self._windows[key] = window
        return window

    def _scopes(
        self, bot: str, chat: str, chat_id: Hashable | None, paid: bool
    ) -> list[tuple[tuple[str, str], SlidingWindow]]:
        own = (bot, "paid") if paid else (bot, "")
        scopes = [(own, self._window(own, "paid" if paid else "bot"))]
        if chat:
            scopes.append(((bot, chat), self._window((bot, chat), _chat_kind(chat_id))))
        return scopes

    def _sweep(self, now: float) -> None:
        """Forget the chats whose windows are empty and whose rates are whole again
        (a broadcast to millions of chats must not keep a window for each)."""
        for key, window in list(self._windows.items()):
            rate = self._rates.get(key)
            if (
                key[1] not in ("", "paid")
                and window.idle(now)
                and (rate is None or rate.factor >= 1)
            ):
                del self._windows[key]
                self._starts.pop(key, None)
                self._rates.pop(key, None)

    def _rate(self, key: tuple[str, str]) -> AdaptiveRate:
        rate = self._rates.get(key)
        if rate is None:
            hold = self.limits.adapt_hold / self.limits.speed
            rate = self._rates[key] = AdaptiveRate(hold=hold, max_hold=12 * hold)
        return rate

    async def acquire(
        self, bot_id: int, chat_id: Hashable | None, *, paid: bool = False, bulk: bool = False
    ) -> Ticket | float:
        if bot_id in self._paused:
            raise AccountPaused(bot_id, self._paused[bot_id])
        now = self.clock()
        self._asked += 1
        if self._asked % _SWEEP_EVERY == 0:
            self._sweep(now)
        bot, chat = str(bot_id), "" if chat_id is None else str(chat_id)
        scopes = self._scopes(bot, chat, chat_id, paid)
        ready = self.ledger.open_at(bot, chat or None, now)
        hot = self._hot.get(bot, -math.inf) > now
        for n, (key, window) in enumerate(scopes):
            rate = self._rates.get(key)
            if rate is not None and rate.on_success(now):  # quiet for its hold: a step up
                window.factor = rate.factor
            spare = self.headroom if bulk and hot and n == 0 else 0
            opens = window.ready_at(now, spare)
            if math.isinf(opens):  # sends in flight fill it: their answers are due
                starts = sorted(self._starts.get(key, {}).values())
                first = starts[max(0, window.in_flight - max(1, window.allowed - spare))]
                return max(first + window.span - now, window.span / 10)
            ready = max(ready, opens)
        if ready - now > self.lookahead + _EPS:
            return ready - now - self.lookahead
        member = str(next(self._ids))
        if not bulk:
            self._hot[bot] = now + 2 * scopes[0][1].span
        for key, window in scopes:
            window.reserve(ready)
            self._starts.setdefault(key, {})[member] = ready
        self._health_of(bot_id).requests += 1
        return Ticket(member, bot, chat, delay=ready - now, paid=paid)

    async def confirm(self, ticket: Ticket, outcome: Outcome = "ok") -> None:
        now = self.clock()
        keys = [(ticket.bot, "paid" if ticket.paid else "")]
        if ticket.chat:
            keys.append((ticket.bot, ticket.chat))
        for key in keys:
            window = self._windows.get(key)
            if window is not None and self._starts[key].pop(ticket.member, None) is not None:
                window.confirm(now, counted=outcome != "refused")
        health = self._health_of(int(ticket.bot))
        if outcome == "ok":
            health.successes += 1
            self.ledger.record_success(ticket.bot)
        elif outcome == "failed":
            health.failures += 1

    async def flood(
        self, bot_id: int, chat_id: Hashable | None, retry_after: float, *, account_wide: bool
    ) -> bool:
        now = self.clock()
        bot, chat = str(bot_id), None if chat_id is None else str(chat_id)
        until = now + retry_after
        health = self._health_of(bot_id)
        health.floods += 1
        if account_wide or chat is None:
            self.ledger.block_account(bot, until)
            escalated = True
        else:
            escalated = self.ledger.record_flood(bot, chat, until, now)
        if escalated:
            health.account_blocks += 1
            window = self._window((bot, ""), "bot")
            real = self.limits.bot_window / self.limits.speed
            accepted = window.sent_since(now - real)
            observed = accepted / self.limits.bot_count if accepted else None
            window.factor = self._rate((bot, "")).on_flood(now, observed)
        else:
            assert chat is not None
            window = self._window((bot, chat), _chat_kind(chat_id))
            window.factor = self._rate((bot, chat)).on_flood(now)
        return escalated

    async def pause(self, bot_id: int, reason: str) -> None:
        self._paused[bot_id] = reason

    async def resume(self, bot_id: int) -> None:
        self._paused.pop(bot_id, None)

    def _health_of(self, bot_id: int) -> Health:
        return self._health.setdefault(bot_id, Health())

    async def health(self, bot_id: int) -> Health:
        now = self.clock()
        shown = Health(**{
            name: getattr(self._health_of(bot_id), name)
            for name in ("requests", "successes", "failures", "floods", "account_blocks")
        })  # fmt: skip
        shown.blocked_until = max(0.0, self.ledger.account_until(str(bot_id), now) - now)
        shown.quarantined = self._paused.get(bot_id)
        return shown

    async def rate(self, bot_id: int, chat_id: Hashable | None = None) -> float:
        key = (str(bot_id), "" if chat_id is None else str(chat_id))
        rate = self._rates.get(key)
        if rate is not None:
            rate.on_success(self.clock())
        return 1.0 if rate is None else rate.factor

    async def aclose(self) -> None:
        return None


def from_url(url: str, limits: TelegramLimits | None = None, **options: Any) -> Limiter:
    """A limiter: ``memory://`` (this process only) or ``redis://``, ``rediss://``,
    ``unix://`` (shared by every process on that Redis)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryLimiter(limits, **options)
    if scheme in {"redis", "rediss", "unix"}:
        from sluice.limits._redis import RedisLimiter

        return RedisLimiter.from_url(url, limits, **options)
    raise ConfigError(f"no limits backend for {scheme or url!r}: use memory:// or redis://")
