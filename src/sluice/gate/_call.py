"""One call's life in the gate: its states, and every move between them.

::

                  ┌─────────── retry: a 429 or a 5xx puts it back at the head of its lane
                  ▼                                                          │
    new ──▶ QUEUED ──admit──▶ ADMITTED ──(its delay passes)──▶ SENDING ──────┤
             │  ▲                                                 │          │
             │  └── move: its account was paused or closed;       └─answer─▶ DONE
             │      another account it may use takes it
             └───── deadline, cancellation, an error raised ─────────────▶ GONE

A call is QUEUED in the lane of one (account, chat): the FIFO that keeps a
chat's messages in order. Only the lane's head is ever admitted; the account's
scheduler asks the limiter for it and hands it a :class:`~sluice.limits.Ticket`
(ADMITTED). The call sleeps the ticket's delay, runs the factory (SENDING),
and its answer is settled with the limiter. Retrying keeps the lane's head:
nothing of that chat overtakes a call that went out and came back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from enum import Enum, IntEnum
from typing import TYPE_CHECKING

from sluice.limits import Request, Ticket

if TYPE_CHECKING:
    from sluice.gate._lanes import Lane

__all__ = ["MOVE", "Call", "Priority", "State"]


class Priority(IntEnum):
    """Replies to a user go first; broadcasts last."""

    INTERACTIVE = 0
    DEFAULT = 1
    BULK = 2


class State(Enum):
    QUEUED = "queued"  # in its lane, waiting for its turn and the limiter's ticket
    ADMITTED = "admitted"  # holds a ticket; waits out the ticket's delay
    SENDING = "sending"  # the factory runs: the request may be on the wire
    DONE = "done"  # answered
    GONE = "gone"  # out of the gate: a deadline, a cancellation, an error


class _Move:
    """What wakes a QUEUED call whose account it must leave."""

    def __repr__(self) -> str:
        return "MOVE"


MOVE = _Move()
Wakeup = Ticket | None | _Move  # None: admitted without a ticket (a call outside the limits)


class Call:
    """One call, from :meth:`~sluice.gate.Gate.call` until it is answered or gone."""

    __slots__ = (
        "account",
        "accounts",
        "chat",
        "deadline",
        "failures",
        "flow",
        "future",
        "lane",
        "limited",
        "method",
        "moving",
        "paid",
        "priority",
        "seq",
        "state",
        "ticket",
        "tries",
    )

    def __init__(
        self,
        seq: int,
        accounts: tuple[int, ...],
        chat: Hashable | None,
        *,
        method: str = "",
        priority: Priority = Priority.DEFAULT,
        flow: Hashable = None,
        paid: bool = False,
        limited: bool = True,
        deadline: float | None = None,
    ) -> None:
        self.seq = seq
        self.accounts = accounts  # the accounts allowed to serve it
        self.chat = chat
        self.method = method
        self.priority = priority
        self.flow = flow
        self.paid = paid
        self.limited = limited  # counts against the send limits (not only the flood ledger)
        self.deadline = deadline  # on the gate's clock
        self.state = State.QUEUED
        self.account: int | None = None  # whose lane holds it
        self.lane: Lane | None = None
        self.future: asyncio.Future[Wakeup] | None = None
        self.moving = False  # told to look for another account
        self.ticket: Ticket | None = None
        self.tries = 0  # 429s received
        self.failures = 0  # transient failures received

    def __repr__(self) -> str:
        return f"<Call {self.seq} {self.method or 'call'} {self.state.value}>"

    @property
    def movable(self) -> bool:
        """It may be served by another account (failover)."""
        return len(self.accounts) > 1

    def request(self, account: int) -> Request:
        return Request(account, self.chat, paid=self.paid, bulk=self.priority >= Priority.BULK)

    # -- moves ------------------------------------------------------------------

    def queue(self, account: int, lane: Lane) -> None:
        """new, retry or move -> QUEUED in ``lane`` of ``account``."""
        self.state = State.QUEUED
        self.account = account
        self.lane = lane
        self.ticket = None
        self.moving = False
        self.future = None  # made when it has to wait (most calls are admitted at once)

    def wakeup(self) -> Wakeup | asyncio.Future[Wakeup]:
        """What woke it (a ticket, None, MOVE), or a future to wait for it."""
        if self.state is State.ADMITTED:
            return self.ticket
        if self.moving:
            return MOVE
        if self.future is None:
            self.future = asyncio.get_running_loop().create_future()
        return self.future

    def admit(self, ticket: Ticket | None) -> None:
        """QUEUED -> ADMITTED: its turn came and the limiter admitted it."""
        self.state = State.ADMITTED
        self.ticket = ticket
        if self.future is not None and not self.future.done():
            self.future.set_result(ticket)

    def move(self) -> None:
        """QUEUED -> (another account's lane): wake it to look for another account."""
        self.moving = True
        if self.future is not None and not self.future.done():
            self.future.set_result(MOVE)

    def send(self) -> None:
        """ADMITTED -> SENDING."""
        self.state = State.SENDING

    def answered(self) -> None:
        """SENDING -> DONE."""
        self.state = State.DONE

    def gone(self) -> None:
        """any -> GONE."""
        self.state = State.GONE
        self.future = None
