"""The job backend contract, the same for SQLite, PostgreSQL and Redis.

Times are handed in (``now``), so every lease, delay and expiry is exact.
"""

from __future__ import annotations

import asyncio

import pytest

from sluice.jobs import Job, JobBackend, JobPolicy, JobState, NewJob, QueueFull

T0 = 1_700_000_000.0
W1, W2 = "worker-1", "worker-2"
FREE = JobPolicy()


def job(kind: str = "k", user: int | None = None, **extra: object) -> NewJob:
    payload = extra.pop("payload", {"n": 1})
    return NewJob(kind=kind, payload=payload, user_id=user, **extra)  # type: ignore[arg-type]


async def put(backend: JobBackend, new: NewJob, policy: JobPolicy = FREE, now: float = T0) -> str:
    job_id, created = await backend.enqueue(new, policy, now)
    assert created
    return job_id


async def claim(
    backend: JobBackend,
    limit: int = 10,
    *,
    worker: str = W1,
    now: float = T0,
    lease: float = 30.0,
    policies: dict[str, JobPolicy] | None = None,
) -> list[Job]:
    return await backend.claim(worker, policies or {"k": FREE}, limit, lease, now)


async def stored(backend: JobBackend, job_id: str) -> Job:
    found = await backend.get(job_id)
    assert found is not None
    return found


async def test_enqueue_stores_a_queued_job(backend: JobBackend) -> None:
    payload = {"text": "héllo", "nested": {"list": [1, 2.5, None, True]}}
    job_id = await put(
        backend, job(user=42, priority=3, payload=payload, max_attempts=5, timeout=9.5)
    )
    found = await stored(backend, job_id)
    assert (found.id, found.kind, found.payload, found.user_id) == (job_id, "k", payload, 42)
    assert (found.state, found.priority, found.attempts, found.max_attempts) == (
        JobState.QUEUED,
        3,
        0,
        5,
    )
    assert found.timeout == 9.5
    assert found.created_at == T0
    assert (found.result, found.error, found.started_at, found.finished_at) == (
        None,
        None,
        None,
        None,
    )
    assert await backend.get("no-such-job") is None


async def test_a_dedupe_key_enqueues_the_same_work_once(backend: JobBackend) -> None:
    first = await put(backend, job(dedupe_key="file-1"))
    assert await backend.enqueue(job(dedupe_key="file-1"), FREE, T0) == (first, False)
    # Another kind may use the same key; the first job stays the one.
    other = await put(backend, job(kind="other", dedupe_key="file-1"))
    assert other != first
    (taken,) = await claim(backend)
    await backend.finish(taken.id, W1, JobState.SUCCEEDED, T0 + 1, result="done")
    assert await backend.enqueue(job(dedupe_key="file-1"), FREE, T0 + 2) == (first, False)
    assert len(await backend.list_jobs(kind="k")) == 1


async def test_concurrent_enqueues_of_one_dedupe_key_store_one_job(backend: JobBackend) -> None:
    results = await asyncio.gather(
        *(backend.enqueue(job(dedupe_key="x"), FREE, T0) for _ in range(8))
    )
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1


async def test_the_queued_cap_refuses_one_more_waiting_job_per_user(backend: JobBackend) -> None:
    capped = JobPolicy(queued_cap=2)
    await put(backend, job(user=1), capped)
    await put(backend, job(user=1), capped)
    with pytest.raises(QueueFull) as info:
        await backend.enqueue(job(user=1), capped, T0)
    assert (info.value.user_id, info.value.cap, info.value.kind) == (1, 2, "k")
    await put(backend, job(user=2), capped)  # another user
    await put(backend, job(kind="other", user=1), capped)  # another kind
    # A job that starts running no longer waits: there is room again.
    await claim(backend, 1)
    await put(backend, job(user=1), capped)


async def test_concurrent_enqueues_never_pass_the_queued_cap(backend: JobBackend) -> None:
    capped = JobPolicy(queued_cap=3)
    outcomes = await asyncio.gather(
        *(backend.enqueue(job(user=9), capped, T0) for _ in range(10)), return_exceptions=True
    )
    assert sum(isinstance(o, tuple) for o in outcomes) == 3
    assert all(isinstance(o, tuple | QueueFull) for o in outcomes)


