"""The two shapes Telegram's limits take: a sliding window and a token bucket.

Both answer ``ready_at(now)``, the earliest moment one more send may start,
without consuming anything. A bot's limit is a window of 30 sends a second,
a group's a window of 20 a minute; a private chat's is a bucket (a burst of
3, then 1 a second). The Redis backend keeps the same shapes in Lua.

Sends are counted in two steps. ``reserve`` holds a slot while the request is
in flight; ``confirm`` logs the send when its answer arrives. Telegram counts
a request when it *arrives*, somewhere between our dispatch and our receiving
the answer. Logging it at the answer, and letting the next send start only a
full window after that, keeps the arrivals a window apart whatever the network
jitter: exact pacing with no 429, at the cost of one round trip per window.

The sliding window also paces: after ``burst`` back-to-back sends, sends are
spread ``span / allowed`` apart (GCRA). A window's worth of requests fired at
once would arrive together, queue at the server and stretch every round trip;
spread out, they cost one short round trip each. Bulk sends (broadcasts) and
the others keep separate paces in one window: a broadcast admitted ahead
books the pace a window into the future, and a reply paced behind it would
wait that whole window for a slot its headroom keeps free.

``factor`` scales the allowed count (adaptive decrease and recovery) without
losing the history; :meth:`SlidingWindow.resize` changes count and span (a
chat whose burst was learned smaller).

Hand-written rather than taken from aiolimiter: the limiter must ask *when*
a scope opens, for many scopes at once, count sends in flight, and rescale a
scope at run time.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

__all__ = ["Bucket", "SlidingWindow"]

_EPS = 1e-9


class SlidingWindow:
    """At most ``count * factor`` sends in any span of ``span`` seconds.

    Parameters:
        count: sends allowed per window at factor 1.
        span: the window, in seconds.
        burst: sends that may start back to back before pacing applies
            (``count`` by default: no pacing beyond the window itself).
    """

    __slots__ = ("_log", "_tat", "_tat_other", "burst", "count", "factor", "in_flight", "span")

    def __init__(self, count: int, span: float, burst: int | None = None) -> None:
        self.count = count
        self.span = span
        self.burst = count if burst is None else max(1, burst)
        self.factor = 1.0
        self.in_flight = 0
        self._tat = -math.inf  # GCRA's theoretical arrival time of the next bulk send
        self._tat_other = -math.inf  # ... and of the next other one
        self._log: deque[float] = deque(maxlen=count)

    @property
    def allowed(self) -> int:
        return max(1, int(self.count * self.factor + _EPS))

    def ready_at(self, now: float, spare: int = 0, *, bulk: bool = True) -> float:
        """When one more send may start, leaving ``spare`` slots free; ``inf`` while only
        answers in flight can free a slot. ``bulk``: which pace it keeps."""
        allowed = max(1, self.allowed - spare)
        free = allowed - self.in_flight
        if free <= 0:
            return math.inf
        ready = now
        if self.burst < self.count:  # paced: GCRA after the burst
            interval = self.span / allowed
            tat = self._tat if bulk else self._tat_other
            ready = max(now, tat - (min(self.burst, allowed) - 1) * interval)
        if len(self._log) >= free:
            # The send ``free`` places back must leave the window first.
            ready = max(ready, self._log[-free] + self.span)
        return ready

    def fits_now(self, now: float, starts: Iterable[float]) -> bool:
        """Whether a send other than a broadcast's may start now, in the room between
        sends booked ahead (``starts``: when each send in flight starts): every window
        that will hold it stays within the count, and its own pace allows it. A send
        in flight counts from its start on; an answered one until a span after."""
        allowed = self.allowed
        if self.burst < self.count:
            interval = self.span / allowed
            if self._tat_other - (min(self.burst, allowed) - 1) * interval > now + _EPS:
                return False
        leaves = sorted(t + self.span for t in self._log if t > now - self.span)
        count = len(leaves)
        later = []
        for start in starts:
            if start <= now:
                count += 1
            else:
                later.append(start)
        if count + 1 > allowed:
            return False
        gone = 0
        for start in sorted(later):
            while gone < len(leaves) and leaves[gone] <= start:
                gone += 1
                count -= 1
            count += 1
            if count + 1 > allowed:
                return False
        return True

    def reserve(self, now: float, *, bulk: bool = True) -> None:
        self.in_flight += 1
        if self.burst < self.count:
            if bulk:
                self._tat = max(self._tat, now) + self.span / self.allowed
            else:
                self._tat_other = max(self._tat_other, now) + self.span / self.allowed

    def confirm(self, now: float, counted: bool = True) -> None:
        """The answer arrived: log the send (unless Telegram refused it uncounted)."""
        self.in_flight = max(0, self.in_flight - 1)
        if counted:
            self._log.append(now)

    def resize(self, count: int, span: float) -> None:
        """Allow ``count`` sends per ``span`` from now on, keeping what was sent."""
        if count != self.count:
            self._log = deque(self._log, maxlen=count)
            self.burst = count if self.burst == self.count else min(self.burst, count)
            self.count = count
        self.span = span

    def sent_since(self, since: float) -> int:
        return sum(1 for t in self._log if t >= since)

    def idle(self, now: float) -> bool:
        return self.in_flight == 0 and (not self._log or self._log[-1] + self.span <= now)


class Bucket:
    """A private chat's token bucket: ``burst`` sends back to back, then one every
    ``period`` seconds (GCRA), counted at the answer.

    One send is in flight at a time (a chat's lane sends one at a time anyway),
    and its slot is renewed only from its answer, the latest moment Telegram may
    have counted it: the bucket never credits a refill it cannot be sure of.
    """

    __slots__ = ("_tat", "burst", "in_flight", "period")

    def __init__(self, burst: int, period: float) -> None:
        self.burst = burst
        self.period = period
        self.in_flight = 0
        self._tat = -math.inf  # when the bucket is full again

    def ready_at(self, now: float, spare: int = 0) -> float:
        """When one more send may start; ``inf`` while one is in flight."""
        if self.in_flight:
            return math.inf
        return max(now, self._tat - (self.burst - 1) * self.period)

    def reserve(self, now: float) -> None:
        self.in_flight += 1

    def confirm(self, now: float, counted: bool = True) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if counted:
            self._tat = max(self._tat, now) + self.period

    def used(self, now: float) -> int:
        """Tokens the sends of its current burst took (0: the bucket is full)."""
        if self._tat <= now:
            return 0
        return math.ceil((self._tat - now) / self.period - _EPS)

    def drain(self, until: float) -> None:
        """Telegram refused a send here: from ``until`` on, one send, then its rate."""
        self._tat = max(self._tat, until + (self.burst - 1) * self.period)

    def reshape(self, burst: int, period: float) -> None:
        self.burst = burst
        self.period = period

    def idle(self, now: float) -> bool:
        return not self.in_flight and self._tat <= now
