"""One account's scheduler: its lanes, its limits, and when each head may go.

Event-driven: a lane is examined when its head arrives, when the call in
flight comes back, or when a timer for the moment its chat opens fires. An
idle account costs nothing and a busy one does no polling. One timer handle
per account covers the earliest of its lanes' timers.

Counting invariants, relied on throughout:

* a call is *waiting* from when it enters a lane until it is granted, and
  again after it comes back to be retried; ``waiting`` counts those calls;
* a granted call holds ``call.slot`` (a place in the account window) and, if
  its lane has one, the lane limiter's in-flight mark, until :meth:`settle`;
* a lane is ``busy`` while its head is granted or in flight, and ``queued``
  while it sits in the ready queue or the timer heap; never both.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from collections.abc import Callable, Hashable

from sluice.accounts import Account
from sluice.gate._lanes import Call, Lane, ReadyQueue
from sluice.limits import AdaptiveRate, FloodLedger, SlidingWindow, TelegramLimits, TokenBucket

__all__ = ["AccountScheduler"]

_PRUNE_AT = 4096  # lanes per account before idle ones are forgotten
_UNORDERED = object()  # lane keys of calls that order nothing: (_UNORDERED, seq)


class AccountScheduler:
    """Lanes, limits and timers of one account."""

    __slots__ = (
        "_handle",
        "_handle_at",
        "_loop_time",
        "_now",
        "_prune_at",
        "_timers",
        "accepted",
        "account",
        "adaptive",
        "lanes",
        "ledger",
        "limits",
        "paid",
        "ready",
        "waiting",
        "window",
    )

    def __init__(
        self,
        account: Account,
        limits: TelegramLimits,
        ledger: FloodLedger,
        now: Callable[[], float],
        loop_time: Callable[[float], float],
    ) -> None:
        self.account = account
        self.limits = limits
        self.ledger = ledger
        self._now = now
        self._loop_time = loop_time
        self.window = SlidingWindow(
            limits.bot_count, limits.scaled(limits.bot_window), limits.bot_burst
        )
        self.paid = SlidingWindow(limits.paid_count, limits.scaled(limits.paid_window))
        self.adaptive = self._adaptive()
        self.lanes: dict[Hashable, Lane] = {}
        self.ready = ReadyQueue()
        self._timers: list[tuple[float, int, Lane]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = math.inf
        self.waiting = 0
        # Answer times of recent successes: what Telegram accepted, for adaptive cuts.
        self.accepted: deque[float] = deque(maxlen=limits.bot_count)
        self._prune_at = _PRUNE_AT

    def _adaptive(self) -> AdaptiveRate:
        hold = self.limits.adapt_hold / self.limits.speed
        return AdaptiveRate(hold=hold, max_hold=12 * hold)

    # -- lanes ---------------------------------------------------------------

    def enqueue(self, call: Call, chat: Hashable | None) -> None:
        """Put a call in its chat's lane; it waits for :meth:`pump` to grant it.

        A call to no chat, or one outside the send limits (a download), orders
        nothing: it gets a lane of its own, so such calls run side by side.
        """
        if chat is None or not call.limited:
            key: Hashable = (_UNORDERED, call.seq)
            lane = self.lanes[key] = Lane(self.account.id, chat, None, self._adaptive(), key)
        elif chat in self.lanes:
            lane = self.lanes[chat]
        else:
            lane = self.lanes[chat] = Lane(
                self.account.id, chat, self._limiter(chat), self._adaptive()
            )
        lane.insert(call)
        call.future = asyncio.get_running_loop().create_future()
        self.waiting += 1
        if lane.head is call:
            self.schedule(lane)

    def has_backlog(self, chat: Hashable | None) -> bool:
        lane = self.lanes.get(chat)
        return lane is not None and bool(lane.queue)

    def _limiter(self, chat: Hashable | None) -> SlidingWindow | TokenBucket | None:
        lim = self.limits
        if chat is None or not lim.enabled:
            return None
        if isinstance(chat, int) and chat > 0:
            rate = lim.private_rate * lim.speed / (1.0 + lim.guard)
            return TokenBucket(rate, lim.private_burst, self._now())
        # Groups and channels (negative ids, @usernames): bursts are fine, the window is not.
        return SlidingWindow(lim.group_count, lim.scaled(lim.group_window))

    def schedule(self, lane: Lane) -> None:
        """Place an idle lane with a head where it belongs: ready, or on a timer."""
        if lane.busy or lane.queued or not lane.queue:
            return
        now = self._now()
        opens = max(self.ledger.chat_until(lane.account, lane.chat, now), lane.retry_at)
        if lane.limiter is not None:
            opens = max(opens, lane.limiter.ready_at(now))
        if opens > now:
            lane.queued = True
            heapq.heappush(self._timers, (opens, id(lane), lane))
            self._wake_at(opens)
            return
        self.ready.push(lane)
        self.pump()

    def _wake_at(self, when: float) -> None:
        # An infinite wait is opened by an answer in flight (settle pumps), never by time.
        if math.isinf(when) or self._handle_at <= when:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = when
        loop = asyncio.get_running_loop()
        self._handle = loop.call_at(self._loop_time(when), self._on_timer)

    def _on_timer(self) -> None:
        self._handle = None
        self._handle_at = math.inf
        now = self._now()
        while self._timers and self._timers[0][0] <= now:
            _, _, lane = heapq.heappop(self._timers)
            lane.queued = False
            self.schedule(lane)
        if self._timers:
            self._wake_at(self._timers[0][0])
        self.pump()

    def pump(self) -> None:
        """Grant lane heads, best first, while the account's own limits allow."""
        now = self._now()
        blocked = self.ledger.account_until(self.account.id, now)
        if blocked > now:
            if len(self.ready):
                self._wake_at(blocked)
            return
        ready = self.ready
        while len(ready):
            lane = ready.peek()
            assert lane is not None
            head = lane.head
            if head is None or lane.busy:
                ready.pop()  # emptied or cancelled meanwhile
                continue
            window = None
            if head.limited and self.limits.enabled:
                window = self.paid if head.paid else self.window
                opens = window.ready_at(now)
                if opens > now:
                    self._wake_at(opens)
                    return
            ready.pop()
            if lane.limiter is not None and lane.limiter.ready_at(now) > now:
                self.schedule(lane)  # its chat closed meanwhile: back on a timer
                continue
            self._grant(lane, head, window, now)

    def _grant(self, lane: Lane, call: Call, window: SlidingWindow | None, now: float) -> None:
        lane.busy = True
        self.waiting -= 1
        call.granted = True
        call.slot = window
        if window is not None:
            window.reserve(now)
        if lane.limiter is not None:
            lane.limiter.reserve(now)
        if call.future is not None and not call.future.done():
            call.future.set_result(None)

    # -- answers -------------------------------------------------------------

    def settle(self, call: Call, *, counted: bool) -> None:
        """The granted call's answer is in (or it never went): free what it held."""
        if not call.granted:
            return
        window, call.slot, call.granted = call.slot, None, False
        now = self._now()
        if window is not None:
            window.confirm(now, counted)
        lane = call.lane
        if lane is not None and lane.limiter is not None:
            lane.limiter.confirm(now, counted)
        if len(self.ready):
            self.pump()

    def retry_later(self, call: Call) -> None:
        """The call came back and stays at the head of its lane, to be granted again."""
        lane = call.lane
        assert lane is not None
        assert lane.head is call
        lane.busy = False
        self.waiting += 1
        call.future = asyncio.get_running_loop().create_future()
        self.schedule(lane)

    def leave(self, call: Call) -> None:
        """Take a call out of its lane (done, given up, cancelled) and move the lane on."""
        lane = call.lane
        if lane is None:
            return
        call.lane = None
        was_head = lane.head is call
        if was_head and lane.busy:
            lane.busy = False
        else:
            self.waiting -= 1
        lane.queue.remove(call)
        if lane.queue:
            if was_head:
                self.schedule(lane)
        elif lane.own:
            del self.lanes[lane.key]  # a lane of its own: done with its call
        elif len(self.lanes) > self._prune_at:
            self._prune()

    def _prune(self) -> None:
        # A lane outlives its calls while its chat's limiter remembers recent sends:
        # a fresh lane would start with a full burst and earn a 429.
        now = self._now()
        for chat, lane in list(self.lanes.items()):
            idle = lane.limiter is None or lane.limiter.idle(now)
            if not lane.queue and not lane.busy and not lane.queued and idle:
                del self.lanes[chat]
        self._prune_at = max(_PRUNE_AT, 2 * len(self.lanes))

    def release(self, *, movable_only: bool) -> None:
        """Wake waiting calls without granting them, so that each looks for another account.

        After a quarantine every waiting call must go (those with nowhere to go
        raise); after an account-wide flood only those allowed elsewhere move.
        """
        for lane in self.lanes.values():
            for call in lane.queue:
                if call.granted or (movable_only and not call.movable):
                    continue
                if call.future is not None and not call.future.done():
                    call.future.set_result(None)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._handle_at = math.inf

    # -- adaptation ----------------------------------------------------------

    def on_success(self, call: Call) -> None:
        now = self._now()
        self.accepted.append(now)
        self.ledger.record_success(self.account.id)
        lane = call.lane
        if lane is not None and lane.limiter is not None and lane.adaptive.on_success(now):
            lane.limiter.factor = lane.adaptive.factor
        if self.adaptive.on_success(now):
            self.window.factor = self.adaptive.factor

    def on_flood(self, call: Call, retry_after: float, *, account_wide: bool) -> bool:
        """Block what the 429 says is closed and cut its rate; True if the account was blocked."""
        lane = call.lane
        assert lane is not None
        now = self._now()
        until = now + retry_after
        account_id = self.account.id
        if account_wide:
            self.ledger.block_account(account_id, until)
            escalated = True
        else:
            escalated = self.ledger.record_flood(account_id, lane.chat, until, now)
        if isinstance(lane.limiter, TokenBucket):
            lane.limiter.drain()
        if escalated:
            self.account.health.account_blocks += 1
            # What Telegram accepted in the last (unguarded) window is its real count.
            real_span = self.limits.bot_window / self.limits.speed
            accepted = sum(1 for t in self.accepted if t >= now - real_span)
            observed = accepted / self.limits.bot_count if accepted else None
            self.window.factor = self.adaptive.on_flood(now, observed)
        elif lane.limiter is not None:
            lane.limiter.factor = lane.adaptive.on_flood(now)
        return escalated