async def test_claim_takes_the_best_first_and_leases_them(backend: JobBackend) -> None:
    low = await put(backend, job(priority=5))
    first = await put(backend, job(priority=0), now=T0 + 1)
    second = await put(backend, job(priority=0), now=T0 + 2)
    await put(backend, job(kind="ignored"))
    taken = await claim(backend, 2, now=T0 + 10, lease=30)
    assert [j.id for j in taken] == [first, second]
    for j in taken:
        assert (j.state, j.attempts, j.started_at) == (JobState.RUNNING, 1, T0 + 10)
    assert [j.id for j in await claim(backend, 5, now=T0 + 11)] == [low]
    assert await claim(backend, 5, now=T0 + 12) == []  # only "k" jobs were asked for


async def test_a_delayed_job_waits_for_its_time(backend: JobBackend) -> None:
    later = await put(backend, job(run_after=T0 + 60))
    assert await claim(backend, now=T0 + 59) == []
    assert [j.id for j in await claim(backend, now=T0 + 60)] == [later]


async def test_the_running_cap_holds_back_a_users_next_job(backend: JobBackend) -> None:
    capped = {"k": JobPolicy(running_cap=1)}
    a1 = await put(backend, job(user=1))
    a2 = await put(backend, job(user=1))
    b1 = await put(backend, job(user=2))
    taken = await claim(backend, 10, policies=capped)
    assert sorted(j.id for j in taken) == sorted([a1, b1])  # a2 waits behind a1
    assert await claim(backend, 10, policies=capped, now=T0 + 1) == []
    assert await backend.finish(a1, W1, JobState.SUCCEEDED, T0 + 2)
    assert [j.id for j in await claim(backend, 10, policies=capped, now=T0 + 3)] == [a2]


async def test_concurrent_claims_take_each_job_once_within_caps(backend: JobBackend) -> None:
    capped = {"k": JobPolicy(running_cap=2)}
    for user in range(5):
        for _ in range(4):
            await put(backend, job(user=user))
    batches = await asyncio.gather(
        *(claim(backend, 3, worker=f"w{n}", policies=capped) for n in range(10))
    )
    taken = [j for batch in batches for j in batch]
    assert len({j.id for j in taken}) == len(taken) == 10  # 5 users x cap 2
    per_user: dict[int | None, int] = {}
    for j in taken:
        per_user[j.user_id] = per_user.get(j.user_id, 0) + 1
    assert set(per_user.values()) == {2}


async def test_renew_extends_the_lease_and_names_what_to_stop(backend: JobBackend) -> None:
    keep = await put(backend, job())
    cancel = await put(backend, job())
    await claim(backend, lease=10)
    assert await backend.renew(W1, [keep, cancel], 10, T0 + 8) == set()
    await backend.cancel(cancel, T0 + 9)
    assert await backend.renew(W1, [keep, cancel], 10, T0 + 9) == {cancel}
    # Renewed at T0+9 for 10 s: not expired at T0+18, expired at T0+20.
    assert await backend.reclaim(T0 + 18) == []
    assert keep in await backend.reclaim(T0 + 20)
    # The lease is gone: the old worker is told to stop it.
    assert keep in await backend.renew(W1, [keep], 10, T0 + 21)


