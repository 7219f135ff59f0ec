"""What only the Redis job backend does: streams and their consumers, side lanes,
pub/sub announcements, its keys, and a password that never shows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from sluice import redact
from sluice.jobs import Job, JobPolicy, JobState, NewJob
from sluice.jobs._redis import RedisJobBackend

T0 = 1_700_000_000.0
W1, W2 = "worker-1", "worker-2"
FREE = {"k": JobPolicy()}
CAP_1 = {"k": JobPolicy(running_cap=1)}


def job(user: int | None = None, **extra: object) -> NewJob:
    return NewJob(kind=str(extra.pop("kind", "k")), payload={}, user_id=user, **extra)  # type: ignore[arg-type]


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _open(url: str, namespace: str) -> RedisJobBackend:
    backend = RedisJobBackend.from_url(url, namespace=namespace)
    await backend.setup()
    return backend


@pytest.fixture
async def backend(redis_url: str, namespace: str) -> AsyncIterator[RedisJobBackend]:
    opened = await _open(redis_url, namespace)
    yield opened
    await opened.drop()
    await opened.close()


@pytest.fixture
async def other(redis_url: str, namespace: str) -> AsyncIterator[RedisJobBackend]:
    """Another process's view of the same jobs."""
    opened = await _open(redis_url, namespace)
    yield opened
    await opened.close()


async def put(backend: RedisJobBackend, new: NewJob, now: float = T0) -> str:
    job_id, created = await backend.enqueue(new, JobPolicy(), now)
    assert created
    return job_id


async def stored(backend: RedisJobBackend, job_id: str) -> Job:
    found = await backend.get(job_id)
    assert found is not None
    return found


async def owners(raw: aioredis.Redis, backend: RedisJobBackend, prio: int = 0) -> dict[str, int]:
    """Pending entries per consumer of the "k" stream of this priority."""
    summary = await raw.xpending(f"{backend.prefix}stream:k:{prio}", "workers")
    return {c["name"]: int(c["pending"]) for c in summary["consumers"]}


async def test_a_dead_workers_entries_pass_to_the_worker_that_takes_its_jobs(
    backend: RedisJobBackend, raw: aioredis.Redis
) -> None:
    ids = [await put(backend, job()) for _ in range(3)]
    await backend.claim(W1, FREE, 3, 5.0, T0)
    assert await owners(raw, backend) == {W1: 3}
    assert sorted(await backend.reclaim(T0 + 6)) == sorted(ids)
    # Waiting to run again, owned by no worker; the dead consumer is gone.
    assert await owners(raw, backend) == {"~waiting": 3}
    consumers = await raw.xinfo_consumers(f"{backend.prefix}stream:k:0", "workers")
    assert W1 not in {c["name"] for c in consumers}
    taken = await backend.claim(W2, FREE, 3, 30.0, T0 + 7)
    assert [j.id for j in taken] == ids  # still in their order
    assert await owners(raw, backend) == {W2: 3}
    for job_id in ids:
        assert await backend.finish(job_id, W2, JobState.SUCCEEDED, T0 + 8)
    assert await owners(raw, backend) == {}
    assert await raw.xlen(f"{backend.prefix}stream:k:0") == 0  # finished entries are deleted


async def test_a_silent_workers_entries_pass_on_and_its_presence_is_forgotten(
    backend: RedisJobBackend, raw: aioredis.Redis
) -> None:
    ids = [await put(backend, job()) for _ in range(2)]
    await backend.heartbeat(W1, ["k", "other"], T0, 3.0)
    await backend.claim(W1, FREE, 2, 30.0, T0)
    await backend.heartbeat(W2, ["k"], T0 + 3, 3.0)
    assert sorted(await backend.reclaim(T0 + 4)) == sorted(ids)  # the leases had 26 s left
    assert await owners(raw, backend) == {"~waiting": 2}
    # Forgotten everywhere, so that a worker dead long ago costs nothing.
    assert await raw.zrange(backend.prefix + "presence", 0, -1) == [W2]
    assert await raw.zrange(backend.prefix + "presence:k", 0, -1) == [W2]
    assert await raw.zcard(backend.prefix + "presence:other") == 0
    taken = await backend.claim(W2, FREE, 2, 30.0, T0 + 4)
    assert [j.id for j in taken] == ids
    assert await owners(raw, backend) == {W2: 2}


async def test_leave_forgets_the_worker_and_announces_work(
    backend: RedisJobBackend, raw: aioredis.Redis
) -> None:
    await backend.heartbeat(W1, ["k", "other"], T0, 3.0)
    assert await backend.listen()
    await backend.claim(W2, FREE, 1, 30.0, T0)  # clears what was announced before
    await backend.leave(W1)
    await asyncio.wait_for(backend.wait_for_work(60), 5)  # not the 60 s: the announcement
    for key in ("presence", "presence:k", "presence:other"):
        assert await raw.zcard(backend.prefix + key) == 0


