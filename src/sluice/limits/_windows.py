"""The two shapes Telegram's limits take: a sliding window and a token bucket.

Both answer ``ready_at(now)`` (the earliest moment one more send is allowed)
without consuming, and ``take(now)`` to count a send. ``factor`` scales the
allowed rate (adaptive decrease and recovery) without losing history.

Hand-written rather than taken from aiolimiter: the gate must ask *when* a
scope opens, for many scopes at once, without waiting on any of them, and
must rescale a scope's rate at run time.
"""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingWindow", "TokenBucket"]


class SlidingWindow:
    """At most ``count * factor`` sends in any span of ``span`` seconds."""

    __slots__ = ("_log", "count", "factor", "span")

    def __init__(self, count: int, span: float) -> None:
        self.count = count
        self.span = span
        self.factor = 1.0
        self._log: deque[float] = deque(maxlen=count)

    @property
    def allowed(self) -> int:
        return max(1, int(self.count * self.factor))

    def ready_at(self, now: float) -> float:
        allowed = self.allowed
        if len(self._log) < allowed:
            return now
        # The send ``allowed`` places back must leave the window first.
        return max(now, self._log[-allowed] + self.span)

    def take(self, now: float) -> None:
        self._log.append(now)

    def sent_since(self, since: float) -> int:
        return sum(1 for t in self._log if t >= since)

    def idle(self, now: float) -> bool:
        return not self._log or self._log[-1] + self.span <= now


class TokenBucket:
    """``burst`` tokens refilled at ``rate * factor`` per second."""

    __slots__ = ("_stamp", "_tokens", "burst", "factor", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.factor = 1.0
        self._tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            room = self.burst - self._tokens
            self._tokens += min(room, (now - self._stamp) * self.rate * self.factor)
            self._stamp = now

    def ready_at(self, now: float) -> float:
        self._refill(now)
        missing = 1.0 - self._tokens
        return now if missing <= 1e-9 else now + missing / (self.rate * self.factor)

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0

    def idle(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst
