"""Jobs in the SQL store: one row per job in ``jobs``, SQLite or PostgreSQL.

The line is the index ``(state, kind, priority, id)``: a claim walks it from
the front, so taking the next jobs costs the same with ten or a million
waiting. Ids come from the table's auto-increment, so "enqueue order" is id
order, and a job id is that number in decimal.

Atomicity. Every change is one transaction; those that read before they
write (claims, capped enqueues, sweeps) must not interleave:

- SQLite serialises every write transaction: the store opens it with
  ``BEGIN IMMEDIATE``, which takes the database's write lock before the
  first read, across processes.
- PostgreSQL: a claim without running caps takes its jobs with
  ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent claimers take
  disjoint jobs without waiting for each other. A claim with running caps
  needs more than row locks: the cap counts jobs that *other* claimers are
  about to start, which no row lock covers. Such claims hold the
  transaction-scoped advisory lock ``claim`` (``pg_advisory_xact_lock``),
  one claim at a time per namespace across every process; a claim reads the
  running counts only after it holds the lock, and the previous holder
  released it only after committing, so no cap can be exceeded. Claims are
  batched (one per free slot group, not per job), so this one lock is cheap.
  Enqueues with a queued cap hold a lock per (kind, user) the same way.
  Dedupe needs no lock: the UNIQUE (kind, dedupe_key) constraint makes the
  second of two concurrent inserts wait, then do nothing, and the existing
  id is read back.
- Every update of a job re-checks in its WHERE clause the state (and lease
  owner) it expects, so a job cancelled or reclaimed meanwhile is left alone.
- PostgreSQL: a transaction that changes several jobs locks their rows first,
  in id order (``SELECT ... ORDER BY id FOR UPDATE``), so that no two of them
  can deadlock (see ``SqlJobBackend._lock``).

Presence. Each running worker keeps one row per kind it runs in
``job_workers`` (``alive_until``). A claim reads, in its own transaction,
the other present workers and the running and claimable counts, and takes
no more than the fair share; concurrent claims on PostgreSQL may each see
the same counts, and so each take at most the same share. A worker whose
rows all lapsed is dead: the sweep takes its jobs back without waiting for
their leases.

Speed. A transaction costs a few round trips whatever it writes (on SQLite,
hops to aiosqlite's thread), so the hot paths take few of them: a claim is
one UPDATE ... RETURNING of a whole batch; ``enqueue_many`` is one
executemany; the outcomes and progress of jobs finishing together share one
transaction (group commit, :class:`~sluice._coalesce.Coalescer`), written
with one executemany per shape of change. Statements are built once and
reused with bound parameters: building one costs more than running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sluice._coalesce import Coalescer
from sluice.jobs._backend import JobBackend, QueueFull, fair_share
from sluice.jobs._model import Job, JobPolicy, JobState, NewJob
from sluice.store import Store, job_workers_table, jobs_table

__all__ = ["SqlJobBackend"]

_t = jobs_table.c
_w = job_workers_table.c
_QUEUED, _RUNNING = JobState.QUEUED.value, JobState.RUNNING.value
_CANCELLED, _FAILED = JobState.CANCELLED.value, JobState.FAILED.value
_PAGE = 256  # candidate rows read at a time by a claim with running caps
_SCAN_LIMIT = 16  # pages a claim reads at most; jobs further back wait for the next claim


# A change to a running job: (id, the worker that must hold its lease or None, new values).
_Change = tuple[int, str | None, dict[str, Any]]
# How a change is written: its columns, whether the statement checks the job
# is running, and whether it checks the lease owner too.
_Shape = tuple[tuple[str, ...], bool, bool]


def _parse_id(job_id: str) -> int | None:
    # Ids are decimal row ids; anything else names no job (and must not reach SQL as a cast).
    if job_id.isascii() and job_id.isdigit() and len(job_id) <= 18:
        return int(job_id)
    return None


def _ids(job_ids: Iterable[str]) -> list[int]:
    return [n for n in map(_parse_id, job_ids) if n is not None]


def _job(row: sa.Row[Any]) -> Job:
    extra: dict[str, Any] = {}
    if row.lease_owner is not None:
        extra["lease_owner"] = row.lease_owner
    if row.lease_until is not None:
        extra["lease_until"] = row.lease_until
    return Job(
        id=str(row.id),
        kind=row.kind,
        payload=row.payload,
        state=JobState(row.state),
        user_id=row.user_id,
        priority=row.priority,
        dedupe_key=row.dedupe_key,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        timeout=row.timeout,
        run_after=row.run_after,
        progress=row.progress,
        progress_text=row.progress_text,
        result=row.result,
        error=row.error,
        cancel_requested=bool(row.cancel_requested),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        extra=extra,
    )


def _row(job: NewJob, now: float) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "payload": job.payload,
        "user_id": job.user_id,
        "priority": job.priority,
        "state": _QUEUED,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "dedupe_key": job.dedupe_key,
        "run_after": job.run_after,
        "created_at": now,
    }


def _capped(job: NewJob, policy: JobPolicy) -> bool:
    return job.user_id is not None and policy.queued_cap is not None


# A cancel in one statement: QUEUED ends at once, RUNNING is asked to stop, the rest stay.
def _cancel_values(now: float) -> dict[str, Any]:
    queued = _t.state == _QUEUED
    return {
        "state": sa.case((queued, _CANCELLED), else_=_t.state),
        "finished_at": sa.case((queued, now), else_=_t.finished_at),
        "cancel_requested": sa.case((_t.state == _RUNNING, sa.true()), else_=_t.cancel_requested),
    }


class SqlJobBackend(JobBackend):
    """Jobs in the :class:`~sluice.store.Store`'s ``jobs`` table.

    Parameters:
        store: the store; :meth:`setup` migrates it. :meth:`close` closes it
            only if this backend opened it (:meth:`from_url`).
    """

    def __init__(self, store: Store, *, owns_store: bool = False) -> None:
        self.store = store
        self._owns_store = owns_store
        self._waiters: set[asyncio.Future[None]] = set()
        # Finishes, retries and progress of concurrent jobs share transactions.
        self._changes: Coalescer[_Change, bool] = Coalescer(self._apply_changes)

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None) -> SqlJobBackend:
        """A backend on its own store: see :meth:`sluice.store.Store.open`."""
        return cls(Store.open(url, namespace=namespace), owns_store=True)

    def __repr__(self) -> str:
        return f"SqlJobBackend({self.store!r})"

    async def setup(self) -> None:
        await self.store.setup()

    async def close(self) -> None:
        await self._changes.drain()
        if self._owns_store:
            await self.store.close()

    async def drop(self) -> None:
        """Remove every table of the store's namespace (tests, uninstalling)."""
        await self.store.drop()

    # -- enqueue -------------------------------------------------------------

    async def enqueue(self, job: NewJob, policy: JobPolicy, now: float) -> tuple[str, bool]:
        (outcome,) = await self.enqueue_many([job], {job.kind: policy}, now)
        return outcome

    async def enqueue_many(
        self, jobs: Sequence[NewJob], policies: Mapping[str, JobPolicy], now: float
    ) -> list[tuple[str, bool]]:
        """:meth:`enqueue` each job, in one transaction: all stored, or none
        (a :class:`~sluice.jobs.QueueFull` for one stores none of them)."""
        if not jobs:
            return []
        locks = {f"queued:{j.kind}:{j.user_id}" for j in jobs if _capped(j, policies[j.kind])}
        keys = {f"dedupe:{j.kind}:{j.dedupe_key}" for j in jobs if j.dedupe_key is not None}
        if len(keys) > 1:
            # Two batches inserting the same keys in other orders would each
            # wait for the other's unique index entry: take the keys in one order.
            locks |= keys
        outcomes: list[tuple[str, bool]] = []
        async with self.store.write(*sorted(locks)) as conn:
            plain: list[NewJob] = []
            for job in jobs:
                if job.dedupe_key is None and not _capped(job, policies[job.kind]):
                    plain.append(job)
                    continue
                outcomes += await self._insert_plain(conn, plain, now)
                plain = []
                outcomes.append(await self._insert_checked(conn, job, policies[job.kind], now))
            outcomes += await self._insert_plain(conn, plain, now)
        self._wake()
        return outcomes

    async def _insert_plain(
        self, conn: AsyncConnection, jobs: list[NewJob], now: float
    ) -> list[tuple[str, bool]]:
        if not jobs:
            return []
        if len(jobs) == 1:
            result = await conn.execute(_INSERT, _row(jobs[0], now))
            (key,) = result.inserted_primary_key or (None,)
            return [(str(key), True)]
        rows = [_row(job, now) for job in jobs]
        if self.store.dialect == "postgresql":
            # SQLAlchemy batches these into multi-row INSERTs and gives the ids back in order.
            statement = _INSERT.returning(_t.id, sort_by_parameter_order=True)
            return [(str(i), True) for i in (await conn.execute(statement, rows)).scalars()]
        # SQLite: SQLAlchemy would insert row by row to read the ids back in
        # order; one executemany instead. Under the write lock this transaction
        # holds, the auto-increment numbers the rows one after another, in
        # order, ending at the last id this connection inserted.
        await conn.execute(_INSERT, rows)
        last = await conn.scalar(sa.select(sa.func.last_insert_rowid()))
        assert isinstance(last, int)
        return [(str(job_id), True) for job_id in range(last - len(rows) + 1, last + 1)]

    async def _insert_checked(
        self, conn: AsyncConnection, job: NewJob, policy: JobPolicy, now: float
    ) -> tuple[str, bool]:
        if job.dedupe_key is not None:
            existing = await self._deduped(conn, job)
            if existing is not None:
                return existing, False
        if _capped(job, policy):
            assert policy.queued_cap is not None
            waiting = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(jobs_table)
                .where(_t.user_id == job.user_id, _t.kind == job.kind, _t.state == _QUEUED)
            )
            if (waiting or 0) >= policy.queued_cap:
                raise QueueFull(job.kind, job.user_id, policy.queued_cap)
        statement = (
            self.store.insert(jobs_table)
            .values(_row(job, now))
            .on_conflict_do_nothing(index_elements=[_t.kind, _t.dedupe_key])
            .returning(_t.id)
        )
        job_id = await conn.scalar(statement)
        if job_id is not None:
            return str(job_id), True
        # Another transaction stored the same key between our look and our insert.
        existing = await self._deduped(conn, job)
        assert existing is not None
        return existing, False

    async def _deduped(self, conn: AsyncConnection, job: NewJob) -> str | None:
        job_id = await conn.scalar(
            sa.select(_t.id).where(_t.kind == job.kind, _t.dedupe_key == job.dedupe_key)
        )
        return None if job_id is None else str(job_id)

    # -- claim ---------------------------------------------------------------

    async def claim(
        self,
        worker: str,
        policies: Mapping[str, JobPolicy],
        limit: int,
        lease: float,
        now: float,
    ) -> list[Job]:
        if limit < 1 or not policies:
            return []
        kinds = tuple(sorted(policies))
        caps = tuple((k, p.running_cap) for k, p in sorted(policies.items()) if p.running_cap)
        params: dict[str, Any] = {"p_now": now, "p_worker": worker, "p_until": now + lease}
        if not caps:
            async with self.store.write() as conn:
                params["p_limit"] = await _fair_limit(conn, worker, kinds, limit, now)
                if not params["p_limit"]:
                    return []
                rows = (await conn.execute(_claim_next(kinds), params)).all()
        else:
            async with self.store.write("claim") as conn:
                limit = await _fair_limit(conn, worker, kinds, limit, now)
                chosen = await _choose(conn, kinds, caps, limit, now) if limit else []
                if not chosen:
                    return []
                await self._lock(conn, _t.id.in_(chosen), _t.state == _QUEUED)
                rows = (await conn.execute(_claim_chosen(), {**params, "p_ids": chosen})).all()
        return [_job(row) for row in sorted(rows, key=lambda r: (r.priority, r.id))]

    # -- a worker's own jobs -------------------------------------------------

    async def renew(
        self, worker: str, job_ids: Sequence[str], lease: float, now: float
    ) -> set[str]:
        held_by = (_t.id.in_(_ids(job_ids)), _t.state == _RUNNING, _t.lease_owner == worker)
        statement = (
            sa.update(jobs_table)
            .where(*held_by)
            .values(lease_until=now + lease)
            .returning(_t.id, _t.cancel_requested)
        )
        async with self.store.write() as conn:
            await self._lock(conn, *held_by)
            held = {str(job_id): bool(cancel) for job_id, cancel in await conn.execute(statement)}
        return {job_id for job_id in job_ids if held.get(job_id, True)}

    async def _change(self, job_id: str, worker: str | None, values: dict[str, Any]) -> bool:
        key = _parse_id(job_id)
        if key is None:
            return False
        return await self._changes.call((key, worker, values))

    async def _apply_changes(self, changes: Sequence[_Change]) -> list[bool]:
        """Apply a batch of changes in one transaction; whether each was applied."""
        if self.store.dialect == "sqlite":
            # Nearly always every change applies: then one executemany per set
            # of columns is all it takes, its row count showing that it did.
            # Otherwise it is rolled back and done again the careful way.
            with contextlib.suppress(_Missed):
                async with self.store.write() as conn:
                    for shape, params in _groups(changes, guarded=True).items():
                        updated = await conn.execute(_change_statement(shape), params)
                        if updated.rowcount != len(params):
                            raise _Missed
                return [True] * len(changes)
        async with self.store.write() as conn:
            # The batch's jobs, locked (SQLite: the transaction holds the write
            # lock), decide which changes apply.
            rows = await conn.execute(
                sa.select(_t.id, _t.lease_owner)
                .where(_t.id.in_({key for key, _, _ in changes}), _t.state == _RUNNING)
                .order_by(_t.id)  # lock order: see _lock
                .with_for_update()
            )
            owners: dict[int, str | None] = {row.id: row.lease_owner for row in rows}
            applied: list[bool] = []
            for key, worker, values in changes:
                ok = key in owners and (worker is None or owners[key] == worker)
                applied.append(ok)
                if ok and "state" in values:  # the run ends: later changes of this batch miss it
                    del owners[key]
            chosen = [change for change, ok in zip(changes, applied, strict=True) if ok]
            # Decided already, on locked rows: the writes need no condition,
            # whatever order the groups go in.
            for shape, params in _groups(chosen, guarded=False).items():
                await conn.execute(_change_statement(shape), params)
        return applied

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
        if not state.finished:
            raise ValueError(f"finish records a final state, not {state.value!r}")
        if result is not None:
            # Refused here, not in a batch shared with other jobs' outcomes.
            json.dumps(result)
        values = {
            "state": state.value,
            "result": result,
            "error": error,
            "finished_at": now,
            "lease_until": None,
        }
        return await self._change(job_id, worker, values)

    async def retry(
        self, job_id: str, worker: str, now: float, *, error: str, run_after: float
    ) -> bool:
        values = {
            "state": _QUEUED,
            "error": error,
            "run_after": run_after,
            "lease_owner": None,
            "lease_until": None,
        }
        done = await self._change(job_id, worker, values)
        if done and run_after <= now:
            self._wake()
        return done

    async def release(self, job_id: str, worker: str, now: float) -> bool:
        key = _parse_id(job_id)
        if key is None:
            return False
        back = _t.attempts - 1
        statement = (
            sa.update(jobs_table)
            .where(_t.id == key, _t.state == _RUNNING, _t.lease_owner == worker)
            .values(
                state=_QUEUED,
                attempts=back,
                # As if it never ran: a job that has not run has not started.
                started_at=sa.case((back <= 0, None), else_=_t.started_at),
                lease_owner=None,
                lease_until=None,
            )
        )
        async with self.store.write() as conn:
            done = (await conn.execute(statement)).rowcount == 1
        if done:
            self._wake()
        return done

    async def progress(self, job_id: str, fraction: float, text: str) -> None:
        await self._change(job_id, None, {"progress": fraction, "progress_text": text})

    # -- anyone --------------------------------------------------------------

    async def cancel(self, job_id: str, now: float) -> Job | None:
        key = _parse_id(job_id)
        if key is None:
            return None
        statement = (
            sa.update(jobs_table)
            .where(_t.id == key)
            .values(_cancel_values(now))
            .returning(*jobs_table.c)
        )
        async with self.store.write() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _job(row)

    async def cancel_user(self, user_id: int, now: float) -> list[str]:
        live = (_t.user_id == user_id, _t.state.in_([_QUEUED, _RUNNING]))
        statement = sa.update(jobs_table).where(*live).values(_cancel_values(now)).returning(_t.id)
        async with self.store.write() as conn:
            await self._lock(conn, *live)
            ids = sorted((await conn.execute(statement)).scalars())
        return [str(job_id) for job_id in ids]

    async def get(self, job_id: str) -> Job | None:
        key = _parse_id(job_id)
        if key is None:
            return None
        async with self.store.read() as conn:
            row = (await conn.execute(sa.select(jobs_table).where(_t.id == key))).first()
        return None if row is None else _job(row)

    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        statement = sa.select(jobs_table).order_by(_t.id.desc()).limit(limit)
        if user_id is not None:
            statement = statement.where(_t.user_id == user_id)
        if state is not None:
            statement = statement.where(_t.state == state.value)
        if kind is not None:
            statement = statement.where(_t.kind == kind)
        async with self.store.read() as conn:
            rows = (await conn.execute(statement)).all()
        return [_job(row) for row in rows]

    async def position(self, job_id: str, now: float) -> int | None:
        key = _parse_id(job_id)
        if key is None:
            return None
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    sa.select(_t.kind, _t.priority).where(_t.id == key, _t.state == _QUEUED)
                )
            ).first()
            if row is None:
                return None
            ahead = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(jobs_table)
                .where(
                    _t.state == _QUEUED,
                    _t.kind == row.kind,
                    sa.tuple_(_t.priority, _t.id) < sa.tuple_(row.priority, key),
                    _t.run_after <= now,
                )
            )
        return int(ahead or 0)

    async def reclaim(self, now: float) -> list[str]:
        lapsed = sa.select(_w.worker).group_by(_w.worker).having(sa.func.max(_w.alive_until) < now)
        expired = _t.lease_until < now
        lost = sa.and_(_t.state == _RUNNING, sa.or_(expired, _t.lease_owner.in_(lapsed)))
        stale = _w.alive_until < now
        # Nearly always there is nothing to do: a read says so without the write lock.
        async with self.store.read() as conn:
            found = await conn.scalar(
                sa.select(
                    sa.or_(
                        sa.select(_t.id).where(lost).exists(),
                        sa.select(_w.worker).where(stale).exists(),
                    )
                )
            )
        if not found:
            return []
        reclaimed: list[str] = []
        # One sweep at a time (PostgreSQL): workers sweeping together would
        # queue on the same rows, and their deletes of presences could deadlock.
        async with self.store.write("reclaim") as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        _t.id,
                        _t.lease_owner,
                        _t.lease_until,
                        _t.attempts,
                        _t.max_attempts,
                        _t.cancel_requested,
                    )
                    .where(lost)
                    .order_by(_t.id)  # lock order: see _lock
                    .with_for_update(of=jobs_table)
                )
            ).all()
            for row in rows:
                if row.lease_until is not None and row.lease_until < now:
                    lost_by = f"its worker {row.lease_owner} stopped renewing the lease"
                else:
                    lost_by = f"its worker {row.lease_owner} stopped its heartbeat"
                values: dict[str, Any]
                if row.cancel_requested:
                    # Asked to stop, and stopped: never run again.
                    values = {"state": _CANCELLED, "error": f"cancelled; {lost_by}"}
                elif row.attempts < row.max_attempts:
                    values = {"state": _QUEUED, "error": f"{lost_by}; running it again"}
                else:
                    values = {
                        "state": _FAILED,
                        "error": f"{lost_by}, {row.attempts} time(s): no attempt left",
                    }
                if values["state"] != _QUEUED:
                    values["finished_at"] = now
                else:
                    values["lease_owner"] = None
                values["lease_until"] = None
                held = (_t.id == row.id, _t.state == _RUNNING, _t.lease_owner == row.lease_owner)
                result = await conn.execute(sa.update(jobs_table).where(*held).values(values))
                if result.rowcount == 1:
                    reclaimed.append(str(row.id))
            # Their jobs are back in line: the lapsed presences have served.
            await conn.execute(sa.delete(job_workers_table).where(stale))
        if reclaimed:
            self._wake()
        return reclaimed

    # -- presence ------------------------------------------------------------

    async def heartbeat(
        self, worker: str, kinds: Sequence[str], now: float, lifetime: float
    ) -> None:
        rows = [{"worker": worker, "kind": kind, "alive_until": now + lifetime} for kind in kinds]
        if not rows:
            return
        insert = self.store.insert(job_workers_table)
        statement = insert.on_conflict_do_update(
            index_elements=[_w.worker, _w.kind], set_={"alive_until": insert.excluded.alive_until}
        )
        async with self.store.write() as conn:
            await conn.execute(statement, rows)

    async def leave(self, worker: str) -> None:
        async with self.store.write() as conn:
            await conn.execute(sa.delete(job_workers_table).where(_w.worker == worker))

    async def live_workers(self, now: float, kinds: Sequence[str] | None = None) -> int:
        statement = sa.select(sa.func.count(sa.distinct(_w.worker))).where(_w.alive_until >= now)
        if kinds is not None:
            statement = statement.where(_w.kind.in_(list(kinds)))
        async with self.store.read() as conn:
            return int(await conn.scalar(statement) or 0)

    async def _lock(self, conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> None:
        """PostgreSQL: lock the rows a statement is about to change, in id order.

        A statement changing several rows locks them in whatever order its
        plan meets them; two such statements could each hold a row the other
        waits for (a deadlock, one of them aborted). Every transaction that
        changes several jobs locks them first, in one order. SQLite needs
        nothing: one write transaction runs at a time.
        """
        if self.store.dialect == "postgresql":
            await conn.execute(sa.select(_t.id).where(*where).order_by(_t.id).with_for_update())

    # -- waking idle workers -------------------------------------------------

    async def wait_for_work(self, seconds: float) -> None:
        """Return after ``seconds``, or as soon as work comes in through this object."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, seconds)
        finally:
            self._waiters.discard(waiter)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class _Missed(Exception):
    """A change of a batch did not apply: the batch is rolled back and done carefully."""


def _groups(changes: Iterable[_Change], *, guarded: bool) -> dict[_Shape, list[dict[str, Any]]]:
    """Parameters for one executemany per shape of change."""
    groups: dict[_Shape, list[dict[str, Any]]] = {}
    for key, worker, values in changes:
        params = {f"new_{name}": value for name, value in values.items()}
        params["job_key"] = key
        checked = guarded and worker is not None
        if checked:
            params["job_worker"] = worker
        groups.setdefault((tuple(values), guarded, checked), []).append(params)
    return groups


@functools.lru_cache(maxsize=64)
def _change_statement(shape: _Shape) -> sa.Update:
    names, guarded, checked = shape
    where = [_t.id == sa.bindparam("job_key")]
    if guarded:
        where.append(_t.state == _RUNNING)
    if checked:
        where.append(_t.lease_owner == sa.bindparam("job_worker"))
    return (
        sa.update(jobs_table)
        .where(*where)
        .values({name: sa.bindparam(f"new_{name}", type_=_t[name].type) for name in names})
    )


def _line(
    kinds: tuple[str, ...],
    columns: Sequence[str],
    where: Callable[[str], Sequence[sa.ColumnElement[bool]]] = lambda kind: (),
    *,
    lock: bool = False,
) -> sa.Select[Any]:
    """The first ``p_limit`` QUEUED jobs of ``kinds`` due at ``p_now``, best first.

    One index range per kind, merged: a single query over several kinds would
    sort every waiting job of them to find the first few.
    """

    def front(kind: str) -> sa.Select[Any]:
        query = (
            sa.select(*(_t[name] for name in columns))
            .where(_t.state == _QUEUED, _t.kind == kind, _t.run_after <= sa.bindparam("p_now"))
            .where(*where(kind))
            .order_by(_t.priority, _t.id)
            .limit(sa.bindparam("p_limit"))
        )
        # PostgreSQL: concurrent claimers skip each other's rows (SQLite holds the write lock).
        return query.with_for_update(skip_locked=True) if lock else query

    if len(kinds) == 1:
        return front(kinds[0])
    merged = sa.union_all(*(sa.select(front(kind).subquery()) for kind in kinds)).subquery()
    return (
        sa.select(*(merged.c[name] for name in columns))
        .order_by(merged.c.priority, merged.c.id)
        .limit(sa.bindparam("p_limit"))
    )


_INSERT = sa.insert(jobs_table)
_TAKE = (
    sa.update(jobs_table)
    .values(
        state=_RUNNING,
        attempts=_t.attempts + 1,
        started_at=sa.func.coalesce(_t.started_at, sa.bindparam("p_now")),
        lease_owner=sa.bindparam("p_worker"),
        lease_until=sa.bindparam("p_until"),
    )
    .returning(*jobs_table.c)
)


# Statements are built once per set of kinds: building one costs more than running it.
@functools.lru_cache(maxsize=256)
def _claim_next(kinds: tuple[str, ...]) -> sa.Update:
    first = _line(kinds, ["id", "priority"], lock=True)
    return _TAKE.where(_t.id.in_(sa.select(first.subquery().c.id)))


@functools.lru_cache(maxsize=1)
def _claim_chosen() -> sa.Update:
    return _TAKE.where(_t.id.in_(sa.bindparam("p_ids", expanding=True)), _t.state == _QUEUED)


@functools.lru_cache(maxsize=256)
def _candidates(kinds: tuple[str, ...], caps: tuple[tuple[str, int], ...]) -> sa.Select[Any]:
    """A page of a capped claim's candidates, after (``p_priority``, ``p_id``);
    users already at their cap are left out by the database."""
    cap_of = dict(caps)

    def where(kind: str) -> list[sa.ColumnElement[bool]]:
        after = sa.tuple_(_t.priority, _t.id) > sa.tuple_(
            sa.bindparam("p_priority"), sa.bindparam("p_id")
        )
        if kind not in cap_of:
            return [after]
        at_cap = (
            sa.select(_t.user_id)
            .where(_t.state == _RUNNING, _t.kind == kind, _t.user_id.is_not(None))
            .group_by(_t.user_id)
            .having(sa.func.count() >= cap_of[kind])
        )
        # A job without a user is never held back (and NULL NOT IN (...) would drop it).
        return [after, sa.or_(_t.user_id.is_(None), _t.user_id.not_in(at_cap))]

    return _line(kinds, ["id", "kind", "user_id", "priority"], where)


_KINDS: sa.BindParameter[list[str]] = sa.bindparam("p_kinds", expanding=True)
# Other workers present for these kinds, and the RUNNING jobs of these kinds: all, and ours.
_PRESENCE = sa.select(
    sa.select(sa.func.count(sa.distinct(_w.worker)))
    .where(_w.kind.in_(_KINDS), _w.alive_until >= sa.bindparam("p_now"))
    .where(_w.worker != sa.bindparam("p_worker"))
    .scalar_subquery(),
    sa.select(sa.func.count()).where(_t.state == _RUNNING, _t.kind.in_(_KINDS)).scalar_subquery(),
    sa.select(sa.func.count())
    .where(_t.state == _RUNNING, _t.kind.in_(_KINDS), _t.lease_owner == sa.bindparam("p_worker"))
    .scalar_subquery(),
)
# The QUEUED jobs due now, counted no further than ``p_bound``: past it the count
# no longer changes the share, and counting a million waiting jobs would cost.
_CLAIMABLE = sa.select(sa.func.count()).select_from(
    sa.select(_t.id)
    .where(_t.state == _QUEUED, _t.kind.in_(_KINDS), _t.run_after <= sa.bindparam("p_now"))
    .limit(sa.bindparam("p_bound"))
    .subquery()
)


async def _fair_limit(
    conn: AsyncConnection, worker: str, kinds: tuple[str, ...], limit: int, now: float
) -> int:
    """``limit``, cut to ``worker``'s fair share while other workers are present."""
    params = {"p_kinds": list(kinds), "p_now": now, "p_worker": worker}
    others, running, mine = (await conn.execute(_PRESENCE, params)).one()
    if not others:
        return limit
    live = others + 1
    # The share reaches mine + limit once running + claimable > live * (mine + limit - 1).
    bound = live * (mine + limit - 1) - running + 1
    claimable = await conn.scalar(_CLAIMABLE, {**params, "p_bound": bound}) if bound > 0 else 0
    return fair_share(limit, live=live, running=running, claimable=claimable or 0, mine=mine)


async def _choose(
    conn: AsyncConnection,
    kinds: tuple[str, ...],
    caps: tuple[tuple[str, int], ...],
    limit: int,
    now: float,
) -> list[int]:
    """The ids a capped claim takes: best first, no user past its running cap."""
    cap_of = dict(caps)
    running: dict[tuple[str, int], int] = {}
    chosen: list[int] = []
    # Before any real place in line: the lowest INTEGER priority, and ids start at 1.
    params: dict[str, Any] = {"p_now": now, "p_limit": _PAGE, "p_priority": -(2**31), "p_id": 0}
    for _ in range(_SCAN_LIMIT):
        rows = (await conn.execute(_candidates(kinds, caps), params)).all()
        await _count_running(conn, rows, cap_of, running)
        for row in rows:
            cap = cap_of.get(row.kind)
            if cap is not None and row.user_id is not None:
                key = (row.kind, row.user_id)
                if running[key] >= cap:
                    continue
                running[key] += 1
            chosen.append(row.id)
            if len(chosen) == limit:
                return chosen
        if len(rows) < _PAGE:
            break
        params.update(p_priority=rows[-1].priority, p_id=rows[-1].id)
    return chosen


async def _count_running(
    conn: AsyncConnection,
    rows: Sequence[sa.Row[Any]],
    caps: dict[str, int],
    running: dict[tuple[str, int], int],
) -> None:
    """Add to ``running`` the RUNNING jobs of the capped (kind, user) pairs of ``rows``."""
    pairs = {
        (row.kind, row.user_id)
        for row in rows
        if row.kind in caps and row.user_id is not None and (row.kind, row.user_id) not in running
    }
    if not pairs:
        return
    counts = await conn.execute(
        sa.select(_t.kind, _t.user_id, sa.func.count())
        .where(
            _t.state == _RUNNING,
            _t.kind.in_({kind for kind, _ in pairs}),
            _t.user_id.in_({user for _, user in pairs}),
        )
        .group_by(_t.kind, _t.user_id)
    )
    for pair in pairs:
        running[pair] = 0
    for kind, user, count in counts:
        if (kind, user) in pairs:
            running[(kind, user)] = count
