"""Lanes and the ready queue an account's scheduler picks from.

A lane is the FIFO of calls for one (account, chat): only its head may be
admitted, which is what keeps a chat's messages in order across 429s,
retries and failover. Lanes whose head may go now wait in the
:class:`ReadyQueue`, ordered by priority, then round-robin between flows (two
broadcasts share the bot fairly), then longest remaining work first (a group
with fifteen messages at twenty a minute must start before a hundred chats
with one message each, or it alone will end the whole late), then by
submission order.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict, deque
from collections.abc import Hashable

from sluice.gate._call import Call

__all__ = ["Lane", "ReadyQueue"]


class Lane:
    """The calls of one (account, chat), oldest first; only the head is ever sent."""

    __slots__ = ("busy", "chat", "key", "own", "queue", "queued", "retry_at", "spacing")

    def __init__(self, chat: Hashable | None, key: Hashable = None, spacing: float = 0.0) -> None:
        self.chat = chat
        self.spacing = spacing  # seconds its chat's limit puts between two of its messages
        self.key = chat if key is None else key  # where the scheduler keeps it
        self.own = key is not None  # a lane of one call that orders nothing
        self.queue: deque[Call] = deque()
        self.busy = False  # the head is admitted or sending
        self.queued = False  # in the ready queue or the timer heap
        self.retry_at = 0.0  # not before: a 429's retry_after, a backoff, a closed chat

    @property
    def head(self) -> Call | None:
        return self.queue[0] if self.queue else None

    @property
    def remaining(self) -> float:
        """The least time its chat's limit needs for what the lane holds."""
        return len(self.queue) * self.spacing

    def insert(self, call: Call) -> None:
        """Add a call in submission order (a call failing over may be older than ours).

        A busy head keeps its place: nothing overtakes what is on the wire.
        """
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
        # priority -> flow -> heap of (-remaining, seq, tie-breaker, lane)
        self._levels: dict[int, OrderedDict[Hashable, list[tuple[float, int, int, Lane]]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, lane: Lane) -> None:
        head = lane.queue[0]
        flows = self._levels.setdefault(int(head.priority), OrderedDict())
        heap = flows.get(head.flow)
        if heap is None:
            heap = flows[head.flow] = []
        heapq.heappush(heap, (-lane.remaining, head.seq, id(lane), lane))
        lane.queued = True
        self._size += 1

    def restore(self, lane: Lane) -> None:
        """Put back a lane just taken, first of its priority, as if never taken (the
        limiter said the account must wait: its turn is not lost)."""
        self.push(lane)
        self._levels[int(lane.queue[0].priority)].move_to_end(lane.queue[0].flow, last=False)

    def _best(self) -> OrderedDict[Hashable, list[tuple[float, int, int, Lane]]] | None:
        for priority in sorted(self._levels):
            flows = self._levels[priority]
            if flows:
                return flows
        return None

    def peek(self) -> Lane | None:
        flows = self._best()
        if flows is None:
            return None
        heap = next(iter(flows.values()))
        return heap[0][3]

    def pop(self) -> Lane | None:
        """The next lane: best priority, next flow in turn, oldest head."""
        flows = self._best()
        if flows is None:
            return None
        flow, heap = next(iter(flows.items()))
        lane = heapq.heappop(heap)[3]
        if heap:
            flows.move_to_end(flow)
        else:
            del flows[flow]
        self._size -= 1
        lane.queued = False
        return lane