async def test_a_held_back_job_runs_next_when_its_users_job_ends(
    backend: RedisJobBackend,
) -> None:
    a1, a2, a3 = [await put(backend, job(user=1), now=T0 + n) for n in range(3)]
    b1 = await put(backend, job(user=2), now=T0 + 3)
    assert [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 4)] == [a1, b1]
    assert (await stored(backend, a2)).state is JobState.QUEUED
    b2 = await put(backend, job(user=2), now=T0 + 5)
    assert await backend.finish(a1, W1, JobState.SUCCEEDED, T0 + 6)
    assert await backend.finish(b1, W1, JobState.SUCCEEDED, T0 + 6)
    # a2 was enqueued before b2, and a3 waits behind a2.
    assert [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 7)] == [a2, b2]
    assert await backend.retry(a2, W1, T0 + 8, error="busy", run_after=T0 + 8)
    assert [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 9)] == [a2]
    assert await backend.release(a2, W1, T0 + 10)
    assert [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 11)] == [a2]
    assert await backend.finish(a2, W1, JobState.SUCCEEDED, T0 + 12)
    assert [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 13)] == [a3]


async def test_jobs_coming_back_keep_their_place_in_line(backend: RedisJobBackend) -> None:
    first, second, third = [await put(backend, job(), now=T0 + n) for n in range(3)]
    urgent_other_kind = await put(backend, job(kind="other", priority=-1), now=T0 + 3)
    both = {"k": JobPolicy(), "other": JobPolicy()}
    taken = await backend.claim(W1, both, 2, 30.0, T0 + 4)
    assert [j.id for j in taken] == [urgent_other_kind, first]
    assert await backend.release(first, W1, T0 + 5)
    assert await backend.position(first, T0 + 5) == 0
    assert await backend.position(third, T0 + 5) == 2
    assert [j.id for j in await backend.claim(W1, both, 3, 30.0, T0 + 6)] == [first, second, third]


async def test_kinds_of_one_priority_are_taken_in_enqueue_order(
    backend: RedisJobBackend,
) -> None:
    ids = [await put(backend, job(kind=kind), now=T0 + n) for n, kind in enumerate("abab")]
    policies = {"a": JobPolicy(), "b": JobPolicy()}
    assert [j.id for j in await backend.claim(W1, policies, 4, 30.0, T0 + 5)] == ids


async def test_a_job_read_before_its_time_waits_then_keeps_its_place(
    backend: RedisJobBackend,
) -> None:
    later = await put(backend, job(run_after=T0 + 60), now=T0)
    now_one = await put(backend, job(), now=T0 + 1)
    assert await backend.position(now_one, T0 + 2) == 0  # the delayed job is not ahead
    assert [j.id for j in await backend.claim(W1, FREE, 5, 30.0, T0 + 2)] == [now_one]
    next_one = await put(backend, job(), now=T0 + 3)
    assert await backend.position(next_one, T0 + 60) == 1  # due now, and enqueued first
    assert [j.id for j in await backend.claim(W1, FREE, 5, 30.0, T0 + 60)] == [later, next_one]


async def test_a_long_run_of_held_back_jobs_does_not_stall_claims(
    backend: RedisJobBackend,
) -> None:
    await backend.enqueue_many([job(user=1) for _ in range(2500)], {"k": JobPolicy()}, T0)
    other_user = await put(backend, job(user=2), now=T0 + 1)
    taken: list[str] = []
    for attempt in range(5):  # each claim looks at a bounded number of entries
        taken += [j.id for j in await backend.claim(W1, CAP_1, 10, 30.0, T0 + 2 + attempt)]
        if other_user in taken:
            break
    assert other_user in taken
    assert len(taken) == 2  # one per user


async def test_cancellation_is_announced_to_the_worker_at_once(
    backend: RedisJobBackend, other: RedisJobBackend
) -> None:
    job_id = await put(backend, job())
    await backend.claim(W1, FREE, 1, 30.0, T0)
    assert await backend.listen()
    asked = time.monotonic()
    await other.cancel(job_id, T0 + 1)
    assert await backend.wait_for_cancel(5.0) == {job_id}
    assert time.monotonic() - asked < 0.5


