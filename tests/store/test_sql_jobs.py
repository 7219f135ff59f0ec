"""What the SQL job backend does beyond the shared contract (tests/jobs/test_contract.py):
several kinds in one line, caps over long lines, shared transactions, waking workers."""

from __future__ import annotations

import asyncio

import pytest

from sluice.jobs import JobPolicy, JobState, NewJob, QueueFull
from sluice.jobs._sql import SqlJobBackend
from sluice.store import Store

T0 = 1_700_000_000.0
FREE = JobPolicy()


@pytest.fixture
def backend(store: Store) -> SqlJobBackend:
    return SqlJobBackend(store)


async def put(backend: SqlJobBackend, kind: str = "k", **fields: object) -> str:
    job = NewJob(kind=kind, payload={"n": 1}, **fields)  # type: ignore[arg-type]
    job_id, created = await backend.enqueue(job, FREE, T0)
    assert created
    return job_id


async def test_a_claim_over_several_kinds_keeps_one_line(backend: SqlJobBackend) -> None:
    late_a = await put(backend, "a", priority=5)
    first_b = await put(backend, "b", priority=1)
    first_a = await put(backend, "a", priority=1)
    await put(backend, "c", priority=0)  # not asked for
    urgent_b = await put(backend, "b", priority=0)
    taken = await backend.claim("w", {"a": FREE, "b": FREE}, 3, 30, T0)
    assert [j.id for j in taken] == [urgent_b, first_b, first_a]
    assert [j.id for j in await backend.claim("w", {"a": FREE, "b": FREE}, 3, 30, T0)] == [late_a]


async def test_a_capped_claim_looks_past_a_long_line_of_one_user(backend: SqlJobBackend) -> None:
    many = [NewJob(kind="k", payload={"n": n}, user_id=1) for n in range(300)]
    await backend.enqueue_many(many, {"k": FREE}, T0)
    other = await put(backend, user_id=2)
    anonymous = await put(backend)
    capped = {"k": JobPolicy(running_cap=1)}
    taken = await backend.claim("w", capped, 5, 30, T0)
    assert [j.user_id for j in taken] == [1, 2, None]
    assert {other, anonymous} <= {j.id for j in taken}
    # User 1 is at the cap now: the next claim leaves all 299 of theirs waiting.
    assert await backend.claim("w", capped, 5, 30, T0 + 1) == []


async def test_outcomes_recorded_together_are_judged_one_by_one(backend: SqlJobBackend) -> None:
    ids = [await put(backend) for _ in range(4)]
    await backend.claim("w1", {"k": FREE}, 4, 30, T0)
    done = await asyncio.gather(
        backend.finish(ids[0], "w1", JobState.SUCCEEDED, T0 + 1, result={"ok": 0}),
        backend.finish(ids[1], "w2", JobState.SUCCEEDED, T0 + 1, result={"ok": 1}),  # not its
        backend.retry(ids[2], "w1", T0 + 1, error="busy", run_after=T0 + 5),
        backend.progress(ids[3], 0.5, "half"),
        backend.finish(ids[3], "w1", JobState.FAILED, T0 + 1, error="broken"),
        backend.progress(ids[3], 0.9, "too late"),
    )
    assert list(done[:3]) == [True, False, True]
    assert done[4] is True
    states = [await backend.get(job_id) for job_id in ids]
    assert [(j.state, j.result) for j in states if j] == [
        (JobState.SUCCEEDED, {"ok": 0}),
        (JobState.RUNNING, None),
        (JobState.QUEUED, None),
        (JobState.FAILED, None),
    ]
    last = states[3]
    assert last is not None
    assert (last.progress, last.progress_text, last.error) == (0.5, "half", "broken")


async def test_a_result_that_is_not_json_fails_only_its_own_finish(
    backend: SqlJobBackend,
) -> None:
    good, bad = await put(backend), await put(backend)
    await backend.claim("w", {"k": FREE}, 2, 30, T0)
    outcomes = await asyncio.gather(
        backend.finish(good, "w", JobState.SUCCEEDED, T0 + 1, result=[1, 2]),
        backend.finish(bad, "w", JobState.SUCCEEDED, T0 + 1, result={1, 2}),
        return_exceptions=True,
    )
    assert outcomes[0] is True
    assert isinstance(outcomes[1], TypeError)
    still = await backend.get(bad)
    assert still is not None
    assert still.state is JobState.RUNNING


async def test_enqueue_many_stores_all_or_nothing(backend: SqlJobBackend) -> None:
    capped = {"k": JobPolicy(queued_cap=2)}
    jobs = [NewJob(kind="k", payload={"n": n}, user_id=1) for n in range(3)]
    with pytest.raises(QueueFull):
        await backend.enqueue_many(jobs, capped, T0)
    assert await backend.list_jobs() == []
    mixed = [
        NewJob(kind="k", payload={"n": 0}),
        NewJob(kind="k", payload={"n": 1}, dedupe_key="once"),
        NewJob(kind="k", payload={"n": 2}),
        NewJob(kind="k", payload={"n": 3}, dedupe_key="once"),
        NewJob(kind="k", payload={"n": 4}),
    ]
    outcomes = await backend.enqueue_many(mixed, {"k": FREE}, T0)
    assert [created for _, created in outcomes] == [True, True, True, False, True]
    assert outcomes[3][0] == outcomes[1][0]
    stored = [int(job_id) for job_id, created in outcomes if created]
    assert stored == sorted(stored)  # enqueue order is id order


async def test_an_enqueue_wakes_a_worker_waiting_in_this_process(backend: SqlJobBackend) -> None:
    waiting = asyncio.create_task(backend.wait_for_work(600))
    await asyncio.sleep(0)  # the waiter is registered
    await put(backend)
    await asyncio.wait_for(waiting, 5)


async def test_a_dead_workers_cancelled_job_is_not_run_again(backend: SqlJobBackend) -> None:
    job_id = await put(backend)
    await backend.claim("dead", {"k": FREE}, 1, 5, T0)
    await backend.cancel(job_id, T0 + 1)
    assert await backend.reclaim(T0 + 10) == [job_id]
    gone = await backend.get(job_id)
    assert gone is not None
    assert gone.state is JobState.CANCELLED
    assert await backend.claim("w", {"k": FREE}, 1, 5, T0 + 11) == []


async def test_a_released_first_run_never_started(backend: SqlJobBackend) -> None:
    job_id = await put(backend)
    await backend.claim("w", {"k": FREE}, 1, 30, T0)
    assert await backend.release(job_id, "w", T0 + 1)
    back = await backend.get(job_id)
    assert back is not None
    assert (back.attempts, back.started_at) == (0, None)


@pytest.mark.parametrize("job_id", ["", "abc", "-1", "1.5", "١٢", "9" * 40])
async def test_ids_that_name_no_job(backend: SqlJobBackend, job_id: str) -> None:
    assert await backend.get(job_id) is None
    assert await backend.cancel(job_id, T0) is None
    assert await backend.position(job_id, T0) is None
    assert not await backend.finish(job_id, "w", JobState.SUCCEEDED, T0)