async def test_only_the_lease_holder_records_the_outcome(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await claim(backend)
    assert not await backend.finish(job_id, W2, JobState.SUCCEEDED, T0 + 1, result=1)
    result = {"text": "ok", "segments": [{"start": 0.5, "end": 1.25}]}
    assert await backend.finish(job_id, W1, JobState.SUCCEEDED, T0 + 2, result=result)
    done = await stored(backend, job_id)
    assert (done.state, done.result, done.finished_at) == (JobState.SUCCEEDED, result, T0 + 2)
    # Finished is final.
    assert not await backend.finish(job_id, W1, JobState.FAILED, T0 + 3, error="late")
    assert (await stored(backend, job_id)).state is JobState.SUCCEEDED


async def test_a_failure_keeps_its_reason(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await claim(backend)
    assert await backend.finish(job_id, W1, JobState.FAILED, T0 + 1, error="ValueError: bad")
    failed = await stored(backend, job_id)
    assert (failed.state, failed.error) == (JobState.FAILED, "ValueError: bad")


async def test_retry_queues_the_job_again_at_its_time(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await claim(backend)
    assert await backend.retry(job_id, W1, T0 + 1, error="Retryable: busy", run_after=T0 + 30)
    again = await stored(backend, job_id)
    assert (again.state, again.attempts, again.error) == (JobState.QUEUED, 1, "Retryable: busy")
    assert await claim(backend, now=T0 + 29) == []
    (taken,) = await claim(backend, now=T0 + 30)
    assert (taken.id, taken.attempts, taken.started_at) == (job_id, 2, T0)


async def test_release_hands_a_job_back_without_counting_the_run(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await claim(backend)
    assert not await backend.release(job_id, W2, T0 + 1)
    assert await backend.release(job_id, W1, T0 + 1)
    back = await stored(backend, job_id)
    assert (back.state, back.attempts) == (JobState.QUEUED, 0)
    (taken,) = await claim(backend, worker=W2, now=T0 + 2)
    assert taken.attempts == 1


async def test_cancel_in_every_state(backend: JobBackend) -> None:
    queued = await put(backend, job())
    running = await put(backend, job())
    finished = await put(backend, job())
    await claim(backend, 0)  # nothing yet
    cancelled = await backend.cancel(queued, T0 + 1)
    assert cancelled is not None
    assert cancelled.state is JobState.CANCELLED
    taken = {j.id for j in await claim(backend, 2, now=T0 + 2)}
    assert taken == {running, finished}
    await backend.finish(finished, W1, JobState.SUCCEEDED, T0 + 3)
    requested = await backend.cancel(running, T0 + 4)
    assert requested is not None
    assert (requested.state, requested.cancel_requested) == (JobState.RUNNING, True)
    after = await backend.cancel(finished, T0 + 5)
    assert after is not None
    assert after.state is JobState.SUCCEEDED
    assert await backend.cancel("no-such-job", T0) is None
    assert await backend.finish(running, W1, JobState.CANCELLED, T0 + 6, error="cancelled")
    assert (await stored(backend, running)).state is JobState.CANCELLED


async def test_cancel_user_stops_every_job_of_that_user(backend: JobBackend) -> None:
    running = await put(backend, job(user=7))
    queued = await put(backend, job(user=7))
    other = await put(backend, job(user=8))
    await claim(backend, 1)
    assert sorted(await backend.cancel_user(7, T0 + 1)) == sorted([running, queued])
    assert (await stored(backend, queued)).state is JobState.CANCELLED
    assert (await stored(backend, running)).cancel_requested
    assert (await stored(backend, other)).state is JobState.QUEUED


async def test_list_filters_newest_first(backend: JobBackend) -> None:
    ids = [await put(backend, job(user=user), now=T0 + n) for n, user in enumerate([1, 2, 1, 1])]
    assert [j.id for j in await backend.list_jobs(user_id=1)] == [ids[3], ids[2], ids[0]]
    assert [j.id for j in await backend.list_jobs(user_id=1, limit=2)] == [ids[3], ids[2]]
    await claim(backend, 1)
    assert [j.id for j in await backend.list_jobs(state=JobState.RUNNING)] == [ids[0]]
    assert len(await backend.list_jobs(kind="k")) == 4
    assert await backend.list_jobs(kind="none") == []


async def test_position_counts_the_jobs_ahead(backend: JobBackend) -> None:
    first = await put(backend, job(), now=T0)
    urgent = await put(backend, job(priority=-1), now=T0 + 1)
    last = await put(backend, job(), now=T0 + 2)
    await put(backend, job(kind="other"), now=T0 + 3)
    assert await backend.position(urgent, T0 + 5) == 0
    assert await backend.position(first, T0 + 5) == 1
    assert await backend.position(last, T0 + 5) == 2
    await claim(backend, 1, now=T0 + 6)
    assert await backend.position(urgent, T0 + 6) is None  # running
    assert await backend.position(last, T0 + 6) == 1


async def test_reclaim_returns_a_dead_workers_jobs_or_fails_them(backend: JobBackend) -> None:
    again = await put(backend, job(max_attempts=2))
    spent = await put(backend, job(max_attempts=1))
    await claim(backend, lease=5)
    assert sorted(await backend.reclaim(T0 + 6)) == sorted([again, spent])
    assert (await stored(backend, again)).state is JobState.QUEUED
    gone = await stored(backend, spent)
    assert gone.state is JobState.FAILED
    assert gone.error
    assert "worker" in gone.error
    (taken,) = await claim(backend, worker=W2, now=T0 + 7)
    assert (taken.id, taken.attempts) == (again, 2)
    assert not await backend.finish(again, W1, JobState.SUCCEEDED, T0 + 8)  # W1 lost it


async def test_progress_is_stored(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await claim(backend)
    await backend.progress(job_id, 0.42, "transcribing chunk 3/7")
    now = await stored(backend, job_id)
    assert (now.progress, now.progress_text) == (0.42, "transcribing chunk 3/7")


async def test_enqueue_many_keeps_the_order(backend: JobBackend) -> None:
    results = await backend.enqueue_many(
        [job(payload={"n": n}) for n in range(50)], {"k": FREE}, T0
    )
    assert all(created for _, created in results)
    taken = await claim(backend, 50)
    assert [j.payload["n"] for j in taken] == list(range(50))
    assert [j.id for j in taken] == [job_id for job_id, _ in results]


W3 = "worker-3"
LIFETIME = 3.0


async def present(backend: JobBackend, *workers: str, now: float = T0) -> None:
    for worker in workers:
        await backend.heartbeat(worker, ["k"], now, LIFETIME)


async def test_present_workers_are_counted_until_their_presence_lapses(
    backend: JobBackend,
) -> None:
    assert await backend.live_workers(T0) == 0
    await backend.heartbeat(W1, ["k"], T0, LIFETIME)
    await backend.heartbeat(W2, ["k", "other"], T0 + 1, LIFETIME)
    assert await backend.live_workers(T0 + 2) == 2
    assert await backend.live_workers(T0 + 2, ["k"]) == 2
    assert await backend.live_workers(T0 + 2, ["other", "k"]) == 2  # each worker once
    assert await backend.live_workers(T0 + 2, ["other"]) == 1
    assert await backend.live_workers(T0 + 2, ["none"]) == 0
    assert await backend.live_workers(T0 + 3) == 2  # alive until T0+3, inclusive
    assert await backend.live_workers(T0 + 3.5) == 1  # W1 lapsed
    await backend.heartbeat(W1, ["k"], T0 + 3.5, LIFETIME)  # a late beat brings it back
    assert await backend.live_workers(T0 + 3.5) == 2
    assert await backend.live_workers(T0 + 7) == 0


async def test_a_worker_alone_takes_every_job(backend: JobBackend) -> None:
    await backend.enqueue_many([job() for _ in range(16)], {"k": FREE}, T0)
    await backend.heartbeat(W1, ["k"], T0, LIFETIME)
    await backend.heartbeat(W2, ["other"], T0, LIFETIME)  # present, but for another kind
    await backend.heartbeat(W3, ["k"], T0 - 10, LIFETIME)  # lapsed
    assert len(await claim(backend, 32)) == 16


@pytest.mark.parametrize("policy", [FREE, JobPolicy(running_cap=10)], ids=["free", "capped"])
async def test_present_workers_share_the_jobs_fairly(
    backend: JobBackend, policy: JobPolicy
) -> None:
    policies = {"k": policy}
    await backend.enqueue_many([job(user=n % 2) for n in range(16)], policies, T0)
    workers = [W1, W2, W3]
    await present(backend, *workers)
    taken = dict.fromkeys(workers, 0)
    for poll in range(2):  # at once; concurrent claims may leave some to their next poll
        batches = await asyncio.gather(
            *(claim(backend, 32, worker=w, now=T0 + poll, policies=policies) for w in workers)
        )
        for worker, batch in zip(workers, batches, strict=True):
            taken[worker] += len(batch)
    assert sum(taken.values()) == 16
    assert max(taken.values()) <= 6  # ceil(16 / 3)
    assert min(taken.values()) >= 4


async def test_a_share_counts_what_the_worker_runs_already(backend: JobBackend) -> None:
    await present(backend, W1, W2)
    await backend.enqueue_many([job() for _ in range(4)], {"k": FREE}, T0)
    assert len(await claim(backend, 32, worker=W1)) == 2
    await backend.enqueue_many([job() for _ in range(4)], {"k": FREE}, T0 + 1)
    # Eight now, two running: four each, and W1 has two of its four.
    assert len(await claim(backend, 32, worker=W1, now=T0 + 1)) == 2
    assert len(await claim(backend, 1, worker=W2, now=T0 + 1)) == 1  # its free slots come first
    assert len(await claim(backend, 32, worker=W2, now=T0 + 1)) == 3


async def test_leave_hands_a_workers_share_to_the_others_at_once(backend: JobBackend) -> None:
    await present(backend, W1, W2, W3)
    await backend.enqueue_many([job() for _ in range(12)], {"k": FREE}, T0)
    assert len(await claim(backend, 32, worker=W1)) == 4
    assert len(await claim(backend, 32, worker=W2)) == 4
    await backend.leave(W3)
    assert await backend.live_workers(T0 + 1) == 2
    # Two workers share the twelve now, six each.
    assert len(await claim(backend, 32, worker=W1, now=T0 + 1)) == 2
    assert len(await claim(backend, 32, worker=W2, now=T0 + 1)) == 2
    await backend.leave(W2)
    await backend.enqueue_many([job() for _ in range(3)], {"k": FREE}, T0 + 2)
    assert len(await claim(backend, 32, worker=W1, now=T0 + 2)) == 3  # alone again


async def test_a_silent_workers_jobs_are_taken_over_before_their_leases_end(
    backend: JobBackend,
) -> None:
    again = await put(backend, job(max_attempts=3))
    spent = await put(backend, job(max_attempts=1))
    await present(backend, W1)
    assert len(await claim(backend, 10, worker=W1, lease=30)) == 2
    # W1 dies: no renewal, no heartbeat, no leave. W2 keeps beating.
    await present(backend, W2, now=T0 + 1)
    await present(backend, W2, now=T0 + 2)
    assert await backend.reclaim(T0 + 2.5) == []  # W1 is present until T0+3
    await present(backend, W2, now=T0 + 3)
    assert sorted(await backend.reclaim(T0 + 3.5)) == sorted([again, spent])
    assert await backend.live_workers(T0 + 3.5) == 1
    gone = await stored(backend, spent)
    assert gone.state is JobState.FAILED
    assert gone.error
    assert "heartbeat" in gone.error
    (taken,) = await claim(backend, 10, worker=W2, now=T0 + 3.5)
    assert (taken.id, taken.attempts, taken.state) == (again, 2, JobState.RUNNING)
    # Should W1 come back, it is told to stop, and cannot record an outcome.
    assert await backend.renew(W1, [again], 30, T0 + 4) == {again}
    assert not await backend.finish(again, W1, JobState.SUCCEEDED, T0 + 4)
    assert await backend.finish(again, W2, JobState.SUCCEEDED, T0 + 5)


async def test_a_present_worker_keeps_its_jobs_until_the_lease_ends(backend: JobBackend) -> None:
    job_id = await put(backend, job())
    await present(backend, W1)
    await claim(backend, lease=30)
    # Stuck on its job but alive: the presence holds, the lease is the backstop.
    for second in range(0, 30, 2):
        await present(backend, W1, now=T0 + second)
        assert await backend.reclaim(T0 + second + 0.5) == []
    await present(backend, W1, now=T0 + 30)
    assert await backend.reclaim(T0 + 30.5) == [job_id]
