"""The job queue: handlers per kind, and the worker that runs them durably.

A worker claims jobs from the backend, runs each handler as a task under the
job's timeout, renews its leases every ``check_interval`` (which is also how
it learns of cancellations: a cancelled job's task is cancelled, its cleanup
runs, and it is recorded CANCELLED), and sweeps expired leases so that jobs
of a worker that died run again. Its presence heartbeat, a task of its own so
that slow renewals cannot delay it, makes it one of the workers that share
the jobs fairly, and its silence tells the others within seconds that it
died. Handlers see a :class:`JobContext` to report progress. Raise
:class:`Retryable` (or an exception listed in ``retry_on``) to be retried
with backoff; any other exception fails the job with its text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sluice._exceptions import ConfigError, Retryable
from sluice._redact import redact
from sluice.jobs._backend import JobBackend, JobNotFound
from sluice.jobs._model import Job, JobPolicy, JobState, NewJob

__all__ = ["JobContext", "JobQueue", "Retryable"]

log = logging.getLogger("sluice.jobs")

Handler = Callable[["JobContext"], Awaitable[Any]]


@dataclass(slots=True)
class _Kind:
    handler: Handler
    policy: JobPolicy
    retry_on: tuple[type[BaseException], ...]


class JobContext:
    """What a running handler knows of its job, and how it reports progress."""

    __slots__ = ("_last_write", "_queue", "job")

    def __init__(self, queue: JobQueue, job: Job) -> None:
        self._queue = queue
        self.job = job
        self._last_write = 0.0

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def attempt(self) -> int:
        return self.job.attempts

    async def progress(self, fraction: float, text: str = "", *, force: bool = False) -> None:
        """Record progress; writes are spaced ``progress_interval`` apart unless ``force``."""
        fraction = min(1.0, max(0.0, fraction))
        self.job.progress, self.job.progress_text = fraction, text
        now = time.monotonic()
        if force or now - self._last_write >= self._queue.progress_interval:
            self._last_write = now
            await self._queue.backend.progress(self.job.id, fraction, text)


class JobQueue:
    """Durable jobs on a :class:`~sluice.jobs.JobBackend`.

    Parameters:
        backend: where jobs live (:func:`~sluice.jobs.open_backend` opens one by URL).
        lease: seconds a claimed job stays owned without renewal; a worker renews
            every ``check_interval``, so only a dead (or stuck) worker's jobs expire.
        check_interval: seconds between lease renewals (and cancellation checks).
        presence: seconds a running worker counts as alive after its last
            heartbeat; it beats every third of that. Workers present share the
            claimable jobs fairly, and the jobs of a worker silent for longer
            are taken over without waiting for their leases.
        poll_interval: seconds an idle worker waits before asking for work again
            (backends that hear of new work sooner wake it sooner).
        clock: epoch seconds (tests inject one).
        worker_id: this process's name in leases; host and pid by default.
        on_finished: called with each job this worker recorded as finished, and its state.

    ``stats`` counts the outcomes this worker recorded, by state.
    """

    def __init__(
        self,
        backend: JobBackend,
        *,
        lease: float = 30.0,
        check_interval: float = 0.25,
        presence: float = 3.0,
        poll_interval: float = 0.2,
        progress_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
        seed: int | None = None,
        on_finished: Callable[[Job, JobState], None] | None = None,
    ) -> None:
        if not lease > 2 * check_interval > 0:
            raise ConfigError("the lease must outlast two renewals: lease > 2 * check_interval")
        if not (presence > 0 and math.isfinite(presence)):
            raise ConfigError(f"presence must be a positive number of seconds, got {presence!r}")
        self.backend = backend
        self.lease = lease
        self.check_interval = check_interval
        self.presence = presence
        self.poll_interval = poll_interval
        self.progress_interval = progress_interval
        self.clock = clock
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._kinds: dict[str, _Kind] = {}
        self._rng = random.Random(seed)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[str] = set()  # cancelled on request: record CANCELLED
        self._recording: set[str] = set()  # outcome being written: too late to cancel
        self._work = asyncio.Event()
        self.on_finished = on_finished
        self.stats: Counter[JobState] = Counter()
        self._set_up = False
        self._setup_lock = asyncio.Lock()
        self._present_until = 0.0  # by this queue's clock: when its presence lapses

    async def _ready(self) -> JobBackend:
        # The backend's tables, scripts and groups exist before the first use
        # (setup is idempotent; calling it yourself first is fine too).
        if not self._set_up:
            async with self._setup_lock:
                if not self._set_up:
                    await self.backend.setup()
                    self._set_up = True
        return self.backend

    # -- kinds ---------------------------------------------------------------

    def register(
        self,
        kind: str,
        handler: Handler,
        policy: JobPolicy | None = None,
        *,
        retry_on: Sequence[type[BaseException]] = (),
    ) -> None:
        """Run ``handler`` for jobs of ``kind`` under ``policy``."""
        self._kinds[kind] = _Kind(handler, policy or JobPolicy(), tuple(retry_on))

    def handler(
        self, kind: str, *, retry_on: Sequence[type[BaseException]] = (), **policy: Any
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`; keyword arguments build the :class:`JobPolicy`."""

        def decorate(fn: Handler) -> Handler:
            self.register(kind, fn, JobPolicy(**policy), retry_on=retry_on)
            return fn

        return decorate

    def policy(self, kind: str) -> JobPolicy:
        registered = self._kinds.get(kind)
        return registered.policy if registered is not None else JobPolicy()

    # -- clients -------------------------------------------------------------

    def _new(
        self,
        kind: str,
        payload: dict[str, Any] | None,
        user_id: int | None,
        priority: int,
        dedupe_key: str | None,
        max_attempts: int | None,
        timeout: float | None,
        delay: float,
    ) -> NewJob:
        policy = self.policy(kind)
        return NewJob(
            kind=kind,
            payload=dict(payload or {}),
            user_id=user_id,
            priority=priority,
            dedupe_key=dedupe_key,
            max_attempts=policy.max_attempts if max_attempts is None else max_attempts,
            timeout=policy.timeout if timeout is None else timeout,
            run_after=self.clock() + delay if delay > 0 else 0.0,
        )

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        user_id: int | None = None,
        priority: int = 0,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the job's run time limit
        delay: float = 0.0,
    ) -> str:
        """Store a job; its id. Lower ``priority`` runs first.

        With ``dedupe_key``, enqueuing the same work again returns the first
        job's id. Raises :class:`~sluice.jobs.QueueFull` past the kind's per-user cap.
        """
        job = self._new(kind, payload, user_id, priority, dedupe_key, max_attempts, timeout, delay)
        backend = await self._ready()
        job_id, _ = await backend.enqueue(job, self.policy(kind), self.clock())
        self._work.set()
        return job_id

    async def enqueue_many(
        self, kind: str, payloads: Sequence[dict[str, Any]], *, priority: int = 0
    ) -> list[str]:
        """Store many jobs of one kind at once (no user, no dedupe); their ids."""
        jobs = [self._new(kind, p, None, priority, None, None, None, 0.0) for p in payloads]
        backend = await self._ready()
        done = await backend.enqueue_many(jobs, {kind: self.policy(kind)}, self.clock())
        self._work.set()
        return [job_id for job_id, _ in done]

    async def status(self, job_id: str) -> Job:
        backend = await self._ready()
        job = await backend.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        backend = await self._ready()
        return await backend.list_jobs(user_id=user_id, state=state, kind=kind, limit=limit)

    async def position(self, job_id: str) -> int | None:
        """How many queued jobs go before this one (None once it runs or ended)."""
        backend = await self._ready()
        return await backend.position(job_id, self.clock())

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job: at once if queued; a running one stops within ``check_interval``."""
        backend = await self._ready()
        job = await backend.cancel(job_id, self.clock())
        if job is None:
            raise JobNotFound(job_id)
        self._stop_local([job_id])
        return job

    async def cancel_user(self, user_id: int) -> list[str]:
        """Cancel every queued and running job of the user; their ids."""
        backend = await self._ready()
        ids = await backend.cancel_user(user_id, self.clock())
        self._stop_local(ids)
        return ids

    def _stop_local(self, ids: Sequence[str]) -> None:
        # A job running in this very process stops now, not at the next check.
        for job_id in ids:
            task = self._running.get(job_id)
            if task is not None and not task.done() and job_id not in self._recording:
                self._stopping.add(job_id)
                task.cancel()

    async def wait(self, job_id: str, timeout: float = 60.0) -> Job:  # noqa: ASYNC109
        """Wait until the job has finished; the job as stored."""
        async with asyncio.timeout(timeout):
            delay = 0.01
            while True:
                job = await self.status(job_id)
                if job.state.finished:
                    return job
                await asyncio.sleep(delay)
                delay = min(0.25, delay * 2)

    # -- the worker ----------------------------------------------------------

    async def run(
        self,
        *,
        concurrency: int = 4,
        kinds: Sequence[str] | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Run jobs until ``stop`` is set (or the task is cancelled).

        While other workers run these kinds, this one claims no more than its
        fair share of the jobs running and waiting. It announces itself, then
        waits one ``poll_interval`` before its first claim, so that workers
        started together see each other and none takes everything.

        On the way out, jobs still running are cancelled and handed back to the
        queue at once (not counted as an attempt), so another worker takes them.
        """
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        chosen = list(kinds) if kinds is not None else list(self._kinds)
        unknown = [k for k in chosen if k not in self._kinds]
        if unknown:
            raise ConfigError(f"no handler registered for job kinds {unknown}")
        policies = {k: self._kinds[k].policy for k in chosen}
        await self._ready()
        stop = stop or asyncio.Event()
        await self._beat(chosen)
        present = asyncio.create_task(self._keep_present(stop, chosen))
        keeper = asyncio.create_task(self._keep_leases(stop))
        freed = asyncio.Event()
        try:
            await _first(stop.wait(), within=self.poll_interval)
            while not stop.is_set():
                # Cleared before looking, so a slot freed or a job enqueued meanwhile wakes us.
                freed.clear()
                self._work.clear()
                free = concurrency - len(self._running)
                jobs: list[Job] = []
                if free > 0:
                    jobs = await self.backend.claim(
                        self.worker_id, policies, free, self.lease, self.clock()
                    )
                for job in jobs:
                    self._running[job.id] = asyncio.create_task(self._execute(job, freed))
                if free <= 0 or len(jobs) == free:
                    await _first(stop.wait(), freed.wait(), within=self.poll_interval)
                elif not jobs:
                    await _first(
                        stop.wait(),
                        self._work.wait(),
                        freed.wait(),
                        self.backend.wait_for_work(self.poll_interval),
                        within=self.poll_interval,
                    )
        finally:
            for task in (keeper, present):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._hand_back()
            try:
                await self.backend.leave(self.worker_id)
            except Exception:  # the others learn it when the presence lapses
                log.exception("announcing that this worker stops failed")

    @contextlib.asynccontextmanager
    async def running(
        self, *, concurrency: int = 4, kinds: Sequence[str] | None = None
    ) -> AsyncIterator[None]:
        """Run a worker in the background for the duration of the block."""
        stop = asyncio.Event()
        task = asyncio.create_task(self.run(concurrency=concurrency, kinds=kinds, stop=stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def _hand_back(self) -> None:
        running = dict(self._running)
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
        for job_id in running:
            if job_id not in self._stopping:
                await self.backend.release(job_id, self.worker_id, self.clock())
        self._running.clear()

    async def _keep_present(self, stop: asyncio.Event, kinds: Sequence[str]) -> None:
        beat = self.presence / 3
        while not stop.is_set():
            await _first(stop.wait(), within=beat)
            if stop.is_set():
                return
            try:
                await self._beat(kinds)
            except Exception:  # a hiccup of the store must not kill the worker
                log.exception("the presence heartbeat failed; retrying")

    async def _beat(self, kinds: Sequence[str]) -> None:
        now = self.clock()
        await self.backend.heartbeat(self.worker_id, kinds, now, self.presence)
        self._present_until = now + self.presence

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        # Often enough that a dead worker's jobs are taken over soon after its presence lapses.
        sweep_every = max(self.check_interval, min(self.lease / 4, self.presence / 3))
        last_sweep = 0.0
        while not stop.is_set():
            await _first(stop.wait(), within=self.check_interval)
            now = self.clock()
            ids = list(self._running)
            if ids:
                try:
                    stop_ids = await self.backend.renew(self.worker_id, ids, self.lease, now)
                    self._stop_local(list(stop_ids))
                except Exception:  # a hiccup of the store must not kill the worker
                    log.exception("renewing job leases failed; retrying")
            # A worker whose own presence lapsed (its event loop stalled, its
            # store out of reach) does not judge the others' silence: the
            # stall may have silenced them too, in this very process.
            if now - last_sweep >= sweep_every and now <= self._present_until:
                last_sweep = now
                try:
                    if await self.backend.reclaim(now):
                        self._work.set()
                except Exception:
                    log.exception("sweeping expired job leases failed; retrying")

    async def _execute(self, job: Job, freed: asyncio.Event) -> None:
        kind = self._kinds[job.kind]
        try:
            await self._outcome(job, kind)
        except asyncio.CancelledError:
            if job.id in self._stopping:
                await self._record(job, JobState.CANCELLED, error="cancelled on request")
            raise
        finally:
            self._running.pop(job.id, None)
            self._stopping.discard(job.id)
            self._recording.discard(job.id)
            freed.set()

    async def _outcome(self, job: Job, kind: _Kind) -> None:
        try:
            async with asyncio.timeout(job.timeout):
                result = await kind.handler(JobContext(self, job))
        except TimeoutError:
            await self._record(job, JobState.FAILED, error=f"timed out after {job.timeout:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = redact(f"{type(exc).__name__}: {exc}")
            if isinstance(exc, (Retryable, *kind.retry_on)) and job.attempts < job.max_attempts:
                delay = exc.delay if isinstance(exc, Retryable) else None
                if delay is None:
                    policy = kind.policy
                    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (job.attempts - 1))
                    delay = self._rng.uniform(0.0, ceiling)
                now = self.clock()
                await self.backend.retry(
                    job.id, self.worker_id, now, error=error, run_after=now + delay
                )
                self._work.set()
            else:
                if not isinstance(exc, (Retryable, *kind.retry_on)):
                    log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
                await self._record(job, JobState.FAILED, error=error)
        else:
            await self._record(job, JobState.SUCCEEDED, result=result)

    async def _record(
        self, job: Job, state: JobState, *, result: Any = None, error: str | None = None
    ) -> None:
        # Once the outcome is on its way to the backend, a cancel request must
        # not interrupt the bookkeeping that follows it (stats, on_finished).
        self._recording.add(job.id)
        recorded = await asyncio.shield(
            self.backend.finish(
                job.id, self.worker_id, state, self.clock(), result=result, error=error
            )
        )
        if recorded:
            self.stats[state] += 1
            if self.on_finished is not None:
                self.on_finished(job, state)

    def with_policy(self, kind: str, **changes: Any) -> None:
        """Change a registered kind's policy (for example its caps) at run time."""
        registered = self._kinds[kind]
        registered.policy = replace(registered.policy, **changes)


async def _first(*waits: Awaitable[Any], within: float) -> None:
    """Return when the first of ``waits`` completes, or after ``within`` s; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
