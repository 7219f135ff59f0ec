"""Calls, lanes and the ready queue the gate picks from.

A lane is the FIFO of calls for one (account, chat): only its head may be in
flight, which is what keeps a chat's messages in order across 429s and
retries. Lanes whose head may go now wait in the :class:`ReadyQueue`, ordered
by priority, then round-robin between flows (two broadcasts share the bot
fairly), then by submission order.
"""

from __future__ import annotations

import asyncio
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
    __slots__ = ("flow", "future", "lane", "method", "paid", "priority", "seq", "tries")

    def __init__(
        self, seq: int, priority: Priority, flow: Hashable, paid: bool, method: str
    ) -> None:
        self.seq = seq
        self.priority = priority
        self.flow = flow
        self.paid = paid
        self.method = method
        self.future: asyncio.Future[bool] | None = None
        self.lane: Lane | None = None
        self.tries = 0


class Lane:
    __slots__ = (
        "account",
        "adaptive",
        "busy",
        "chat",
        "limiter",
        "queue",
        "queued",
        "retry_at",
        "timer_at",
    )

    def __init__(
        self,
        account: Hashable,
        chat: Hashable | None,
        limiter: SlidingWindow | TokenBucket | None,
    ) -> None:
        self.account = account
        self.chat = chat
        self.limiter = limiter
        self.adaptive = AdaptiveRate()
        self.queue: deque[Call] = deque()
        self.busy = False
        self.queued = False  # in the ready queue or the timer heap
        self.retry_at = 0.0  # backoff after a transient failure
        self.timer_at: float | None = None

    def insert(self, call: Call) -> None:
        """Add a call in submission order (failover may bring older calls)."""
        call.lane = self
        if not self.queue or self.queue[-1].seq < call.seq:
            self.queue.append(call)
            return
        items = sorted([*self.queue, call], key=lambda c: c.seq)
        self.queue = deque(items)


class ReadyQueue:
    """Lanes whose head may be sent now."""

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        # priority -> flow -> heap of (seq, lane id, lane)
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

    def peek_priority(self) -> int | None:
        levels = [p for p, flows in self._levels.items() if flows]
        return min(levels) if levels else None

    def pop(self) -> Lane | None:
        """The next lane: best priority, next flow in turn, oldest head."""
        priority = self.peek_priority()
        if priority is None:
            return None
        flows = self._levels[priority]
        flow, heap = next(iter(flows.items()))
        _, _, lane = heapq.heappop(heap)
        if heap:
            flows.move_to_end(flow)
        else:
            del flows[flow]
        self._size -= 1
        lane.queued = False
        return lane

    def peek(self) -> Lane | None:
        priority = self.peek_priority()
        if priority is None:
            return None
        heap = next(iter(self._levels[priority].values()))
        return heap[0][2]
