"""One account's scheduler: its lanes, and when each lane's head may go.

Event-driven: a lane is examined when its head arrives, when the call in
flight comes back, or when a timer for the moment its chat reopens fires;
one timer handle per account covers the earliest of its lanes' timers. The
best ready lane's head is offered to the limiter: a ticket admits it; a wait
for its chat puts the lane on a timer and the next lane is offered; a wait
for the whole account stops the account until then (or until an answer in
flight frees a slot). A limiter that answers in the process (the memory one)
is asked synchronously; one that must ask a shared store is asked a batch of
heads at a time, by one task per account.

Counting invariants, relied on throughout:

* a call is *waiting* while QUEUED (from entering a lane until admitted, and
  again after it comes back to be retried); ``waiting`` counts those calls;
* a lane is ``busy`` while its head is admitted or sending, and ``queued``
  while it sits in the ready queue or the timer heap; never both.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
from collections.abc import Callable, Hashable

from sluice._exceptions import LimiterUnavailable
from sluice.accounts import Account
from sluice.gate._call import Call, State
from sluice.gate._lanes import Lane, ReadyQueue
from sluice.limits import (
    Answer,
    Limiter,
    Paused,
    Scope,
    SendResult,
    Ticket,
    Wait,
    is_private,
)

__all__ = ["AccountScheduler"]

log = logging.getLogger("sluice.gate")

_PRUNE_AT = 4096  # lanes per account before idle ones are forgotten
_UNORDERED = object()  # lane keys of calls that order nothing: (_UNORDERED, seq)
_BATCH = 64  # heads asked of a shared limiter in one round trip, at most
_CONFIRM_FOR = 300.0  # seconds an answer keeps trying to reach unreachable shared limits


class AccountScheduler:
    """Lanes, timers and limiter answers of one account."""

    __slots__ = (
        "_asking",
        "_confirming",
        "_handle",
        "_handle_at",
        "_loop_time",
        "_now",
        "_on_paused",
        "_prune_at",
        "_rng",
        "_timers",
        "account",
        "answer_awaited",
        "blocked_until",
        "lanes",
        "limiter",
        "ready",
        "waiting",
    )

    def __init__(
        self,
        account: Account,
        limiter: Limiter,
        now: Callable[[], float],
        loop_time: Callable[[float], float],
        on_paused: Callable[[AccountScheduler, str], None],
    ) -> None:
        self.account = account
        self.limiter = limiter
        self._now = now
        self._loop_time = loop_time
        self._on_paused = on_paused
        self.lanes: dict[Hashable, Lane] = {}
        self.ready = ReadyQueue()
        self._timers: list[tuple[float, int, Lane]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._handle_at = math.inf
        self._asking: asyncio.Task[None] | None = None
        self._confirming: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self.waiting = 0
        self.blocked_until = 0.0  # the account is closed (a flood) until then, as far as known
        self.answer_awaited = False  # the account waits for an answer in flight to free a slot
        self._prune_at = _PRUNE_AT

    # -- lanes -------------------------------------------------------------------

    def enqueue(self, call: Call) -> None:
        """Put a call in its chat's lane (QUEUED); it waits for :meth:`pump` to admit it.

        A call to no chat, or one outside the send limits (a download), orders
        nothing: it gets a lane of its own, so such calls run side by side.
        """
        chat = call.chat
        lane: Lane | None
        if chat is None or not call.limited:
            key: Hashable = (_UNORDERED, call.seq)
            lane = self.lanes[key] = Lane(chat, key)
        else:
            lane = self.lanes.get(chat)
            if lane is None:
                lane = self.lanes[chat] = Lane(chat, spacing=self._spacing(chat))
        lane.insert(call)
        call.queue(self.account.id, lane)
        self.waiting += 1
        if lane.head is call:
            self.schedule(lane)
        elif lane in self.ready:
            self.ready.rerank(lane)  # more work: a better place

    def _spacing(self, chat: Hashable) -> float:
        lim = self.limiter.limits
        if is_private(chat):
            return 1 / (lim.private_rate * lim.speed)
        return lim.group_window / (lim.group_count * lim.speed)

    def has_backlog(self, chat: Hashable | None) -> bool:
        lane = self.lanes.get(chat)
        return lane is not None and bool(lane.queue)

    def schedule(self, lane: Lane) -> None:
        """Place an idle lane with a head where it belongs: ready, or on a timer."""
        if lane.busy or not lane.queue:
            return
        if lane.queued:  # already waiting its turn (its new head keeps the place)
            self.pump()
            return
        if lane.retry_at > self._now():
            lane.queued = True
            heapq.heappush(self._timers, (lane.retry_at, id(lane), lane))
            self._wake_at(lane.retry_at)
            return
        if not len(self.ready) and self._asking is None and lane.head is not None:
            # Nothing else is waiting: offer it at once, without the ready queue.
            head = lane.head
            if not head.limited:
                self._admit(lane, head, None)
                return
            if self.blocked_until <= self._now():
                answer = self.limiter.acquire_now(head.request(self.account.id))
                if answer is not None:
                    self._apply(lane, head, answer)
                    return
        self.ready.push(lane)
        self.pump()

    def _wake_at(self, when: float) -> None:
        if math.isinf(when) or self._handle_at <= when:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle_at = when
        self._handle = asyncio.get_running_loop().call_at(self._loop_time(when), self._on_timer)

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

    # -- admission ---------------------------------------------------------------

    def pump(self) -> None:
        """Offer ready heads to the limiter, best first, while it admits them."""
        if self._asking is not None or not len(self.ready):
            return
        if self.blocked_until > self._now():
            self._wake_at(self.blocked_until)
            return
        ready = self.ready
        while len(ready):
            lane = ready.peek()
            assert lane is not None
            head = lane.head
            if head is None or lane.busy:
                ready.pop()  # emptied or cancelled meanwhile
                continue
            if not head.limited:
                ready.pop()
                self._admit(lane, head, None)
                continue
            answer = self.limiter.acquire_now(head.request(self.account.id))
            if answer is None:  # a shared limiter: ask it, a batch of heads at once
                self._asking = asyncio.get_running_loop().create_task(self._ask())
                return
            ready.pop()
            if not self._apply(lane, head, answer):
                return

    def _apply(self, lane: Lane, head: Call, answer: Answer) -> bool:
        """Act on the limiter's answer for ``lane`` (taken off the ready queue); False when
        the whole account must wait."""
        if isinstance(answer, Ticket):
            self._admit(lane, head, answer)
            return True
        if isinstance(answer, Paused):
            self.ready.restore(lane)
            self._on_paused(self, answer.reason)
            return False
        now = self._now()
        if answer.scope is Scope.CHAT:
            # Its chat is closed or full: on a timer until then; the next lane may go.
            seconds = answer.seconds if math.isfinite(answer.seconds) else 0.01
            lane.retry_at = max(lane.retry_at, now + seconds)
            lane.queued = True
            heapq.heappush(self._timers, (lane.retry_at, id(lane), lane))
            self._wake_at(lane.retry_at)
            return True
        self.ready.restore(lane)
        if answer.on_answer:
            self.answer_awaited = True
        self._wake_at(now + answer.seconds)
        return False

    def _admit(self, lane: Lane, call: Call, ticket: Ticket | None) -> None:
        lane.busy = True
        self.waiting -= 1
        call.admit(ticket)

    async def _ask(self) -> None:
        """Ask a shared limiter for the best ready heads, one round trip for a batch."""
        backoff = 0.05
        try:
            while len(self.ready) and self.blocked_until <= self._now():
                batch: list[tuple[Lane, Call]] = []
                while len(self.ready) and len(batch) < _BATCH:
                    lane = self.ready.pop()
                    assert lane is not None
                    head = lane.head
                    if head is None or lane.busy:
                        continue
                    if not head.limited:
                        self._admit(lane, head, None)
                        continue
                    batch.append((lane, head))
                if not batch:
                    return
                requests = [head.request(self.account.id) for _, head in batch]
                try:
                    answers = await self.limiter.acquire(requests)
                except LimiterUnavailable as exc:
                    for lane, _ in reversed(batch):
                        self.ready.restore(lane)
                    if backoff == 0.05:  # once an outage, not at every try
                        log.warning("%s; nothing is sent until they are back", exc)
                    await asyncio.sleep(self._rng.uniform(backoff / 2, backoff))
                    backoff = min(2.0, backoff * 2)
                    continue
                backoff = 0.05
                waiting: list[tuple[Lane, Answer]] = []
                for (lane, head), answer in zip(batch, answers, strict=True):
                    if lane.head is not head or head.state is not State.QUEUED:
                        # It left while the limiter was asked: give its ticket back.
                        if isinstance(answer, Ticket):
                            self._give_back(answer)
                        self.schedule(lane)
                    elif isinstance(answer, Ticket) or (
                        isinstance(answer, Wait) and answer.scope is Scope.CHAT
                    ):
                        self._apply(lane, head, answer)
                    else:
                        waiting.append((lane, answer))
                # Put back what must wait for the account in its order, then wait.
                for lane, _ in reversed(waiting[1:]):
                    self.ready.restore(lane)
                if waiting:
                    lane, answer = waiting[0]
                    self._apply(lane, lane.queue[0], answer)
                    return
        finally:
            self._asking = None

    def _give_back(self, ticket: Ticket) -> None:
        """A ticket whose call never went: its slot is free again (nothing reached Telegram)."""
        self._confirm(ticket, SendResult.REFUSED)

    # -- answers -----------------------------------------------------------------

    def settle(self, call: Call, result: SendResult) -> None:
        """The admitted call ended (or never went): count it with the limiter."""
        ticket, call.ticket = call.ticket, None
        if ticket is None:
            return
        self._confirm(ticket, result)

    def _confirm(self, ticket: Ticket, result: SendResult) -> None:
        if self.limiter.confirm_now(ticket, result):
            if len(self.ready):
                self.answer_awaited = False
                self.pump()
            return
        task = asyncio.get_running_loop().create_task(self._confirm_shared(ticket, result))
        self._confirming.add(task)
        task.add_done_callback(self._confirming.discard)

    async def _confirm_shared(self, ticket: Ticket, result: SendResult) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _CONFIRM_FOR
        backoff = 0.05
        while True:
            try:
                await self.limiter.confirm(ticket, result)
                break
            except LimiterUnavailable:
                if loop.time() > give_up:
                    log.warning("an answer never reached the shared limits; its slot frees itself")
                    return
                await asyncio.sleep(self._rng.uniform(backoff / 2, backoff))
                backoff = min(2.0, backoff * 2)
        if self.answer_awaited and len(self.ready):
            self.answer_awaited = False
            self.pump()

    async def drain(self) -> None:
        """Wait until the limiter heard of every answer so far."""
        while self._confirming:
            await asyncio.gather(*self._confirming, return_exceptions=True)

    def retry_later(self, call: Call, at: float) -> None:
        """The call came back and stays at the head of its lane, to go again at ``at``."""
        lane = call.lane
        assert lane is not None
        assert lane.head is call
        lane.busy = False
        lane.retry_at = max(lane.retry_at, at)
        self.waiting += 1
        call.queue(self.account.id, lane)
        self.schedule(lane)

    def leave(self, call: Call) -> None:
        """Take a call out of its lane (done, given up, cancelled, moving) and go on."""
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
        now = self._now()
        for key, lane in list(self.lanes.items()):
            if not lane.queue and not lane.busy and not lane.queued and lane.retry_at <= now:
                del self.lanes[key]
        self._prune_at = max(_PRUNE_AT, 2 * len(self.lanes))

    def evict(self, *, movable_only: bool) -> None:
        """Wake QUEUED calls without admitting them, so that each looks for another account.

        After a pause every waiting call must go (those with nowhere to go
        raise); after an account-wide flood only those allowed elsewhere move.
        """
        for lane in list(self.lanes.values()):
            for call in list(lane.queue):
                if call.state is State.QUEUED and (call.movable or not movable_only):
                    call.move()

    def on_flood(self, call: Call, retry_after: float, account_seconds: float | None) -> None:
        """A 429: the chat is closed for ``retry_after``; the account for ``account_seconds``."""
        now = self._now()
        lane = call.lane
        if lane is not None:
            lane.retry_at = max(lane.retry_at, now + retry_after)
        if account_seconds is not None:
            self.blocked_until = max(self.blocked_until, now + account_seconds)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._handle_at = math.inf
        if self._asking is not None:
            self._asking.cancel()
