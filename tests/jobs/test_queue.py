"""The job queue and its worker, on every backend: handlers, retries, timeouts,
cancellation within a second, caps, leases of dead workers, graceful hand-back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest

from sluice import ConfigError
from sluice.jobs import (
    JobBackend,
    JobContext,
    JobQueue,
    JobState,
    QueueFull,
    Retryable,
    open_backend,
)

FAST = {"lease": 1.0, "check_interval": 0.05, "poll_interval": 0.05, "progress_interval": 0.0}


def make_queue(backend: JobBackend, **options: object) -> JobQueue:
    return JobQueue(backend, **{**FAST, **options}, seed=3)  # type: ignore[arg-type]


async def test_a_worker_runs_jobs_and_keeps_their_results(backend: JobBackend) -> None:
    queue = make_queue(backend)

    @queue.handler("double")
    async def double(ctx: JobContext) -> dict[str, int]:
        await ctx.progress(0.5, "halfway")
        return {"value": 2 * ctx.payload["n"]}

    ids = [await queue.enqueue("double", {"n": n}) for n in range(20)]
    async with queue.running(concurrency=4):
        done = [await queue.wait(job_id, 10) for job_id in ids]
    assert [j.result for j in done] == [{"value": 2 * n} for n in range(20)]
    assert {j.state for j in done} == {JobState.SUCCEEDED}
    assert all(j.progress_text == "halfway" for j in done)


async def test_retryable_failures_back_off_then_give_up(backend: JobBackend) -> None:
    queue = make_queue(backend)
    runs: list[float] = []

    @queue.handler("flaky", max_attempts=3, backoff_base=0.05, backoff_cap=0.1)
    async def flaky(ctx: JobContext) -> None:
        runs.append(time.monotonic())
        raise Retryable("provider busy")

    job_id = await queue.enqueue("flaky")
    async with queue.running():
        failed = await queue.wait(job_id, 10)
    assert len(runs) == 3
    assert (failed.state, failed.attempts) == (JobState.FAILED, 3)
    assert failed.error is not None
    assert "provider busy" in failed.error


async def test_other_errors_fail_at_once_with_the_reason(backend: JobBackend) -> None:
    queue = make_queue(backend)
    runs = 0

    @queue.handler("broken", max_attempts=5)
    async def broken(ctx: JobContext) -> None:
        nonlocal runs
        runs += 1
        raise ValueError("corrupt media")

    job_id = await queue.enqueue("broken")
    async with queue.running():
        failed = await queue.wait(job_id, 10)
    assert (failed.state, runs) == (JobState.FAILED, 1)
    assert failed.error == "ValueError: corrupt media"


async def test_a_job_past_its_timeout_fails_and_cleans_up(backend: JobBackend) -> None:
    queue = make_queue(backend)
    cleaned = asyncio.Event()

    @queue.handler("slow", timeout=0.2)
    async def slow(ctx: JobContext) -> None:
        try:
            await asyncio.Event().wait()  # never set: only the timeout ends it
        finally:
            cleaned.set()

    job_id = await queue.enqueue("slow")
    async with queue.running():
        failed = await queue.wait(job_id, 10)
    assert failed.state is JobState.FAILED
    assert failed.error == "timed out after 0.2 s"
    assert cleaned.is_set()


@pytest.mark.parametrize("same_process", [True, False])
async def test_cancel_stops_a_running_job_within_a_second(
    backend: JobBackend, same_process: bool
) -> None:
    worker = make_queue(backend)
    client = worker if same_process else make_queue(backend)  # another process, in effect
    started, cleaned = asyncio.Event(), asyncio.Event()

    @worker.handler("long")
    async def long(ctx: JobContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    job_id = await client.enqueue("long")
    async with worker.running():
        await asyncio.wait_for(started.wait(), 10)
        asked = time.monotonic()
        await client.cancel(job_id)
        await asyncio.wait_for(cleaned.wait(), 1.0)
        stopped = await client.wait(job_id, 5)
    assert time.monotonic() - asked < 1.0
    assert stopped.state is JobState.CANCELLED


async def test_cancel_user_ends_what_runs_and_what_waits(backend: JobBackend) -> None:
    queue = make_queue(backend)
    started = asyncio.Event()

    @queue.handler("long", running_cap=1)
    async def long(ctx: JobContext) -> None:
        started.set()
        await asyncio.Event().wait()

    ids = [await queue.enqueue("long", user_id=5) for _ in range(3)]
    async with queue.running(concurrency=4):
        await asyncio.wait_for(started.wait(), 10)
        assert sorted(await queue.cancel_user(5)) == sorted(ids)
        states = {(await queue.wait(job_id, 5)).state for job_id in ids}
    assert states == {JobState.CANCELLED}


async def test_a_users_running_cap_holds_across_concurrency(backend: JobBackend) -> None:
    queue = make_queue(backend)
    running: dict[int, int] = {}
    peak: dict[int, int] = {}

    @queue.handler("capped", running_cap=2, queued_cap=10)
    async def capped(ctx: JobContext) -> None:
        user = int(ctx.job.user_id or 0)
        running[user] = running.get(user, 0) + 1
        peak[user] = max(peak.get(user, 0), running[user])
        await asyncio.sleep(0.05)  # the work itself takes a while
        running[user] -= 1

    ids = [await queue.enqueue("capped", user_id=u) for u in (1, 2) for _ in range(6)]
    # Six waiting each; four more fit under user 1's queued cap of ten, the eleventh not.
    for _ in range(4):
        await queue.enqueue("capped", user_id=1)
    with pytest.raises(QueueFull):
        await queue.enqueue("capped", user_id=1)
    async with queue.running(concurrency=8):
        for job_id in ids:
            await queue.wait(job_id, 20)
    assert peak == {1: 2, 2: 2}


async def test_a_dead_workers_job_runs_again_elsewhere(backend: JobBackend) -> None:
    queue = make_queue(backend)
    runs: list[int] = []

    @queue.handler("work")
    async def work(ctx: JobContext) -> int:
        runs.append(ctx.attempt)
        return ctx.attempt

    job_id = await queue.enqueue("work")
    # A worker takes it and dies without a word: no renewal, no hand-back.
    (taken,) = await backend.claim(
        "dead-worker", {"work": queue.policy("work")}, 1, 0.3, time.time()
    )
    assert taken.id == job_id
    async with queue.running():
        done = await queue.wait(job_id, 10)
    assert (done.state, done.result, runs) == (JobState.SUCCEEDED, 2, [2])


async def test_stopping_a_worker_hands_its_jobs_back(backend: JobBackend) -> None:
    first, second = make_queue(backend), make_queue(backend)
    started = asyncio.Event()

    async def never_ends(ctx: JobContext) -> None:
        started.set()
        await asyncio.Event().wait()

    async def finishes(ctx: JobContext) -> str:
        return "done by the second worker"

    first.register("task", never_ends)
    second.register("task", finishes)
    job_id = await first.enqueue("task")
    async with first.running():
        await asyncio.wait_for(started.wait(), 10)
    handed_back = await first.status(job_id)
    assert (handed_back.state, handed_back.attempts) == (JobState.QUEUED, 0)
    async with second.running():
        done = await second.wait(job_id, 10)
    assert (done.state, done.result, done.attempts) == (
        JobState.SUCCEEDED,
        "done by the second worker",
        1,
    )


async def test_a_queue_on_a_fresh_database_needs_no_setup_call(
    backend_url: str, namespace: str
) -> None:
    backend = open_backend(backend_url, namespace=namespace)
    queue = make_queue(backend)  # no backend.setup(): the queue does it before first use
    try:

        @queue.handler("hello")
        async def hello(ctx: JobContext) -> str:
            return f"hello {ctx.payload['who']}"

        job_id = await queue.enqueue("hello", {"who": "world"}, user_id=7)
        assert [j.id for j in await queue.list_jobs(user_id=7)] == [job_id]
        async with queue.running(concurrency=1):
            assert (await queue.wait(job_id, 10)).result == "hello world"
    finally:
        drop = getattr(backend, "drop", None)
        if drop is not None:
            await drop()
        await backend.close()


async def _until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    """Wait until ``check`` holds: what other workers do shows only in the backend."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 - no event to await across workers
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("waiting", [False, True], ids=["jobs-come", "jobs-wait"])
async def test_workers_share_the_jobs_fairly(backend: JobBackend, waiting: bool) -> None:
    """Workers running when the jobs come, or started together while they wait."""
    queues = [make_queue(backend) for _ in range(3)]
    release = asyncio.Event()
    running: dict[str, int] = {q.worker_id: 0 for q in queues}
    peak: dict[str, int] = dict.fromkeys(running, 0)

    def handler(queue: JobQueue) -> Callable[[JobContext], Awaitable[None]]:
        async def slow(ctx: JobContext) -> None:
            running[queue.worker_id] += 1
            peak[queue.worker_id] = max(peak[queue.worker_id], running[queue.worker_id])
            await release.wait()
            running[queue.worker_id] -= 1

        return slow

    for queue in queues:
        queue.register("slow", handler(queue))
    if waiting:
        ids = await queues[0].enqueue_many("slow", [{} for _ in range(16)])
    async with contextlib.AsyncExitStack() as stack:
        for queue in queues:
            await stack.enter_async_context(queue.running(concurrency=32))
        if not waiting:

            async def all_present() -> bool:
                return await backend.live_workers(time.time(), ["slow"]) == 3

            await _until(all_present, 5)
            ids = await queues[0].enqueue_many("slow", [{} for _ in range(16)])

        async def all_running() -> bool:
            return sum(running.values()) == 16

        await _until(all_running, 10)
        release.set()
        done = [await queues[0].wait(job_id, 10) for job_id in ids]
    assert {j.state for j in done} == {JobState.SUCCEEDED}
    assert max(peak.values()) <= 6  # ceil(16 / 3)
    assert min(peak.values()) >= 1  # nobody idle
    assert await backend.live_workers(time.time()) == 0  # each left as it stopped


