"""The emulator's flood model: what Telegram lets through, per bot.

Three limits, each per bot, checked on every send-like call:

* the bot: at most ``limits.bot.count`` calls in any window of ``limits.bot.per`` seconds;
* a private chat: a token bucket of ``limits.private_burst`` tokens refilled at
  ``limits.private.count / limits.private.per`` per second, and by
  ``limits.private_reply`` tokens whenever the user writes to the bot or presses
  one of its buttons (a bot
  answering a user, and editing its answer, is what Telegram's "short bursts are
  allowed" is for; a bot writing on its own is held to one message a second);
* a group, supergroup or channel: at most ``limits.group.count`` calls in any
  window of ``limits.group.per`` seconds.

A call with ``allow_paid_broadcast`` counts against ``limits.paid`` (1000/s)
instead of the bot's own limit; the chat's limit still applies.

``speed`` divides every window. A call over a limit is not performed and is
answered with ``retry_after`` = whole real seconds until it would be allowed,
at least 1; with ``enforce_retry_after`` the scope then stays closed until
that moment. Calls exactly on a boundary are allowed (1 microsecond tolerance,
so a client pacing itself with float arithmetic is not punished for rounding).

Written here rather than taken from a rate-limit library because the emulator
must answer *how long* to wait, exactly as described above, and must never
share code with the gate it is used to test.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sluice.emulator._config import Limits

__all__ = ["Admission", "FloodModel"]

_EPS = 1e-6
# Idle scopes are forgotten every this many admissions, so memory follows the
# number of recently active chats, not every chat ever seen.
_PRUNE_EVERY = 4096


class _Window:
    """At most ``count`` events in any span of ``span`` seconds (a bounded log)."""

    __slots__ = ("count", "events", "span")

    def __init__(self, count: int, span: float) -> None:
        self.count = count
        self.span = span
        self.events: deque[float] = deque(maxlen=count)

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds until ``n`` more events fit (``n`` at most ``count``)."""
        n = min(n, self.count)
        if len(self.events) + n <= self.count:
            return 0.0
        oldest_to_leave = self.events[len(self.events) + n - self.count - 1]
        return max(0.0, oldest_to_leave + self.span - now - _EPS)

    def record(self, now: float, n: int = 1) -> None:
        for _ in range(n):
            self.events.append(now)

    def idle(self, now: float) -> bool:
        return not self.events or self.events[-1] + self.span <= now


