"""Broadcasts: one message, or one per recipient, to many chats, with a report.

The gate does the pacing, ordering and retrying; this helper submits the
sends as bulk calls of one flow (so concurrent broadcasts share the bot
fairly and replies to users go first), keeps a bounded number of them
waiting in the gate, reports progress, and classifies every recipient's
outcome. Nothing is dropped: every recipient ends delivered or with a reason.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sluice._exceptions import GateError
from sluice._redact import redact
from sluice.gate._context import sending_as
from sluice.gate._lanes import Priority
from sluice.gate._outcome import Classifier, Fatal, Kind

__all__ = ["BroadcastProgress", "BroadcastReport", "Outcome", "broadcast", "outcome_for"]

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


def outcome_for(exc: BaseException, classify: Classifier) -> Outcome:
    """Why a recipient was not delivered, by the integration's classifier."""
    if isinstance(exc, GateError):
        return Outcome.FAILED
    verdict = classify(exc)
    if isinstance(verdict, Fatal):
        return _KIND_OUTCOME[verdict.kind]
    return Outcome.FAILED


async def broadcast(
    send: Callable[[Any], Awaitable[Any]],
    chat_ids: Iterable[Hashable],
    *,
    classify: Classifier,
    progress: Callable[[BroadcastProgress], Any] | None = None,
    priority: Priority = Priority.BULK,
    flow: Hashable = None,
    window: int = 1000,
) -> BroadcastReport:
    """Call ``send(chat_id)`` for every recipient through the gate; report each outcome.

    ``send`` makes the Telegram call (through a gated client: an aiogram bot with
    sluice's middleware, a gated Telethon pool, ...). ``classify`` is the
    integration's classifier, used to name why a recipient was not delivered.
    At most ``window`` sends wait in the gate at once, so a million recipients
    cost a thousand tasks, not a million. A recipient listed twice is sent once.
    """
    recipients = list(dict.fromkeys(chat_ids))
    report = BroadcastReport()
    counts: Counter[Outcome] = Counter()
    started = time.monotonic()
    flow = flow if flow is not None else f"broadcast-{next(_flows)}"
    queue = iter(recipients)

    async def worker() -> None:
        for chat_id in queue:
            try:
                with sending_as(priority, flow):
                    await send(chat_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcome = outcome_for(exc, classify)
                report.errors[chat_id] = redact(f"{type(exc).__name__}: {exc}")
            else:
                outcome = Outcome.DELIVERED
            report.outcomes[chat_id] = outcome
            counts[outcome] += 1
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(
                    BroadcastProgress(len(report.outcomes), len(recipients), dict(counts), elapsed)
                )

    workers = [asyncio.create_task(worker()) for _ in range(min(window, len(recipients)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    report.outcomes = {chat_id: report.outcomes[chat_id] for chat_id in recipients}
    report.elapsed = time.monotonic() - started
    return report
