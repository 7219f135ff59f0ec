"""Jobs on Redis Streams: several processes on several hosts share one queue.

The line. Each (kind, priority) has a stream, ``stream:<kind>:<prio>``, with
one consumer group, ``workers``. Enqueuing XADDs the job's entry; claiming
XREADGROUPs entries as the claiming worker, which puts them in that
worker's pending list (PEL); finishing XACKs and XDELs the entry. The PEL is
therefore the list of what each worker runs: XPENDING shows it, with the
time since each lease was last renewed (renewal does ``XCLAIM ... JUSTID``).

Some jobs leave the stream before they can run and wait again: held back by
their user's running cap, handed back by a stopping worker, reclaimed from a
dead one, retried, or read before their ``run_after``. Their entries stay
pending but pass to the pseudo-consumer ``~waiting``, and the job waits in
a *side lane*, ``side:<kind>:<prio>``: a sorted set ordered by the job's
place in line (``ord``: priority, then enqueue number). A claim takes, per
priority from the lowest, whichever of the heads of the streams and side
lanes comes first in line, so priorities and FIFO order hold exactly, also
for jobs that come back; a side-lane job's entry is XCLAIMed to its new
worker. A dead worker's entries are recovered this way (XPENDING+XCLAIM):
the lease, not Redis's idle time, decides when a worker is dead, because
times are the queue's ``now`` (tests drive it), not the server's clock.

Caps. ``running:<kind>`` counts each user's running jobs; the claim script
skips a job whose user is at the cap by moving it to ``held:<kind>:<user>``
(in line order), and whatever ends a running job (finish, retry, release,
reclaim) moves the user's next held jobs back into their side lanes and
announces work. Held jobs stay QUEUED; they are neither lost nor reordered
among the user's jobs. ``queued:<kind>`` counts each user's QUEUED jobs
for ``queued_cap``, checked by the enqueue script together with the dedupe
hash ``dedupe:<kind>``. Jobs without a user are not capped.

Delays. A job not yet due still gets its entry at enqueue, plus a place in
``delayed:<kind>`` (by ``run_after``); the claim parks it if it reaches the
entry early, and moves due jobs into their side lanes first thing.

Leases. ``leases`` orders running jobs by ``lease_until``; every state change
of a running job checks that the caller holds its lease. Presence:
``presence`` orders workers by the end of their presence, ``presence:<kind>``
those running a kind (``presence-kinds`` lists the kinds); a claim counts
the others present for its fair share, and the sweep takes back every job of
a worker whose presence lapsed, whatever its lease says. Cancelling a
running job sets ``cancel`` and PUBLISHes its id on ``<prefix>cancel``
(:meth:`RedisJobBackend.wait_for_cancel`); work is announced on
``<prefix>work`` (:meth:`RedisJobBackend.wait_for_work`).

Indexes. Job records are hashes ``job:<id>`` (payload and result as JSON).
``idx:all``, ``idx:kind:<kind>``, ``idx:state:<state>``, ``idx:sk:<state>:<kind>``
and ``idx:user:<user>`` order ids by enqueue number, for :meth:`list_jobs`;
``live:<user>`` holds a user's queued and running jobs, for :meth:`cancel_user`;
``ready:<kind>`` holds the due queued jobs in line order, for :meth:`position`.

Every key starts with ``<namespace>:jobs:``. All of it is changed by Lua
scripts (:mod:`sluice.jobs._redis_lua`, :mod:`sluice.jobs._redis_lua_lease`),
so each move is atomic across processes.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import redis  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("the Redis job backend", "redis", error) from None

import asyncio
import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, cast

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from sluice._coalesce import Coalescer
from sluice._exceptions import ConfigError
from sluice._redis import connect, delete_prefixed, shown_url
from sluice.jobs import _redis_lua as lua
from sluice.jobs import _redis_lua_lease as lease_lua
from sluice.jobs._backend import JobBackend, QueueFull
from sluice.jobs._model import Job, JobPolicy, JobState, NewJob
from sluice.jobs._redis_notify import Listener

__all__ = ["RedisJobBackend"]

_PRIORITY_RANGE = range(-(2**31), 2**31)
_ENQUEUE_CHUNK = 1000  # jobs per script run: a huge batch must not stall the server
_CLAIM_BUDGET = 1000  # entries one claim may look at (held-back and early jobs included)
_LOST = "lease expired after %d attempt(s): its worker stopped renewing it (crashed or hung)"
_SILENT = "its worker stopped its heartbeat, after %d attempt(s): it crashed or hung"

_FinishArgs = tuple[str, str, str, str, str, str]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _time(value: float) -> str:
    return repr(float(value))


def _optional_time(value: str | None) -> float | None:
    return float(value) if value else None


def _job(pairs: Sequence[str]) -> Job:
    fields = dict(zip(pairs[::2], pairs[1::2], strict=True))
    user, dedupe, result = fields.get("user"), fields.get("dedupe"), fields.get("result")
    return Job(
        id=fields["id"],
        kind=fields["kind"],
        payload=json.loads(fields["payload"]),
        state=JobState(fields["state"]),
        user_id=int(user) if user else None,
        priority=int(fields["priority"]),
        dedupe_key=dedupe[1:] if dedupe else None,
        attempts=int(fields["attempts"]),
        max_attempts=int(fields["max_attempts"]),
        timeout=float(fields["timeout"]),
        run_after=float(fields["run_after"]),
        progress=float(fields.get("progress") or 0.0),
        progress_text=fields.get("progress_text", ""),
        result=json.loads(result) if result else None,
        error=fields.get("error"),
        cancel_requested=fields.get("cancel") == "1",
        created_at=float(fields["created_at"]),
        started_at=_optional_time(fields.get("started_at")),
        finished_at=_optional_time(fields.get("finished_at")),
    )


class RedisJobBackend(JobBackend):
    """Jobs in Redis, shared by every process that opens the same server and namespace.

    Parameters:
        client: a ``redis.asyncio`` client answering in ``str`` (``decode_responses=True``).
        namespace: keeps sets of jobs apart in one server; keys start with
            ``<namespace>:jobs:`` ("sluice" by default).
        url: what :func:`repr` shows of the server (never a password).
    """

    def __init__(
        self, client: aioredis.Redis, *, namespace: str | None = None, url: str = "redis"
    ) -> None:
        namespace = "sluice" if namespace is None else namespace
        if not namespace:
            raise ConfigError("the Redis namespace must not be empty: it prefixes every key")
        self.namespace = namespace
        self.prefix = f"{namespace}:jobs:"
        self._client = client
        self._url = url
        self._scripts = {
            name: client.register_script(lua.PRELUDE + source)
            for name, source in {
                "enqueue": lua.ENQUEUE,
                "claim": lua.CLAIM,
                "position": lua.POSITION,
                "list": lua.LIST,
                "renew": lease_lua.RENEW,
                "finish": lease_lua.FINISH,
                "retry": lease_lua.RETRY,
                "release": lease_lua.RELEASE,
                "reclaim": lease_lua.RECLAIM,
                "heartbeat": lease_lua.HEARTBEAT,
                "leave": lease_lua.LEAVE,
                "cancel": lease_lua.CANCEL,
                "cancel_user": lease_lua.CANCEL_USER,
                "progress": lease_lua.PROGRESS,
            }.items()
        }
        self._finishes: Coalescer[_FinishArgs, bool] = Coalescer(self._finish_many)
        self._work = asyncio.Event()
        self._cancelled: set[str] = set()
        self._cancel_heard = asyncio.Event()
        self._listener = Listener(
            client,
            {self.prefix + "work": self._heard_work, self.prefix + "cancel": self._heard_cancel},
            on_subscribed=self._work.set,
        )

    @classmethod
    def from_url(cls, url: str, *, namespace: str | None = None) -> RedisJobBackend:
        """Open ``redis://[:password@]host[:port][/db]`` (or ``rediss://``, ``unix://``)."""
        return cls(connect(url), namespace=namespace, url=shown_url(url))

    def __repr__(self) -> str:
        return f"RedisJobBackend({self._url!r}, namespace={self.namespace!r})"

    async def setup(self) -> None:
        for script in self._scripts.values():
            await self._client.script_load(script.script)

    async def close(self) -> None:
        await self._finishes.drain()
        await self._listener.close()
        await self._client.aclose()

    async def drop(self) -> None:
        """Delete every key of this namespace's jobs."""
        await delete_prefixed(self._client, self.prefix)

    async def _run(self, name: str, *args: str | int) -> Any:
        script: AsyncScript = self._scripts[name]
        return await script(args=[self.prefix, *args])

    # -- the way in ----------------------------------------------------------

    async def enqueue(self, job: NewJob, policy: JobPolicy, now: float) -> tuple[str, bool]:
        (done,) = await self.enqueue_many([job], {job.kind: policy}, now)
        return done

    async def enqueue_many(
        self, jobs: Sequence[NewJob], policies: Mapping[str, JobPolicy], now: float
    ) -> list[tuple[str, bool]]:
        done: list[tuple[str, bool]] = []
        for first in range(0, len(jobs), _ENQUEUE_CHUNK):
            chunk = jobs[first : first + _ENQUEUE_CHUNK]
            args: list[str] = [_time(now)]
            for job in chunk:
                args += self._enqueue_args(job, policies[job.kind])
            reply: list[str | int] = json.loads(await self._run("enqueue", *args)) or []
            for index in range(0, len(reply), 2):
                if reply[index] == "!full":
                    refused = chunk[int(reply[index + 1])]
                    cap = policies[refused.kind].queued_cap
                    raise QueueFull(refused.kind, refused.user_id, cap or 0)
                done.append((str(reply[index]), reply[index + 1] == 1))
        return done

    @staticmethod
    def _enqueue_args(job: NewJob, policy: JobPolicy) -> list[str]:
        if job.priority not in _PRIORITY_RANGE:
            raise ConfigError(
                f"priority {job.priority} is out of range: use a whole number "
                "between -2147483648 and 2147483647"
            )
        return [
            uuid.uuid4().hex,
            job.kind,
            _json(job.payload),
            "" if job.user_id is None else str(job.user_id),
            str(job.priority),
            f"{job.priority + 2**31:010d}",
            "" if job.dedupe_key is None else "=" + job.dedupe_key,
            str(job.max_attempts),
            _time(job.timeout),
            _time(job.run_after),
            "" if policy.queued_cap is None else str(policy.queued_cap),
        ]

    async def claim(
        self,
        worker: str,
        policies: Mapping[str, JobPolicy],
        limit: int,
        lease: float,
        now: float,
    ) -> list[Job]:
        # Cleared before looking: work announced from now on wakes wait_for_work.
        self._work.clear()
        if limit <= 0 or not policies:
            return []
        kinds: list[str] = []
        for kind, policy in policies.items():
            kinds += [kind, "" if policy.running_cap is None else str(policy.running_cap)]
        taken: list[list[str]] = json.loads(
            await self._run(
                "claim", worker, _time(now), _time(now + lease), limit, _CLAIM_BUDGET, *kinds
            )
        )
        return [_job(pairs) for pairs in taken or []]

    # -- leases --------------------------------------------------------------

    async def renew(
        self, worker: str, job_ids: Sequence[str], lease: float, now: float
    ) -> set[str]:
        if not job_ids:
            return set()
        stop: list[str] = await self._run("renew", worker, _time(now + lease), *job_ids)
        return set(stop)

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
            raise ValueError(f"a run ends SUCCEEDED, FAILED or CANCELLED, not {state.name}")
        args = (job_id, worker, state.value, _time(now), _json(result), _error(error))
        return await self._finishes.call(args)

    async def _finish_many(self, calls: Sequence[_FinishArgs]) -> list[bool]:
        replies: list[int] = await self._run("finish", *(arg for call in calls for arg in call))
        return [reply == 1 for reply in replies]

    async def retry(
        self, job_id: str, worker: str, now: float, *, error: str, run_after: float
    ) -> bool:
        done: int = await self._run("retry", job_id, worker, _time(now), error, _time(run_after))
        return done == 1

    async def release(self, job_id: str, worker: str, now: float) -> bool:
        done: int = await self._run("release", job_id, worker, _time(now))
        return done == 1

    async def progress(self, job_id: str, fraction: float, text: str) -> None:
        await self._run("progress", job_id, repr(min(1.0, max(0.0, fraction))), text)

    async def reclaim(self, now: float) -> list[str]:
        ids: list[str] = await self._run("reclaim", _time(now), _LOST, _SILENT)
        return ids

    # -- presence ------------------------------------------------------------

    async def heartbeat(
        self, worker: str, kinds: Sequence[str], now: float, lifetime: float
    ) -> None:
        await self._run("heartbeat", worker, _time(now + lifetime), *kinds)

    async def leave(self, worker: str) -> None:
        await self._run("leave", worker)

    async def live_workers(self, now: float, kinds: Sequence[str] | None = None) -> int:
        if kinds is None:
            return int(await self._client.zcount(self.prefix + "presence", _time(now), "+inf"))
        present: set[str] = set()
        for kind in kinds:
            found = await self._client.zrangebyscore(
                f"{self.prefix}presence:{kind}", _time(now), "+inf"
            )
            present.update(cast("list[str]", found))
        return len(present)

    # -- cancellation --------------------------------------------------------

    async def cancel(self, job_id: str, now: float) -> Job | None:
        pairs: list[str] | None = await self._run("cancel", job_id, _time(now))
        return _job(pairs) if pairs else None

    async def cancel_user(self, user_id: int, now: float) -> list[str]:
        ids: list[str] = await self._run("cancel_user", str(user_id), _time(now))
        return ids

    async def listen(self, within: float = 5.0) -> bool:
        """Start hearing announcements (work, cancellations); True once subscribed.

        :meth:`wait_for_work` and :meth:`wait_for_cancel` start it themselves;
        announcements made before the subscription are not heard.
        """
        return await self._listener.start(within=within)

    async def wait_for_cancel(self, seconds: float) -> set[str]:
        """Ids of running jobs whose cancellation was announced since the last call.

        Waits up to ``seconds`` for one; the first call starts listening.
        Faster than waiting for :meth:`renew` to name them.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        await self._listener.start(within=seconds)
        if not self._cancelled:
            self._cancel_heard.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await self._cancel_heard.wait()
        heard, self._cancelled = self._cancelled, set()
        return heard

    def _heard_cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)
        self._cancel_heard.set()

    # -- looking -------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        # decode_responses=True: str, whatever redis-py's annotations say.
        fields = cast("dict[str, str]", await self._client.hgetall(self.prefix + "job:" + job_id))
        if not fields:
            return None
        return _job([item for pair in fields.items() for item in pair])

    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        state: JobState | None = None,
        kind: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        if limit <= 0:
            return []
        if user_id is not None:
            index = f"idx:user:{user_id}"
        elif state is not None and kind is not None:
            index = f"idx:sk:{state.value}:{kind}"
        elif state is not None:
            index = f"idx:state:{state.value}"
        elif kind is not None:
            index = f"idx:kind:{kind}"
        else:
            index = "idx:all"
        found: list[list[str]] = json.loads(
            await self._run(
                "list",
                index,
                "" if user_id is None else str(user_id),
                "" if state is None else state.value,
                "" if kind is None else kind,
                limit,
            )
        )
        return [_job(pairs) for pairs in found or []]

    async def position(self, job_id: str, now: float) -> int | None:
        ahead: int = await self._run("position", job_id, _time(now))
        return None if ahead < 0 else ahead

    async def wait_for_work(self, seconds: float) -> None:
        """Return when work is announced (an enqueue, a slot freed), or after ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        await self._listener.start(within=seconds)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                await self._work.wait()

    def _heard_work(self, _: str) -> None:
        self._work.set()


def _error(error: str | None) -> str:
    return "" if error is None else "=" + error
