"""Three worker processes share sixteen jobs, and a killed one's jobs resume elsewhere.

Real processes (``crash_worker.py``) with the default lease (30 s) and
presence (3 s): every worker must run some of the jobs, none more than its
fair share, and after one is killed with SIGKILL its jobs must run again on
the others within seconds, long before their leases would have ended.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from sluice.jobs import JobBackend, JobQueue, JobState

HERE = Path(__file__).resolve().parent
WORKERS = 3
JOBS = 16
WORK = 2.0  # seconds a job takes: the sixteen still run when one worker is killed
LEASE = 30.0


@pytest.fixture(params=["sqlite", "redis"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sluice.db'}"
    url: str = request.getfixturevalue("redis_url")
    return url


@contextlib.asynccontextmanager
async def workers(
    count: int, url: str, namespace: str, log: Path, errors: Path
) -> AsyncIterator[list[subprocess.Popen[str]]]:
    """``count`` worker processes started at once; killed (if alive) and reaped on the way out."""
    args = ["--lease", str(LEASE), "--concurrency", "32", "--work", str(WORK)]
    with errors.open("a") as stderr:
        procs = [
            subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; reading waits below
                [sys.executable, str(HERE / "crash_worker.py"), url, namespace, str(log), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONPATH": str(HERE.parent)},
            )
            for _ in range(count)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                ready = await asyncio.to_thread(proc.stdout.readline)
                if ready.strip() != "ready":
                    raise AssertionError(await asyncio.to_thread(errors.read_text))
            yield procs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                await asyncio.to_thread(proc.wait, 10)
                if proc.stdout is not None:
                    proc.stdout.close()


def runs(log: Path) -> list[tuple[str, int, float]]:
    """(job id, pid, epoch seconds) of every run started, in order."""
    if not log.exists():
        return []
    lines = [line.split() for line in log.read_text().splitlines()]
    return [(job_id, int(pid), float(at)) for job_id, pid, at in lines]


async def until(check: Callable[[], Awaitable[bool]], within: float) -> None:
    """Wait until ``check`` holds; other processes' progress has no event to await."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_workers_share_the_jobs_and_take_over_a_killed_ones(
    backend: JobBackend, backend_url: str, namespace: str, tmp_path: Path
) -> None:
    log, errors = tmp_path / "runs.log", tmp_path / "errors.log"
    queue = JobQueue(backend)

    async def all_present() -> bool:
        return await backend.live_workers(time.time(), ["work"]) == WORKERS

    async def all_started() -> bool:
        return len(runs(log)) >= JOBS

    async def all_succeeded() -> bool:
        done = await backend.list_jobs(state=JobState.SUCCEEDED, kind="work", limit=JOBS)
        return len(done) == JOBS

    async with workers(WORKERS, backend_url, namespace, log, errors) as procs:
        await until(all_present, 20)
        ids = await queue.enqueue_many("work", [{"n": n} for n in range(JOBS)])
        await until(all_started, 10)
        first = runs(log)[:JOBS]
        victim = procs[0]
        victim.send_signal(signal.SIGKILL)
        killed_at = time.time()
        await asyncio.to_thread(victim.wait, 10)
        try:
            await until(all_succeeded, 15)
        except TimeoutError:
            said = await asyncio.to_thread(errors.read_text)
            raise AssertionError(f"not all jobs finished; the workers said:\n{said}") from None
    split = collections.Counter(pid for _, pid, _ in first)
    assert set(split) == {proc.pid for proc in procs}, "a worker sat idle"
    assert max(split.values()) <= math.ceil(JOBS / WORKERS)
    lost = {job_id for job_id, pid, _ in first if pid == victim.pid}
    assert all(killed_at < at + WORK for job_id, _, at in first if job_id in lost), (
        "the kill came after the victim's jobs had ended: nothing to take over"
    )
    again = {job_id: (pid, at) for job_id, pid, at in runs(log)[JOBS:]}
    assert set(again) == lost  # exactly the victim's jobs ran again, once each
    assert victim.pid not in {pid for pid, _ in again.values()}
    delay = max(at for _, at in again.values()) - killed_at
    assert delay < LEASE / 3, f"taken over {delay:.1f} s after the kill"
    for job_id in ids:
        done = await backend.get(job_id)
        assert done is not None
        assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2 if job_id in lost else 1)
    shares = "/".join(str(n) for n in sorted(split.values(), reverse=True))
    print(f"split {shares}; {len(lost)} jobs taken over {delay:.2f} s after the kill")
