"""Calls, lanes and the ready queue the gate picks from.

A lane is the FIFO of calls for one (account, chat): only its head may be in
flight, which is what keeps a chat's messages in order across 429s, retries
and failover. Lanes whose head may go now wait in the :class:`ReadyQueue`,
ordered by priority, then round-robin between flows (two broadcasts share the
bot fairly), then by submission order.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
from collections import OrderedDict, deque
from collections.abc import Hashable
from enum import IntEnum

from sluice.limits import AdaptiveRate, SlidingWindow, TokenBucket

__all__ = ["Call", "Lane", "Priority", "ReadyQueue"]


class Priority(IntEnum):
    """Replies to a user go first; broadcasts last."""

    INTERACTIVE = 0
    DEFAULT = 1
    BULK = 2


class Call:
    """One call waiting in, or sent from, a lane."""

    __slots__ = (
        "accounts",
        "flow",
        "future",
        "granted",
        "lane",
        "limited",
        "method",
        "paid",
        "priority",
        "seq",
        "slot",
        "tries",
    )

    def __init__(
        self,
        seq: int,
        priority: Priority,
        flow: Hashable,
        paid: bool,
        method: str,
        accounts: tuple[int, ...] = (),
        limited: bool = True,
    ) -> None:
        self.seq = seq
        self.accounts = accounts  # the accounts allowed to serve it
        self.limited = limited  # counts against the send limits (not only the flood ledger)
        self.priority = priority
        self.flow = flow
        self.paid = paid
        self.method = method
        self.future: asyncio.Future[None] | None = None
        self.lane: Lane | None = None
        self.granted = False  # its turn came: it holds its place until settled
        # The account window holding a slot for this call while it is in flight.
        self.slot: SlidingWindow | None = None
        self.tries = 0  # 429s received

    @property
    def movable(self) -> bool:
        """It may be served by another account (failover)."""
        return len(self.accounts) > 1


class Lane:
    """The calls of one (account, chat), oldest first; only the head is ever sent."""

    __slots__ = (
        "account",
        "adaptive",
        "busy",
        "chat",
        "key",
        "limiter",
        "own",
        "queue",
        "queued",
        "retry_at",
    )

    def __init__(
        self,
        account: Hashable,
        chat: Hashable | None,
        limiter: SlidingWindow | TokenBucket | None,
        adaptive: AdaptiveRate,
        key: Hashable = None,
    ) -> None:
        self.account = account
        self.chat = chat
        self.key = chat if key is None else key  # where the scheduler keeps it
        self.own = key is not None  # a lane of one call that orders nothing
        self.limiter = limiter
        self.adaptive = adaptive
        self.queue: deque[Call] = deque()
        self.busy = False  # the head is in flight
        self.queued = False  # in the ready queue or the timer heap
        self.retry_at = 0.0  # backoff after a transient failure

    @property
    def head(self) -> Call | None:
        return self.queue[0] if self.queue else None

    def insert(self, call: Call) -> None:
        """Add a call in submission order (a call failing over may be older than ours).

        A call in flight keeps its place at the head: nothing overtakes what is on the wire.
        """
        call.lane = self
        if not self.queue or self.queue[-1].seq < call.seq:
            self.queue.append(call)
            return
        items = list(self.queue)
        start = 1 if self.busy else 0
        keys = [c.seq for c in items[start:]]
        items.insert(start + bisect.bisect(keys, call.seq), call)
        self.queue = deque(items)


class ReadyQueue:
    """Lanes whose head may be sent now."""

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        # priority -> flow -> heap of (seq, tie-breaker, lane)
        self._levels: dict[int, OrderedDict[Hashable, list[tuple[int, int, Lane]]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, lane: Lane) -> None:
        head = lane.queue[0]
        flows = self._levels.setdefault(int(head.priority), OrderedDict())
        heap = flows.get(head.flow)
        if heap is None:
            heap = flows[head.flow] = []
        heapq.heappush(heap, (head.seq, id(lane), lane))
        lane.queued = True
        self._size += 1

    def _best(self) -> OrderedDict[Hashable, list[tuple[int, int, Lane]]] | None:
        best = None
        for priority in sorted(self._levels):
            flows = self._levels[priority]
            if flows:
                best = flows
                break
        return best

    def peek(self) -> Lane | None:
        flows = self._best()
        if flows is None:
            return None
        heap = next(iter(flows.values()))
        return heap[0][2]

    def pop(self) -> Lane | None:
        """The next lane: best priority, next flow in turn, oldest head."""
        flows = self._best()
        if flows is None:
            return None
        flow, heap = next(iter(flows.items()))
        _, _, lane = heapq.heappop(heap)
        if heap:
            flows.move_to_end(flow)
        else:
            del flows[flow]
        self._size -= 1
        lane.queued = False
        return lane