async def test_work_announced_wakes_a_waiting_worker(
    backend: RedisJobBackend, other: RedisJobBackend
) -> None:
    assert await backend.listen()
    assert await backend.claim(W1, FREE, 1, 30.0, T0) == []  # nothing yet; clears the signal
    waiting = asyncio.create_task(backend.wait_for_work(10.0))
    started = time.monotonic()
    await put(other, job())
    await asyncio.wait_for(waiting, 5.0)
    assert time.monotonic() - started < 0.5


async def test_a_freed_slot_is_announced(backend: RedisJobBackend, other: RedisJobBackend) -> None:
    first = await put(backend, job(user=1))
    await put(backend, job(user=1))
    await backend.claim(W1, CAP_1, 10, 30.0, T0)  # the second is held back
    assert await backend.listen()
    assert await backend.claim(W1, CAP_1, 10, 30.0, T0 + 1) == []
    waiting = asyncio.create_task(backend.wait_for_work(10.0))
    started = time.monotonic()
    assert await other.finish(first, W1, JobState.SUCCEEDED, T0 + 2)
    await asyncio.wait_for(waiting, 5.0)
    assert time.monotonic() - started < 0.5


async def test_a_worker_is_not_told_to_stop_a_job_it_let_go(backend: RedisJobBackend) -> None:
    done, retried, lost = [await put(backend, job(max_attempts=3)) for _ in range(3)]
    await backend.claim(W1, FREE, 3, 5.0, T0)
    assert await backend.finish(done, W1, JobState.SUCCEEDED, T0 + 1)
    assert await backend.retry(retried, W1, T0 + 1, error="busy", run_after=T0 + 1)
    await backend.renew(W1, [lost], 1.0, T0 + 1)
    assert await backend.reclaim(T0 + 3) == [lost]
    assert await backend.renew(W1, [done, retried, lost], 5.0, T0 + 4) == {lost}
    # The retried job now runs under another worker: W1 still let it go itself.
    assert {j.id for j in await backend.claim(W2, FREE, 3, 5.0, T0 + 5)} == {retried, lost}
    assert await backend.renew(W1, [retried, lost], 5.0, T0 + 6) == {lost}


async def test_concurrent_finishes_are_each_recorded(backend: RedisJobBackend) -> None:
    results = await backend.enqueue_many([job() for _ in range(50)], FREE, T0)
    ids = [job_id for job_id, _ in results]
    await backend.claim(W1, FREE, 50, 30.0, T0)
    finishes = [
        backend.finish(job_id, W1, JobState.SUCCEEDED, T0 + 1, result=n)
        for n, job_id in enumerate(ids)
    ]
    not_mine = backend.finish(ids[0], W2, JobState.FAILED, T0 + 1, error="not mine")
    assert await asyncio.gather(*finishes, not_mine) == [True] * 50 + [False]
    assert [(await stored(backend, job_id)).result for job_id in ids] == list(range(50))


async def test_keys_stay_in_the_namespace_and_drop_removes_them(
    redis_url: str, namespace: str, raw: aioredis.Redis
) -> None:
    backend = await _open(redis_url, namespace)
    try:
        capped = {"k": JobPolicy(running_cap=1, queued_cap=10)}
        first = await put(backend, job(user=1, dedupe_key="file-1"))
        held = await put(backend, job(user=1))
        await put(backend, job(user=2, priority=5, run_after=T0 + 10))
        await backend.claim(W1, capped, 10, 5.0, T0)
        await backend.progress(first, 0.5, "halfway")
        await backend.retry(first, W1, T0 + 1, error="busy", run_after=T0 + 2)
        await backend.cancel(held, T0 + 1)
        await backend.claim(W2, capped, 10, 5.0, T0 + 12)
        await backend.reclaim(T0 + 20)
        await backend.position(first, T0 + 21)
        await backend.cancel_user(1, T0 + 22)
        await backend.list_jobs(user_id=1, state=JobState.CANCELLED)
        keys = [key async for key in raw.scan_iter(match=f"*{namespace}*")]
        assert keys
        assert all(key.startswith(f"{namespace}:jobs:") for key in keys)
        await backend.drop()
        assert [key async for key in raw.scan_iter(match=f"*{namespace}*")] == []
    finally:
        await backend.close()


async def test_the_password_never_shows() -> None:
    password = "n0t-a-real-passw0rd"
    # Nothing listens on port 1: every command fails to connect.
    backend = RedisJobBackend.from_url(f"redis://:{password}@127.0.0.1:1/0", namespace="x")
    try:
        assert password not in repr(backend)
        assert "***" in repr(backend)
        assert password not in redact(f"connecting with {password}")
        with pytest.raises(aioredis.ConnectionError) as info:
            await backend.get("some-job")
        assert password not in str(info.value)
    finally:
        await backend.close()
