"""``sluice bench jobs``: no-op jobs enqueued and completed per second, per backend.

One worker process (this one), one event loop. Jobs are enqueued in batches
(``enqueue_many``) while the worker runs; the clock stops when the last job
is recorded as succeeded. SQLite uses a fresh file; Redis the server at
``SLUICE_BENCH_REDIS_URL`` (default database 14 on localhost) under a
namespace of its own, removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sluice.jobs import Job, JobBackend, JobContext, JobQueue, JobState
from sluice.jobs._open import open_backend

JOBS = 10_000
BATCH = 500
CONCURRENCY = 64
REDIS_URL = os.environ.get("SLUICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


async def measure(backend: JobBackend, jobs: int = JOBS) -> float:
    """Jobs per second, from the first enqueue to the last recorded success."""
    await backend.setup()
    all_done = asyncio.Event()

    def finished(job: Job, state: JobState) -> None:
        if queue.stats[JobState.SUCCEEDED] == jobs:
            all_done.set()

    queue = JobQueue(
        backend, lease=30.0, check_interval=0.25, poll_interval=0.01, on_finished=finished
    )

    @queue.handler("noop")
    async def noop(ctx: JobContext) -> None:
        return None

    started = time.perf_counter()
    async with queue.running(concurrency=CONCURRENCY):
        ids: list[str] = []
        for first in range(0, jobs, BATCH):
            ids += await queue.enqueue_many("noop", [{"n": n} for n in range(first, first + BATCH)])
        await asyncio.wait_for(all_done.wait(), 600)
        elapsed = time.perf_counter() - started
    assert len(ids) == jobs
    return jobs / elapsed


async def _sqlite() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        backend = open_backend(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            return await measure(backend)
        finally:
            await backend.close()


async def _redis() -> float:
    backend = open_backend(REDIS_URL, namespace=f"bench{uuid.uuid4().hex[:8]}")
    try:
        return await measure(backend)
    finally:
        drop = getattr(backend, "drop", None)
        if drop is not None:
            await drop()
        await backend.close()


def run() -> dict[str, Any]:
    return {
        "sqlite": {"jobs_per_s": round(asyncio.run(_sqlite()), 1)},
        "redis": {"jobs_per_s": round(asyncio.run(_redis()), 1)},
    }