class _Bucket:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = burst
        self.rate = rate
        self.tokens = float(burst)
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait(self, now: float, n: int = 1) -> float:
        """Seconds until a token is there: ``n`` messages in one call need only one
        (the rest are owed, and the next call waits for them)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= self.rate * _EPS else missing / self.rate

    def record(self, now: float, n: int = 1) -> None:
        self._refill(now)
        self.tokens = max(1.0 - n, self.tokens - n)

    def credit(self, now: float, tokens: float) -> None:
        """Give tokens back (a user's message earns the bot its reply), up to the burst."""
        self._refill(now)
        self.tokens = min(float(self.burst), self.tokens + tokens)

    def idle(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@dataclass(frozen=True, slots=True)
class Admission:
    """The model's answer: ``retry_after`` is None when the call may go."""

    retry_after: int | None
    scope: str = ""  # "bot" or "chat": which limit refused the call; or "injected"


_ADMITTED = Admission(None)


def _whole_seconds(wait: float) -> int:
    return max(1, math.ceil(wait - _EPS))


class FloodModel:
    """Decides, per send-like call, whether Telegram would perform it."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._bots: dict[tuple[int, bool], _Window] = {}
        self._chats: dict[tuple[int, int], _Window | _Bucket] = {}
        # Closed scopes: (bot, None, paid) for a bot's own limit, (bot, chat, False) for a chat.
        self._blocked: dict[tuple[int, int | None, bool], float] = {}
        self._since_prune = 0

    def admit(
        self,
        bot_id: int,
        chat_id: int | None,
        private: bool,
        *,
        paid: bool = False,
        inject: int | None = None,
        n: int = 1,
    ) -> Admission:
        """Admit (and count) one call of ``bot_id`` into ``chat_id``, or refuse it.

        ``n``: the messages the call makes (a media group's items, messages forwarded
        at once): all must fit the bot's and a group's window; a private chat admits
        them on one token and owes the rest.

        ``inject``: a spurious ``retry_after`` to answer instead if the limits would
        admit the call (scope ``"injected"``); a call they refuse gets its real answer.
        """
        now = self.clock()
        bot_scope = (bot_id, None, paid)
        chat_scope = (bot_id, chat_id, False)
        for scope, name in ((bot_scope, "bot"), (chat_scope, "chat")):
            until = self._blocked.get(scope)
            if until is not None:
                if until - now > _EPS:
                    return Admission(_whole_seconds(until - now), name)
                del self._blocked[scope]

        bot_window = self._bot_window(bot_id, paid)
        chat_limit = (
            self._chat_limit(bot_id, chat_id, private, now) if chat_id is not None else None
        )
        bot_wait = bot_window.wait(now, n)
        chat_wait = chat_limit.wait(now, n) if chat_limit is not None else 0.0
        if bot_wait > 0 or chat_wait > 0:
            scope_name = "bot" if bot_wait >= chat_wait else "chat"
            retry_after = _whole_seconds(max(bot_wait, chat_wait))
            if self.limits.enforce_retry_after:
                if bot_wait > 0:
                    self._blocked[bot_scope] = now + _whole_seconds(bot_wait)
                if chat_wait > 0:
                    self._blocked[chat_scope] = now + _whole_seconds(chat_wait)
            return Admission(retry_after, scope_name)
        if inject is not None:
            self.penalize(bot_id, chat_id, inject)
            return Admission(inject, "injected")

        bot_window.record(now, n)
        if chat_limit is not None:
            chat_limit.record(now, n)
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self.prune()
        return _ADMITTED

    def user_wrote(self, bot_id: int, user_id: int) -> None:
        """A user wrote to the bot in their private chat: room for the bot's answer."""
        if self.limits.private_reply:
            now = self.clock()
            limit = self._chat_limit(bot_id, user_id, True, now)
            if isinstance(limit, _Bucket):
                limit.credit(now, self.limits.private_reply)

    def penalize(self, bot_id: int, chat_id: int | None, retry_after: int) -> None:
        """Close a scope as a 429 answered for another reason (an injected fault) would."""
        if self.limits.enforce_retry_after:
            until = self.clock() + retry_after
            scope = (bot_id, chat_id, False)
            self._blocked[scope] = max(until, self._blocked.get(scope, until))

    def prune(self) -> None:
        """Forget scopes that no longer constrain anything."""
        now = self.clock()
        self._since_prune = 0
        self._chats = {key: lim for key, lim in self._chats.items() if not lim.idle(now)}
        self._bots = {key: win for key, win in self._bots.items() if not win.idle(now)}
        self._blocked = {key: until for key, until in self._blocked.items() if until > now}

    @property
    def tracked_scopes(self) -> int:
        return len(self._chats) + len(self._bots) + len(self._blocked)

    def _bot_window(self, bot_id: int, paid: bool) -> _Window:
        window = self._bots.get((bot_id, paid))
        if window is None:
            rate = self.limits.paid if paid else self.limits.bot
            window = self._bots[(bot_id, paid)] = _Window(rate.count, rate.per / self.limits.speed)
        return window

    def _chat_limit(
        self, bot_id: int, chat_id: int, private: bool, now: float
    ) -> _Window | _Bucket:
        key = (bot_id, chat_id)
        limit = self._chats.get(key)
        if limit is None:
            lim = self.limits
            if private:
                rate = lim.private.count / lim.private.per * lim.speed
                limit = _Bucket(lim.private_burst, rate, now)
            else:
                limit = _Window(lim.group.count, lim.group.per / lim.speed)
            self._chats[key] = limit
        return limit