async def test_a_silent_workers_job_is_taken_over_long_before_its_lease_ends(
    backend: JobBackend,
) -> None:
    queue = make_queue(backend, lease=30.0, presence=0.3)
    runs: list[int] = []

    @queue.handler("work")
    async def work(ctx: JobContext) -> int:
        runs.append(ctx.attempt)
        return ctx.attempt

    job_id = await queue.enqueue("work")
    # A worker announces itself, takes the job for 30 s, and dies without a word.
    await backend.heartbeat("dead-worker", ["work"], time.time(), 0.3)
    (taken,) = await backend.claim(
        "dead-worker", {"work": queue.policy("work")}, 1, 30.0, time.time()
    )
    assert taken.id == job_id
    started = time.monotonic()
    async with queue.running():
        done = await queue.wait(job_id, 10)
    assert (done.state, done.result, runs) == (JobState.SUCCEEDED, 2, [2])
    assert time.monotonic() - started < 5  # the presence lapsed; the lease had 30 s left


async def test_presence_must_be_a_positive_time(tmp_path: Path) -> None:
    backend = open_backend(f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        for presence in (0.0, -1.0, float("inf")):
            with pytest.raises(ConfigError):
                JobQueue(backend, presence=presence)
    finally:
        await backend.close()


async def test_a_worker_whose_own_presence_lapsed_takes_nothing_over(
    backend: JobBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(backend, lease=30.0, presence=0.3)
    queue.register("work", lambda ctx: asyncio.sleep(0))
    job_id = await queue.enqueue("work")
    # Another worker takes the job; it goes silent later than this one will.
    await backend.heartbeat("other-worker", ["work"], time.time(), 0.6)
    await backend.claim("other-worker", {"work": queue.policy("work")}, 1, 30.0, time.time())
    beats, out_of_reach = 0, asyncio.Event()
    heartbeat = backend.heartbeat

    async def unreachable(worker: str, kinds: Sequence[str], now: float, lifetime: float) -> None:
        nonlocal beats
        beats += 1
        if beats == 1:
            return await heartbeat(worker, kinds, now, lifetime)
        if beats == 10:  # a second after the first beat: both presences lapsed long ago
            out_of_reach.set()
        raise ConnectionError("the store is out of reach")

    monkeypatch.setattr(backend, "heartbeat", unreachable)
    async with queue.running():
        await asyncio.wait_for(out_of_reach.wait(), 10)
    # Silent itself, this worker could not tell a dead worker from its own stall.
    still = await backend.get(job_id)
    assert still is not None
    assert (still.state, still.attempts) == (JobState.RUNNING, 1)
