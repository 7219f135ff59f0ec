"""Lanes and the ready queue an account's scheduler picks from.

A lane is the FIFO of calls for one (account, chat): only its head may be
admitted, which is what keeps a chat's messages in order across 429s,
retries and failover. Lanes whose head may go now wait in the
:class:`ReadyQueue`, ordered by priority, then round-robin between flows (two
broadcasts share the bot fairly), then longest remaining work first (a group
with fifteen messages at twenty a minute must start before a hundred chats
with one message each, or it alone will end the whole late), then by
submission order. A lane's place follows its work: a lane that joined the
queue with one message and has fifty by now is ranked on fifty.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Any

from sluice.gate._call import Call

__all__ = ["Lane", "ReadyQueue"]


class Lane:
    """The calls of one (account, chat), oldest first; only the head is ever sent."""

    __slots__ = ("busy", "chat", "entry", "key", "own", "queue", "queued", "retry_at", "spacing")

    def __init__(self, chat: Hashable | None, key: Hashable = None, spacing: float = 0.0) -> None:
        self.chat = chat
        self.spacing = spacing  # seconds its chat's limit puts between two of its messages
        self.key = chat if key is None else key  # where the scheduler keeps it
        self.own = key is not None  # a lane of one call that orders nothing
        self.queue: deque[Call] = deque()
        self.busy = False  # the head is admitted or sending
        self.queued = False  # in the ready queue or the timer heap
        self.retry_at = 0.0  # not before: a 429's retry_after, a backoff, a closed chat
        self.entry: list[Any] | None = None  # its place in the ready queue, while it has one

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
    """Lanes whose head may be sent now.

    Each priority holds its flows in turn, each flow a heap of entries
    ``[-remaining, head seq, tie-breaker, lane]``. Re-ranking a lane pushes a
    new entry and empties the old one (its lane becomes None), which is
    skipped when it comes up: O(log n) either way.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self) -> None:
        self._levels: dict[int, OrderedDict[Hashable, list[list[Any]]]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, lane: Lane) -> bool:
        return lane.entry is not None

    def push(self, lane: Lane) -> None:
        head = lane.queue[0]
        flows = self._levels.setdefault(int(head.priority), OrderedDict())
        heap = flows.get(head.flow)
        if heap is None:
            heap = flows[head.flow] = []
        entry = [-lane.remaining, head.seq, id(lane), lane]
        heapq.heappush(heap, entry)
        lane.entry = entry
        lane.queued = True
        self._size += 1

    def rerank(self, lane: Lane) -> None:
        """The lane's work or head changed while it waits here: its place follows."""
        if lane.entry is None:
            return
        lane.entry[3] = None
        lane.entry = None
        self._size -= 1
        self.push(lane)

    def restore(self, lane: Lane) -> None:
        """Put back a lane just taken, first of its priority, as if never taken (the
        limiter said the account must wait: its turn is not lost)."""
        self.push(lane)
        self._levels[int(lane.queue[0].priority)].move_to_end(lane.queue[0].flow, last=False)

    def _first(self) -> tuple[OrderedDict[Hashable, list[list[Any]]], Hashable, list[list[Any]]]:
        """The flow whose turn it is at the best priority, its heap's top a live entry."""
        for priority in sorted(self._levels):
            flows = self._levels[priority]
            while flows:
                flow, heap = next(iter(flows.items()))
                while heap and heap[0][3] is None:
                    heapq.heappop(heap)  # re-ranked since
                if heap:
                    return flows, flow, heap
                del flows[flow]
        raise IndexError("the ready queue is empty")

    def peek(self) -> Lane | None:
        if not self._size:
            return None
        _, _, heap = self._first()
        lane: Lane = heap[0][3]
        return lane

    def pop(self) -> Lane | None:
        """The next lane: best priority, next flow in turn, most work, oldest head."""
        if not self._size:
            return None
        flows, flow, heap = self._first()
        lane: Lane = heapq.heappop(heap)[3]
        if heap:
            flows.move_to_end(flow)
        else:
            del flows[flow]
        self._size -= 1
        lane.queued = False
        lane.entry = None
        return lane
