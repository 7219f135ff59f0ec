"""What the owner reads: a broadcast's status message, kept up to date by a durable
job of its own (it resumes after a restart, as the broadcast does), and a line per
bot of the pool for /botstats."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.types import Message

from sluice.apps.filelink._texts import human_size, t
from sluice.broadcasts import BroadcastStatus, DurableBroadcasts, Outcome
from sluice.broadcasts.aiogram import status_message
from sluice.jobs import JobContext, JobPolicy

__all__ = ["REPORT_KIND", "BroadcastReports", "bot_line"]

log = logging.getLogger("sluice.apps.filelink")

REPORT_KIND = "filelink.broadcast_report"


class BroadcastReports:
    """Follows broadcasts on their status messages, editing them every ``every``
    seconds (coalesced within the chat's limit) and ending with the tally."""

    def __init__(self, bot: Bot, broadcasts: DurableBroadcasts, *, every: float = 1.0) -> None:
        self.bot = bot
        self.broadcasts = broadcasts
        self.every = every
        # A broadcast may run for days; its report follows it as long.
        policy = JobPolicy(timeout=7 * 24 * 3600.0, max_attempts=50)
        broadcasts.queue.register(REPORT_KIND, self._report, policy)

    async def follow(self, broadcast_id: int, status: Message, ui: str) -> None:
        """Report on ``broadcast_id`` in ``status`` (once, however often asked)."""
        await self.broadcasts.queue.enqueue(
            REPORT_KIND,
            {"broadcast_id": broadcast_id, "chat_id": status.chat.id,
             "message_id": status.message_id, "ui": ui},
            dedupe_key=f"{REPORT_KIND}:{broadcast_id}",
        )  # fmt: skip

    async def _report(self, ctx: JobContext) -> dict[str, int]:
        """Keep a broadcast's status message up to date, and end it with the report."""
        p = ctx.payload
        broadcast_id, ui = int(p["broadcast_id"]), str(p["ui"])
        status = status_message(self.bot, int(p["chat_id"]), int(p["message_id"]))
        job_id = (await self.broadcasts.status(broadcast_id)).job_id
        try:
            while True:
                # The job's state first: a job that ended had recorded every outcome.
                ended = (
                    job_id is not None
                    and (await self.broadcasts.queue.status(job_id)).state.finished
                )
                now = await self.broadcasts.status(broadcast_id)
                if now.finished or ended:
                    key = "broadcast_done" if now.finished else "broadcast_stopped"
                    status.update(t(ui, key, **_tally(now)))
                    return _tally(now)
                status.update(t(ui, "broadcast_progress", **_tally(now)))
                await asyncio.sleep(self.every)
        finally:
            try:
                await status.close()
            except Exception:  # a courtesy (the owner may have deleted it): never fatal
                log.warning("could not edit a broadcast's status message", exc_info=True)


def _tally(status: BroadcastStatus) -> dict[str, int]:
    counts = status.counts
    delivered = counts.get(Outcome.DELIVERED, 0)
    blocked = counts.get(Outcome.BLOCKED, 0)
    done = status.total - status.pending
    return {
        "total": status.total, "done": done, "delivered": delivered, "blocked": blocked,
        "failed": done - delivered - blocked,
    }  # fmt: skip


def bot_line(ui: str, entry: dict[str, object]) -> str:
    """One bot of the pool, from ``MtprotoSource.describe()``."""
    blocked_for = float(str(entry.get("blocked_for", 0.0)))
    if entry.get("can_read_storage") is False:
        health = t(ui, "health_storage", reason=entry.get("reason") or "?")
    elif entry.get("paused"):
        health = t(ui, "health_paused")
    elif blocked_for > 0:
        health = t(ui, "health_flood", seconds=f"{blocked_for:.0f}")
    else:
        health = t(ui, "health_ok")
    return t(
        ui, "botstats_bot", account=entry.get("account_id"), streams=entry.get("in_flight", 0),
        served=human_size(int(str(entry.get("bytes", 0)))), floods=entry.get("floods", 0),
        failures=entry.get("failures", 0), health=health,
    )  # fmt: skip
