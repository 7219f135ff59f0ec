"""Four worker processes share three bots' limits through one Redis.

Against the emulator at 10x speed, four ``sluice run worker`` processes run
sharded broadcasts of three bots (three messages to every user, in order);
one is killed with SIGKILL mid-run. Telegram must answer no 429, every user
must get every message, and each chat's messages must arrive in order (a
chat whose shard was in flight at the kill may get its first messages again,
then all of them, in order).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.broadcasts import DurableBroadcasts, sharded_broadcast
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.jobs import JobQueue, open_backend
from sluice.store import Store
from support import TOKEN_A, TOKEN_B, Sim

HERE = Path(__file__).resolve().parent
TOKEN_C = "1000003:" + "C" * 35
TOKENS = (TOKEN_A, TOKEN_B, TOKEN_C)
USERS_PER_BOT = 150
MESSAGES = [{"text": f"m{n}"} for n in (1, 2, 3)]


@contextlib.asynccontextmanager
async def worker(log: Path, *args: str) -> AsyncIterator[subprocess.Popen[str]]:
    """A worker process; its errors go to ``log`` (read it when a test fails)."""
    errors = log.open("a")
    proc = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; reading waits below
        [sys.executable, str(HERE / "dist_worker.py"), *args],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
    )
    try:
        assert proc.stdout is not None
        # Not proc.stdout.readline() in the event loop: the emulator runs in this
        # loop, and blocking it for a worker's start-up stalls every request.
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        await asyncio.to_thread(proc.wait, 10)
        if proc.stdout is not None:
            proc.stdout.close()
        errors.close()


@pytest.fixture
async def emulator() -> AsyncIterator[tuple[EmulatorServer, Sim]]:
    async with (
        EmulatorServer(EmulatorConfig(seed=1, limits=Limits(speed=10))) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
    ):
        yield server, Sim(http)


async def test_four_workers_share_three_bots_and_survive_a_kill(
    emulator: tuple[EmulatorServer, Sim], redis_url: str, tmp_path: Path
) -> None:
    server, sim = emulator
    namespace = f"t{uuid.uuid4().hex[:10]}"
    store_url = f"sqlite:///{tmp_path / 'sluice.db'}"
    store = Store.open(store_url)
    await store.setup()
    backend = open_backend(redis_url, namespace=namespace)
    broadcasts = DurableBroadcasts(store, JobQueue(backend), _unused, classify=_unused_classify)
    bots = [int(token.split(":")[0]) for token in TOKENS]
    users: dict[int, list[int]] = {}
    created = []
    for bot in bots:
        users[bot] = [int((await sim.started_user(bot))["id"]) for _ in range(USERS_PER_BOT)]
        created += await sharded_broadcast(broadcasts, bot, users[bot], MESSAGES, shards=8)
    args = (redis_url, namespace, store_url, server.url, *TOKENS)
    total = len(bots) * USERS_PER_BOT * len(MESSAGES)
    try:
        async with contextlib.AsyncExitStack() as running:
            log = tmp_path / "workers.log"
            procs = [await running.enter_async_context(worker(log, *args)) for _ in range(4)]
            await _until(lambda: _accepted(sim, at_least=total // 3), 60)
            procs[0].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs[0].wait, 10)
            try:
                await _until(lambda: _all_finished(broadcasts, [c.id for c in created]), 90)
            except TimeoutError:
                jobs = [await JobQueue(backend).status(c.job_id or "") for c in created]
                stuck = [(j.id, j.state, j.attempts, j.error) for j in jobs if not j.state.finished]
                raise AssertionError(f"unfinished jobs: {stuck}") from None
        stats = await sim.stats()
    finally:
        await _drop(backend, namespace, redis_url)
        await store.close()
    assert stats["totals"]["r429"] == 0, stats["bots"]
    for bot in bots:
        for user in users[bot]:
            texts = [m["text"] for m in await sim.messages(user) if m["sender"]["type"] == "bot"]
            _assert_in_order(texts)


def _assert_in_order(texts: list[str]) -> None:
    """Every message arrived; each run from m1 is a prefix of m1 m2 m3; the last is whole."""
    runs: list[list[str]] = []
    for text in texts:
        if text == "m1" or not runs:
            runs.append([])
        runs[-1].append(text)
    wanted = [m["text"] for m in MESSAGES]
    assert runs, "nothing arrived"
    assert all(run == wanted[: len(run)] for run in runs), texts
    assert runs[-1] == wanted, texts
    assert len(runs) <= 2, texts  # resent at most once, after the kill


async def _accepted(sim: Sim, *, at_least: int) -> bool:
    return int((await sim.stats())["totals"]["sends_accepted"]) >= at_least


async def _all_finished(broadcasts: DurableBroadcasts, ids: list[int]) -> bool:
    return all([(await broadcasts.status(i)).finished for i in ids])


async def _until(check: Any, within: float) -> None:
    async with asyncio.timeout(within):
        # The workers are other processes: their progress shows only in Telegram and the store.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _unused(bot_id: int, message: dict[str, Any], chat_id: int) -> None:
    raise AssertionError("this process only creates broadcasts; the workers send them")


def _unused_classify(exc: BaseException) -> Any:
    raise AssertionError("never called")


async def _drop(backend: Any, namespace: str, redis_url: str) -> None:
    import redis.asyncio as aioredis

    await backend.drop()
    await backend.close()
    client = aioredis.Redis.from_url(redis_url)
    async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
        await client.delete(key)
    await client.aclose()
