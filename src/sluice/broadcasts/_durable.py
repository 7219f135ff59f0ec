"""Durable broadcasts: a broadcast is a job whose recipients are stored.

Creating a broadcast stores its message and every recipient (in order) in the
store, then enqueues one job for it. The job runs the recipient loop
(:func:`~sluice.broadcasts.send_to_each`: bulk priority, a flow of its own)
and records each recipient's outcome as it comes back, a batch at a time. If
its worker dies, the job runs again on another and resumes from the first
recipient without an outcome: a recipient is sent twice only if it was in
flight, or delivered but not yet recorded, at the moment of the crash; the
rest exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from sluice.broadcasts._loop import Outcome, send_to_each
from sluice.gate import Classifier
from sluice.jobs import JobContext, JobPolicy, JobQueue
from sluice.store import Store, broadcast_recipients_table, broadcasts_table

__all__ = ["BroadcastStatus", "DurableBroadcasts", "Sender"]

# send(bot_id, message, chat_id): one Telegram call through a gated client.
Sender = Callable[[int, dict[str, Any], int], Awaitable[Any]]
_PAGE = 5000
_SEQUENCE = "sluice.sequence"  # a stored message that is several, sent in order
_INSERT_BATCH = 1000
_recipients = broadcast_recipients_table
_broadcasts = broadcasts_table


@dataclass(slots=True)
class BroadcastStatus:
    """Where a broadcast stands: recipients by outcome, and those still to go."""

    id: int
    job_id: str | None
    total: int
    pending: int
    counts: dict[Outcome, int] = field(default_factory=dict)
    finished: bool = False

    @property
    def delivered(self) -> int:
        return self.counts.get(Outcome.DELIVERED, 0)


class DurableBroadcasts:
    """Broadcasts that survive crashes, run by a :class:`~sluice.jobs.JobQueue`.

    Parameters:
        store: where broadcasts and their recipients live.
        queue: the job queue that runs them (its kind is ``"sluice.broadcast"``).
        send: makes one Telegram call for ``(bot_id, message, chat_id)`` through a
            gated client (e.g. :func:`sluice.integrations.aiogram.aiogram_sender`).
        classify: the integration's classifier, to name why a recipient failed.
        concurrency: sends waiting in the gate at once.
        flush_every, flush_size: outcomes are recorded at least this often (seconds)
            or this many at a time; what a crash can send twice is bounded by them.
    """

    KIND = "sluice.broadcast"

    def __init__(
        self,
        store: Store,
        queue: JobQueue,
        send: Sender,
        *,
        classify: Classifier,
        concurrency: int = 256,
        flush_every: float = 0.2,
        flush_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.queue = queue
        self.send = send
        self.classify = classify
        self.concurrency = concurrency
        self.flush_every = flush_every
        self.flush_size = flush_size
        self.clock = clock
        # A broadcast may run for days; a lost worker's run resumes, many times if need be.
        queue.register(self.KIND, self._run, JobPolicy(timeout=7 * 24 * 3600.0, max_attempts=50))

    async def create(
        self,
        bot_id: int,
        chat_ids: Sequence[int],
        message: dict[str, Any] | Sequence[dict[str, Any]],
        *,
        priority: int = 0,
    ) -> BroadcastStatus:
        """Store the broadcast (a recipient listed twice is kept once) and enqueue its job.

        ``message`` may be a sequence of messages: each recipient gets them all, in
        order (a recipient's outcome is that of the first that failed, if any).
        """
        (status,) = await self.create_many(bot_id, [chat_ids], message, priority=priority)
        return status

    async def create_many(
        self,
        bot_id: int,
        groups: Sequence[Sequence[int]],
        message: dict[str, Any] | Sequence[dict[str, Any]],
        *,
        priority: int = 0,
    ) -> list[BroadcastStatus]:
        """One broadcast of ``message`` per group of recipients, stored in one
        transaction (a large broadcast split in shards costs one commit, not one each)."""
        if not isinstance(message, dict):
            message = {_SEQUENCE: [dict(m) for m in message]}
        now = self.clock()
        stored: list[tuple[int, int]] = []
        async with self.store.write() as conn:
            for chat_ids in groups:
                recipients = list(dict.fromkeys(int(c) for c in chat_ids))
                inserted = await conn.execute(
                    sa.insert(_broadcasts)
                    .values(bot_id=bot_id, message=message, created_at=now)
                    .returning(_broadcasts.c.id)
                )
                broadcast_id = int(inserted.scalar_one())
                for first in range(0, len(recipients), _INSERT_BATCH):
                    rows = [
                        {"broadcast_id": broadcast_id, "position": first + n, "chat_id": chat}
                        for n, chat in enumerate(recipients[first : first + _INSERT_BATCH])
                    ]
                    await conn.execute(sa.insert(_recipients), rows)
                stored.append((broadcast_id, len(recipients)))
        job_ids = await self._enqueue([broadcast_id for broadcast_id, _ in stored], priority)
        return [
            BroadcastStatus(broadcast_id, job_id, count, count)
            for (broadcast_id, count), job_id in zip(stored, job_ids, strict=True)
        ]

    async def _enqueue(self, broadcast_ids: Sequence[int], priority: int = 0) -> list[str]:
        # The dedupe key makes enqueuing again (see recover) harmless.
        job_ids = [
            await self.queue.enqueue(
                self.KIND,
                {"broadcast_id": broadcast_id},
                priority=priority,
                dedupe_key=f"broadcast:{broadcast_id}",
            )
            for broadcast_id in broadcast_ids
        ]
        async with self.store.write() as conn:
            for broadcast_id, job_id in zip(broadcast_ids, job_ids, strict=True):
                await conn.execute(
                    sa.update(_broadcasts)
                    .where(_broadcasts.c.id == broadcast_id)
                    .values(job_id=job_id)
                )
        return job_ids

    async def recover(self) -> list[int]:
        """Enqueue the job of every unfinished broadcast that has none (a crash between
        storing a broadcast and enqueuing it). Their ids."""
        async with self.store.read() as conn:
            rows = await conn.execute(
                sa.select(_broadcasts.c.id).where(
                    _broadcasts.c.job_id.is_(None), _broadcasts.c.finished_at.is_(None)
                )
            )
            orphans = [int(r) for r in rows.scalars()]
        if orphans:
            await self._enqueue(orphans)
        return orphans

    async def status(self, broadcast_id: int) -> BroadcastStatus:
        """Recipients by outcome so far, and how many are still to go."""
        async with self.store.read() as conn:
            head = (
                await conn.execute(sa.select(_broadcasts).where(_broadcasts.c.id == broadcast_id))
            ).one()
            rows = await conn.execute(
                sa.select(_recipients.c.outcome, sa.func.count())
                .where(_recipients.c.broadcast_id == broadcast_id)
                .group_by(_recipients.c.outcome)
            )
            by_outcome = {outcome: int(n) for outcome, n in rows}
        pending = by_outcome.pop(None, 0)
        counts = {Outcome(o): n for o, n in by_outcome.items()}
        total = pending + sum(counts.values())
        return BroadcastStatus(
            broadcast_id, head.job_id, total, pending, counts, head.finished_at is not None
        )

    async def outcomes(self, broadcast_id: int) -> list[tuple[int, Outcome | None, str | None]]:
        """Every recipient in order: (chat id, outcome or None if not yet sent, error)."""
        async with self.store.read() as conn:
            rows = await conn.execute(
                sa.select(_recipients.c.chat_id, _recipients.c.outcome, _recipients.c.error)
                .where(_recipients.c.broadcast_id == broadcast_id)
                .order_by(_recipients.c.position)
            )
            return [(int(c), Outcome(o) if o else None, e) for c, o, e in rows]

    # -- the job ---------------------------------------------------------------

    async def _run(self, ctx: JobContext) -> dict[str, int]:
        broadcast_id = int(ctx.payload["broadcast_id"])
        async with self.store.read() as conn:
            head = (
                await conn.execute(sa.select(_broadcasts).where(_broadcasts.c.id == broadcast_id))
            ).one()
        before = await self.status(broadcast_id)
        recorder = _Recorder(self, broadcast_id, ctx, before)
        flusher = asyncio.create_task(recorder.flush_periodically())
        message = dict(head.message)
        messages = message.get(_SEQUENCE, [message])

        async def send(recipient: tuple[int, int]) -> None:
            for one in messages:
                await self.send(head.bot_id, one, recipient[1])

        async def record(recipient: tuple[int, int], outcome: Outcome, error: str | None) -> None:
            await recorder.add(recipient[0], outcome, error)

        try:
            while True:
                await send_to_each(
                    self._unsent(broadcast_id),
                    send,
                    record,
                    classify=self.classify,
                    flow=f"broadcast-{broadcast_id}",
                    concurrency=self.concurrency,
                )
                await recorder.flush()
                # Finished means every recipient has an outcome: a recipient that
                # still has none (another run of this job, presumed dead, was
                # sending it when this one paged) is sent again, never skipped.
                if await self._mark_finished(broadcast_id):
                    break
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await asyncio.shield(recorder.flush())
        final = await self.status(broadcast_id)
        return {str(outcome): n for outcome, n in final.counts.items()}

    async def _mark_finished(self, broadcast_id: int) -> bool:
        """Set the broadcast finished if no recipient lacks an outcome; whether it is."""
        async with self.store.write() as conn:
            pending = sa.exists().where(
                _recipients.c.broadcast_id == broadcast_id, _recipients.c.outcome.is_(None)
            )
            done = await conn.execute(
                sa.update(_broadcasts)
                .where(_broadcasts.c.id == broadcast_id, ~pending)
                .values(finished_at=self.clock())
            )
            return bool(done.rowcount)

    async def _unsent(self, broadcast_id: int) -> AsyncIterator[tuple[int, int]]:
        """(position, chat id) of every recipient without an outcome, a page at a time."""
        after = -1
        while True:
            async with self.store.read() as conn:
                rows = await conn.execute(
                    sa.select(_recipients.c.position, _recipients.c.chat_id)
                    .where(
                        _recipients.c.broadcast_id == broadcast_id,
                        _recipients.c.outcome.is_(None),
                        _recipients.c.position > after,
                    )
                    .order_by(_recipients.c.position)
                    .limit(_PAGE)
                )
                page = [(int(position), int(chat)) for position, chat in rows]
            if not page:
                return
            after = page[-1][0]
            for recipient in page:
                yield recipient


class _Recorder:
    """Outcomes waiting to be written, and the job's progress."""

    def __init__(
        self,
        owner: DurableBroadcasts,
        broadcast_id: int,
        ctx: JobContext,
        before: BroadcastStatus,
    ) -> None:
        self.owner = owner
        self.broadcast_id = broadcast_id
        self.ctx = ctx
        self.total = before.total
        self.done = before.total - before.pending
        self.counts: Counter[Outcome] = Counter(before.counts)
        self.buffer: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()

    async def add(self, position: int, outcome: Outcome, error: str | None) -> None:
        self.buffer.append(
            {
                "b_position": position,
                "b_outcome": outcome.value,
                "b_error": error,
                "b_sent_at": self.owner.clock(),
            }
        )
        self.done += 1
        self.counts[outcome] += 1
        if len(self.buffer) >= self.owner.flush_size:
            await self.flush()

    async def flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.owner.flush_every)
            await self.flush()

    async def flush(self) -> None:
        async with self.lock:
            if not self.buffer:
                return
            rows, self.buffer = self.buffer, []
            stmt = (
                sa.update(_recipients)
                .where(
                    _recipients.c.broadcast_id == self.broadcast_id,
                    _recipients.c.position == sa.bindparam("b_position"),
                )
                .values(
                    outcome=sa.bindparam("b_outcome"),
                    error=sa.bindparam("b_error"),
                    sent_at=sa.bindparam("b_sent_at"),
                    attempts=_recipients.c.attempts + 1,
                )
            )
            async with self.owner.store.write() as conn:
                await conn.execute(stmt, rows)
            delivered = self.counts[Outcome.DELIVERED]
            await self.ctx.progress(
                self.done / self.total if self.total else 1.0,
                f"{self.done}/{self.total} done, {delivered} delivered",
            )
