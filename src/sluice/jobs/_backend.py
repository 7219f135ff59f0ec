"""The contract every job backend keeps (SQL for SQLite and PostgreSQL, Redis).

A backend stores jobs and makes the moves between states atomic; the
:class:`~sluice.jobs.JobQueue` in front of it runs the handlers, renews the
leases and sweeps. It also keeps the running workers' presence, so that a
claim takes no more than a fair share and a dead worker's jobs are taken
over before their leases end. Times are epoch seconds handed in by the
queue (``now``), so that tests can drive them (and hosts' clocks must agree
to well within a presence lifetime). One contract test suite
(``tests/jobs/test_contract.py``) runs against every backend.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from sluice._exceptions import JobNotFound, QueueFull
from sluice.jobs._model import Job, JobPolicy, JobState, NewJob

__all__ = ["JobBackend", "JobNotFound", "QueueFull", "fair_share"]


class JobBackend(ABC):
    """Storage and atomic state changes of jobs."""

    async def setup(self) -> None:  # noqa: B027 - optional for backends with nothing to set up
        """Create what the backend needs (tables, scripts); safe to call again."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    @abstractmethod
    async def enqueue(self, job: NewJob, policy: JobPolicy, now: float) -> tuple[str, bool]:
        """Store ``job`` as QUEUED; return ``(id, True)``.

        If a job of the same kind with the same ``dedupe_key`` exists, in any
        state, nothing is stored and ``(its id, False)`` is returned. If
        ``policy.queued_cap`` is set and the user already has that many QUEUED
        jobs of this kind, raise :class:`QueueFull`. Atomic: two concurrent
        enqueues can neither both pass a cap nor both store a dedupe key.
        """

    async def enqueue_many(
        self, jobs: Sequence[NewJob], policies: Mapping[str, JobPolicy], now: float
    ) -> list[tuple[str, bool]]:
        """:meth:`enqueue` each job in order; backends may do it in one round trip."""
        return [await self.enqueue(job, policies[job.kind], now) for job in jobs]

    @abstractmethod
    async def claim(
        self,
        worker: str,
        policies: Mapping[str, JobPolicy],
        limit: int,
        lease: float,
        now: float,
    ) -> list[Job]:
        """Take up to ``limit`` QUEUED jobs of the kinds in ``policies`` whose
        ``run_after <= now``: lowest ``priority`` first, then in enqueue order.

        A job is skipped (left QUEUED) while its user has ``running_cap`` jobs
        of its kind RUNNING, counting those taken by this same claim. Taken
        jobs become RUNNING, ``attempts`` + 1, ``started_at`` = now (kept from
        the first run), leased by ``worker`` until ``now + lease``. Atomic
        across processes: no job is taken twice, no cap is exceeded.

        Fair share: while other workers running any of these kinds are
        present (:meth:`heartbeat`), ``worker`` ends the claim running no more
        than ``max(1, ceil((running + claimable) / live))`` jobs of these
        kinds, where ``running`` counts RUNNING jobs of these kinds (anyone's),
        ``claimable`` the QUEUED ones due at ``now``, and ``live`` the present
        workers, ``worker`` included whether or not it is present itself.
        Alone, it may take everything.
        """

    @abstractmethod
    async def renew(
        self, worker: str, job_ids: Sequence[str], lease: float, now: float
    ) -> set[str]:
        """Extend to ``now + lease`` the leases ``worker`` holds on these jobs.

        Returns the ids the worker must stop: cancellation requested, or no
        longer RUNNING under this worker's lease (reclaimed by another).
        """

    @abstractmethod
    async def finish(
        self,
        job_id: str,
        worker: str,
        state: JobState,
        now: float,
        *,
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record a run's final ``state`` (SUCCEEDED, FAILED or CANCELLED), its
        ``result`` (JSON-serialisable) or ``error``, ``finished_at`` = now.

        Only if ``worker`` still holds the job's lease; otherwise nothing
        changes and False is returned (another worker owns the job now).
        """

    @abstractmethod
    async def retry(
        self, job_id: str, worker: str, now: float, *, error: str, run_after: float
    ) -> bool:
        """Back to QUEUED, to run again at ``run_after``, keeping ``attempts``
        and recording ``error``; only if ``worker`` holds the lease."""

    @abstractmethod
    async def release(self, job_id: str, worker: str, now: float) -> bool:
        """Back to QUEUED at once, as if this run never started (``attempts`` - 1):
        the worker is shutting down. Only if ``worker`` holds the lease."""

    @abstractmethod
    async def progress(self, job_id: str, fraction: float, text: str) -> None:
        """Record a running job's progress (``fraction`` in [0, 1])."""

    @abstractmethod
    async def cancel(self, job_id: str, now: float) -> Job | None:
        """QUEUED: CANCELLED at once. RUNNING: ``cancel_requested`` (its worker
        stops it and records CANCELLED). Finished: unchanged. Returns the job as
        stored afterwards, or None if there is no such job."""

    @abstractmethod
    async def cancel_user(self, user_id: int, now: float) -> list[str]:
        """:meth:`cancel` every QUEUED and RUNNING job of the user; their ids."""

    @abstractmethod
    async def get(self, job_id: str) -> Job | None:
        """The job as stored."""

    @abstractmethod
    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Jobs matching every filter given, newest first."""

    @abstractmethod
    async def position(self, job_id: str, now: float) -> int | None:
        """How many QUEUED jobs of the same kind would be taken before this one
        (0: it is next), or None if it is not QUEUED."""

    @abstractmethod
    async def reclaim(self, now: float) -> list[str]:
        """RUNNING jobs whose worker died: back to QUEUED if ``attempts <
        max_attempts``, else FAILED with the reason. Their ids.

        A worker died when its lease expired, or, sooner, when its presence
        lapsed (it heartbeated, then stopped: every heartbeat's ``now +
        lifetime`` is before ``now``). Lapsed presences are forgotten.
        """

    @abstractmethod
    async def heartbeat(
        self, worker: str, kinds: Sequence[str], now: float, lifetime: float
    ) -> None:
        """Record that ``worker`` runs jobs of ``kinds`` and is alive until
        ``now + lifetime``; it calls again well before then."""

    @abstractmethod
    async def leave(self, worker: str) -> None:
        """Forget ``worker``'s presence at once (it stops cleanly): the others'
        fair share grows from their next claim."""

    @abstractmethod
    async def live_workers(self, now: float, kinds: Sequence[str] | None = None) -> int:
        """How many workers are present at ``now`` (running any of ``kinds``, if given)."""

    async def wait_for_work(self, seconds: float) -> None:
        """Return when new work may be there, or after ``seconds``.

        The default only waits; backends that can be told of new work sooner
        (a Redis stream, an enqueue in this process) return earlier.
        """
        import asyncio

        await asyncio.sleep(seconds)


def fair_share(limit: int, *, live: int, running: int, claimable: int, mine: int) -> int:
    """How many jobs a worker running ``mine`` may claim now (see :meth:`JobBackend.claim`):
    ``live`` workers share the ``running`` jobs and the ``claimable`` ones."""
    share = max(1, math.ceil((running + claimable) / max(1, live)))
    return max(0, min(limit, share - mine))
