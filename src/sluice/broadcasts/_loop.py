"""The one recipient loop, and the in-memory broadcast built on it.

The gate does the pacing, ordering and retrying; the loop submits sends as
bulk calls of one flow (so concurrent broadcasts share a bot fairly and
replies to users go first), keeps a bounded number waiting in the gate,
and names every recipient's outcome. Nothing is dropped: every recipient
ends delivered or with a reason. :class:`~sluice.broadcasts.DurableBroadcasts`
runs the same loop over recipients it reads from, and records to, the store.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from sluice._exceptions import GateError
from sluice._redact import redact
from sluice.gate import Classifier, Fatal, Kind, Priority, sending_as

__all__ = [
    "BroadcastProgress",
    "BroadcastReport",
    "Outcome",
    "broadcast",
    "outcome_for",
    "send_to_each",
]

R = TypeVar("R")
_flows = itertools.count(1)


class Outcome(StrEnum):
    """What became of one recipient."""

    DELIVERED = "delivered"
    BLOCKED = "blocked"  # the user blocked the bot
    CHAT_NOT_FOUND = "chat_not_found"
    FORBIDDEN = "forbidden"  # not a member, can't initiate the conversation, kicked
    REFUSED = "refused"  # any other 400 from Telegram: the message itself is wrong
    FAILED = "failed"  # still failing after the gate's retries, or past the deadline


_KIND_OUTCOME = {
    Kind.BLOCKED: Outcome.BLOCKED,
    Kind.CHAT_NOT_FOUND: Outcome.CHAT_NOT_FOUND,
    Kind.FORBIDDEN: Outcome.FORBIDDEN,
    Kind.BAD_REQUEST: Outcome.REFUSED,
    Kind.OTHER: Outcome.FAILED,
}


def outcome_for(exc: BaseException, classify: Classifier) -> Outcome:
    """Why a recipient was not delivered, by the integration's classifier."""
    if isinstance(exc, GateError):
        return Outcome.FAILED
    verdict = classify(exc)
    if isinstance(verdict, Fatal):
        return _KIND_OUTCOME[verdict.kind]
    return Outcome.FAILED


Record = Callable[[R, Outcome, "str | None"], Awaitable[None]]


async def send_to_each(
    recipients: Iterable[R] | AsyncIterator[R],
    send: Callable[[R], Awaitable[Any]],
    record: Record[R],
    *,
    classify: Classifier,
    flow: Hashable,
    priority: Priority = Priority.BULK,
    concurrency: int = 1000,
) -> None:
    """Call ``send(recipient)`` for each, ``concurrency`` at a time, as ``priority`` calls
    of ``flow``; ``record(recipient, outcome, error)`` each one's outcome as it comes."""
    source = recipients.__aiter__() if isinstance(recipients, AsyncIterator) else None
    plain = iter(recipients) if source is None else None  # type: ignore[arg-type]
    lock = asyncio.Lock()

    async def next_one() -> tuple[bool, R | None]:
        if plain is not None:
            for item in plain:
                return True, item
            return False, None
        assert source is not None
        async with lock:  # one reader of the async source at a time
            try:
                return True, await source.__anext__()
            except StopAsyncIteration:
                return False, None

    async def worker() -> None:
        while True:
            found, recipient = await next_one()
            if not found:
                return
            item: R = recipient  # type: ignore[assignment]
            try:
                with sending_as(priority, flow):
                    await send(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = redact(f"{type(exc).__name__}: {exc}")
                await record(item, outcome_for(exc, classify), error)
            else:
                await record(item, Outcome.DELIVERED, None)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class BroadcastProgress:
    """A snapshot handed to the progress callback after every recipient."""

    done: int
    total: int
    counts: dict[Outcome, int]
    elapsed: float


@dataclass(slots=True)
class BroadcastReport:
    """Every recipient's outcome, and the reason for those not delivered."""

    outcomes: dict[Hashable, Outcome] = field(default_factory=dict)
    errors: dict[Hashable, str] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def counts(self) -> dict[Outcome, int]:
        return dict(Counter(self.outcomes.values()))

    @property
    def delivered(self) -> list[Hashable]:
        return [c for c, o in self.outcomes.items() if o is Outcome.DELIVERED]

    def with_outcome(self, outcome: Outcome) -> list[Hashable]:
        return [c for c, o in self.outcomes.items() if o is outcome]


async def broadcast(
    send: Callable[[Any], Awaitable[Any]],
    chat_ids: Iterable[Hashable],
    *,
    classify: Classifier,
    progress: Callable[[BroadcastProgress], Any] | None = None,
    priority: Priority = Priority.BULK,
    flow: Hashable = None,
    concurrency: int = 1000,
) -> BroadcastReport:
    """Call ``send(chat_id)`` for every recipient through the gate; report each outcome.

    ``send`` makes the Telegram call (through a gated client: an aiogram bot with
    sluice's middleware, a gated Telethon pool, ...). ``classify`` is the
    integration's classifier, used to name why a recipient was not delivered.
    At most ``concurrency`` sends wait in the gate at once, so a million
    recipients cost a thousand tasks, not a million. A recipient listed twice
    is sent once.
    """
    recipients = list(dict.fromkeys(chat_ids))
    report = BroadcastReport()
    counts: Counter[Outcome] = Counter()
    started = time.monotonic()

    async def record(chat_id: Hashable, outcome: Outcome, error: str | None) -> None:
        report.outcomes[chat_id] = outcome
        if error is not None:
            report.errors[chat_id] = error
        counts[outcome] += 1
        if progress is not None:
            elapsed = time.monotonic() - started
            done = len(report.outcomes)
            progress(BroadcastProgress(done, len(recipients), dict(counts), elapsed))

    await send_to_each(
        recipients,
        send,
        record,
        classify=classify,
        flow=flow if flow is not None else f"broadcast-{next(_flows)}",
        priority=priority,
        concurrency=min(concurrency, len(recipients)),
    )
    report.outcomes = {chat_id: report.outcomes[chat_id] for chat_id in recipients}
    report.elapsed = time.monotonic() - started
    return report
