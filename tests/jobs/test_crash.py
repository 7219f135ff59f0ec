"""kill -9 in the middle of the work, restart, and everything accepted completes.

A worker process is killed with SIGKILL while it runs 500 jobs, and while it
broadcasts to 2,000 users of the emulator; another one is started. Every job
must succeed and every user receive the message; a job runs twice only if
it was running at the kill, a message goes twice only if Telegram had
accepted it but the dead worker had not recorded it yet, and nothing goes
three times.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

from sluice.broadcasts import DurableBroadcasts
from sluice.broadcasts.aiogram import aiogram_sender
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.integrations.aiogram import classify_aiogram
from sluice.jobs import JobBackend, JobQueue, JobState
from sluice.store import Store
from support import BOT_A, TOKEN_A, Sim

HERE = Path(__file__).resolve().parent
JOBS = 500


@contextlib.contextmanager
def worker(url: str, namespace: str, log: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """A worker process; killed (if still alive) and reaped on the way out."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_worker.py"), url, namespace, str(log), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> None:
    """Poll another process's progress until ``check`` holds (fail after ``within`` s)."""
    async with asyncio.timeout(within):
        # Another process's progress shows only in the store: there is no event to await.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def count(backend: JobBackend, state: JobState) -> int:
    return len(await backend.list_jobs(state=state, kind="work", limit=JOBS))


async def test_a_killed_worker_loses_no_job(
    backend: JobBackend, backend_url: str, namespace: str, tmp_path: Path
) -> None:
    log = tmp_path / "runs.log"
    queue = JobQueue(backend)
    ids = await queue.enqueue_many("work", [{"n": n} for n in range(JOBS)])
    with worker(backend_url, namespace, log) as first:
        await eventually(lambda: _at_least(backend, JobState.SUCCEEDED, JOBS // 3), 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    in_flight = {j.id for j in await backend.list_jobs(state=JobState.RUNNING, limit=JOBS)}
    succeeded_at_kill = await count(backend, JobState.SUCCEEDED)
    assert succeeded_at_kill < JOBS, "the kill came too late to test anything"
    with worker(backend_url, namespace, log):
        await eventually(lambda: _at_least(backend, JobState.SUCCEEDED, JOBS), 60)
    runs = collections.Counter(line.split()[0] for line in log.read_text().splitlines())
    assert set(runs) == set(ids)  # every job ran
    twice = {job_id for job_id, n in runs.items() if n == 2}
    assert max(runs.values()) <= 2
    assert twice <= in_flight  # only what was running at the kill ran again
    for job_id in twice:
        job = await backend.get(job_id)
        assert job is not None
        assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)
    print(
        f"killed after {succeeded_at_kill} of {JOBS}; {len(in_flight)} in flight; "
        f"{len(twice)} ran twice"
    )


async def _at_least(backend: JobBackend, state: JobState, n: int) -> bool:
    return await count(backend, state) >= n


RECIPIENTS = 2000


async def test_a_killed_broadcast_resumes_and_sends_each_message_once(
    backend: JobBackend, backend_url: str, namespace: str, tmp_path: Path
) -> None:
    store_url = (
        backend_url if backend_url.startswith("postgres") else f"sqlite:///{tmp_path / 's.db'}"
    )
    store = Store.open(store_url, namespace=namespace)
    await store.setup()
    config = EmulatorConfig(limits=Limits(speed=10))
    try:
        async with EmulatorServer(config) as server, httpx.AsyncClient(base_url=server.url) as http:
            sim = Sim(http)
            users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(RECIPIENTS)]
            broadcasts = DurableBroadcasts(
                store, JobQueue(backend), aiogram_sender({}), classify=classify_aiogram
            )
            created = await broadcasts.create(BOT_A, users, {"text": "news"})
            extra = ("--store", store_url, "--telegram", server.url, "--token", TOKEN_A)
            log = tmp_path / "runs.log"

            async def accepted() -> int:
                stats = (await sim.stats())["bots"].get(str(BOT_A), {})
                return int(stats.get("sends_accepted", 0))

            with worker(backend_url, namespace, log, *extra) as first:
                await eventually(lambda: _more_than(accepted, RECIPIENTS // 4), 60)
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            sent_at_kill = await accepted()  # what reached Telegram, up to the last byte
            recorded_at_kill = (await broadcasts.status(created.id)).delivered
            assert recorded_at_kill < RECIPIENTS, "the kill came too late to test anything"
            with worker(backend_url, namespace, log, *extra):
                await eventually(lambda: _finished(broadcasts, created.id), 90)
            status = await broadcasts.status(created.id)
            received = collections.Counter()
            for user in users:
                texts = [
                    m["text"] for m in await sim.messages(user) if m["sender"]["type"] == "bot"
                ]
                received[user] = texts.count("news")
    finally:
        await store.drop()
        await store.close()
    assert status.delivered == RECIPIENTS
    assert min(received.values()) == 1  # everyone got it
    assert max(received.values()) <= 2
    twice = sum(1 for n in received.values() if n == 2)
    # Only what Telegram had accepted but the dead worker had not yet recorded went twice.
    assert twice <= sent_at_kill - recorded_at_kill
    print(f"killed at {sent_at_kill} sent, {recorded_at_kill} recorded; {twice} sent twice")


async def _more_than(value: Callable[[], Awaitable[int]], n: int) -> bool:
    return await value() > n


async def _finished(broadcasts: DurableBroadcasts, broadcast_id: int) -> bool:
    return (await broadcasts.status(broadcast_id)).finished
