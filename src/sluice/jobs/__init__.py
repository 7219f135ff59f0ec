"""Durable jobs: nothing accepted is ever lost.

A :class:`JobQueue` runs handlers per job kind on a :class:`JobBackend`: SQL
(SQLite by default, PostgreSQL by URL) or Redis Streams. Jobs survive
restarts and crashes: leases are renewed while a job runs, workers that are
present share the jobs fairly, and a dead worker's jobs run again elsewhere
within seconds. Per-user caps, priorities, timeouts, retries with backoff,
cancellation within a second, deduplication.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiosqlite  # noqa: F401
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.jobs", "jobs", error) from None

from sluice._exceptions import JobNotFound, QueueFull, Retryable
from sluice.jobs._backend import JobBackend
from sluice.jobs._model import Job, JobPolicy, JobState, NewJob
from sluice.jobs._open import open_backend
from sluice.jobs._queue import JobContext, JobQueue

__all__ = [
    "Job",
    "JobBackend",
    "JobContext",
    "JobNotFound",
    "JobPolicy",
    "JobQueue",
    "JobState",
    "NewJob",
    "QueueFull",
    "Retryable",
    "open_backend",
]
