"""The two shapes Telegram's limits take: a sliding window and a token bucket.

Both answer ``ready_at(now)``, the earliest moment one more send may start,
without consuming anything, so the gate can ask many scopes at once and wait
on none of them.

Sends are counted in two steps. ``reserve`` holds a slot while the request is
in flight; ``confirm`` logs the send when its answer arrives. Telegram counts
a request when it *arrives*, somewhere between our dispatch and our receiving
the answer. Logging it at the answer, and letting the next send start only a
full window after that, keeps the arrivals a window apart whatever the network
jitter: exact pacing with no 429, at the cost of one round trip per window.

The sliding window also paces: after ``burst`` back-to-back sends, sends are
spread ``span / allowed`` apart (GCRA). A window's worth of requests fired at
once would arrive together, queue at the server and stretch every round trip;
spread out, they cost one short round trip each.

``factor`` scales the allowed rate (adaptive decrease and recovery) without
losing the history.

Hand-written rather than taken from aiolimiter: the gate must ask *when* a
scope opens, for many scopes at once, count sends in flight, and rescale a
scope's rate at run time.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["SlidingWindow", "TokenBucket"]

_EPS = 1e-9


class SlidingWindow:
    """At most ``count * factor`` sends in any span of ``span`` seconds.

    Parameters:
        count: sends allowed per window at factor 1.
        span: the window, in seconds.
        burst: sends that may start back to back before pacing applies
            (``count`` by default: no pacing beyond the window itself).
    """

    __slots__ = ("_log", "_tat", "burst", "count", "factor", "in_flight", "span")

    def __init__(self, count: int, span: float, burst: int | None = None) -> None:
        self.count = count
        self.span = span
        self.burst = count if burst is None else max(1, burst)
        self.factor = 1.0
        self.in_flight = 0
        self._tat = -math.inf  # GCRA's theoretical arrival time of the next send
        self._log: deque[float] = deque(maxlen=count)

    @property
    def allowed(self) -> int:
        return max(1, int(self.count * self.factor + _EPS))

    def ready_at(self, now: float, spare: int = 0) -> float:
        """When one more send may start, leaving ``spare`` slots free; ``inf`` while only
        answers in flight can free a slot."""
        allowed = max(1, self.allowed - spare)
        free = allowed - self.in_flight
        if free <= 0:
            return math.inf
        interval = self.span / allowed
        ready = max(now, self._tat - (min(self.burst, allowed) - 1) * interval)
        if len(self._log) >= free:
            # The send ``free`` places back must leave the window first.
            ready = max(ready, self._log[-free] + self.span)
        return ready

    def reserve(self, now: float) -> None:
        self.in_flight += 1
        self._tat = max(self._tat, now) + self.span / self.allowed

    def confirm(self, now: float, counted: bool = True) -> None:
        """The answer arrived: log the send (unless Telegram refused it uncounted)."""
        self.in_flight = max(0, self.in_flight - 1)
        if counted:
            self._log.append(now)

    def sent_since(self, since: float) -> int:
        return sum(1 for t in self._log if t >= since)

    def idle(self, now: float) -> bool:
        return self.in_flight == 0 and (not self._log or self._log[-1] + self.span <= now)


class TokenBucket:
    """``burst`` tokens refilled at ``rate * factor`` per second; one send in flight at a time.

    While a send is in flight no refill is credited: the bucket restarts from
    the answer, the latest moment Telegram may have counted the send.
    """

    __slots__ = ("_paused", "_stamp", "_tokens", "burst", "factor", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.factor = 1.0
        self._tokens = float(burst)
        self._stamp = now
        self._paused = False

    def _refill(self, now: float) -> None:
        if now > self._stamp and not self._paused:
            room = self.burst - self._tokens
            self._tokens += min(room, (now - self._stamp) * self.rate * self.factor)
            self._stamp = now

    def ready_at(self, now: float) -> float:
        if self._paused:
            return math.inf
        self._refill(now)
        missing = 1.0 - self._tokens
        return now if missing <= _EPS else now + missing / (self.rate * self.factor)

    def reserve(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1.0
        self._paused = True

    def confirm(self, now: float, counted: bool = True) -> None:
        self._paused = False
        self._stamp = max(self._stamp, now)
        if not counted:
            self._tokens = min(float(self.burst), self._tokens + 1.0)

    def drain(self) -> None:
        """Telegram refused a send here: assume its bucket is empty, whatever ours says."""
        self._tokens = min(self._tokens, 0.0)

    def idle(self, now: float) -> bool:
        self._refill(now)
        return not self._paused and self._tokens >= self.burst
