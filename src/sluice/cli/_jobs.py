"""``sluice jobs list|show|cancel``: look at and stop durable jobs.

The jobs live where the running bots keep them: Redis when
``SLUICE_REDIS_URL`` is set, else ``SLUICE_DATABASE_URL``, else the SQLite
file in the data directory (``SLUICE_DATA_DIR``, ``.sluice`` by default).
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar, get_args

import typer
from rich.console import Console
from rich.table import Table

from sluice._extras import missing_extra
from sluice._redact import redact
from sluice.cli._app import app
from sluice.config import load_settings
from sluice.runtime import jobs_url

if TYPE_CHECKING:
    from sluice.jobs import Job, JobQueue

__all__ = ["JOB_STATES"]

# JobState's values, spelt out so that `sluice --help` needs no jobs extra
# (tests/test_cli.py checks that they match).
State = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATES: tuple[str, ...] = get_args(State)

jobs_app = typer.Typer(
    help="Look at and cancel durable jobs.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(jobs_app, name="jobs")
_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
T = TypeVar("T")


def _with_queue(action: Callable[[JobQueue], Awaitable[T]]) -> T:
    try:
        from sluice.jobs import JobQueue, open_backend
    except ImportError as error:
        raise missing_extra("sluice jobs", "jobs", error) from None

    async def main() -> T:
        backend = open_backend(jobs_url(load_settings()))
        try:
            await backend.setup()
            return await action(JobQueue(backend))
        finally:
            await backend.close()

    return asyncio.run(main())


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("list")
def list_jobs(
    user: Annotated[int | None, typer.Option(help="Only this Telegram user's jobs.")] = None,
    state: Annotated[State | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """The newest jobs, with their state and progress."""

    def newest(queue: JobQueue) -> Awaitable[list[Job]]:
        from sluice.jobs import JobState

        wanted = None if state is None else JobState(state)
        return queue.list_jobs(user_id=user, state=wanted, kind=kind, limit=limit)

    jobs = _with_queue(newest)
    table = Table(title=f"{len(jobs)} job(s)", title_justify="left")
    for column in ("id", "kind", "user", "state", "progress", "attempts", "created"):
        table.add_column(column)
    for job in jobs:
        progress = f"{job.progress:.0%} {job.progress_text}".strip()
        table.add_row(
            job.id,
            job.kind,
            str(job.user_id or "-"),
            job.state.value,
            progress if job.state.value == "running" else "",
            f"{job.attempts}/{job.max_attempts}",
            _when(job.created_at),
        )
    _out.print(table)


@jobs_app.command("show")
def show(job_id: Annotated[str, typer.Argument(help="The job's id.")]) -> None:
    """Everything stored about one job."""
    job: Job = _with_queue(lambda q: q.status(job_id))
    table = Table(show_header=False, title=f"job {job.id}", title_justify="left")
    table.add_column("field")
    table.add_column("value")
    rows = {
        "kind": job.kind,
        "state": job.state.value + (" (cancel requested)" if job.cancel_requested else ""),
        "user": str(job.user_id or "-"),
        "priority": str(job.priority),
        "attempts": f"{job.attempts}/{job.max_attempts}",
        "progress": f"{job.progress:.0%} {job.progress_text}".strip(),
        "created": _when(job.created_at),
        "started": _when(job.started_at),
        "finished": _when(job.finished_at),
        "timeout": f"{job.timeout:g} s",
        "dedupe key": job.dedupe_key or "-",
        "payload": redact(json.dumps(job.payload, ensure_ascii=False)),
        "result": redact(json.dumps(job.result, ensure_ascii=False)),
        "error": redact(job.error or "-"),
    }
    for field, value in rows.items():
        table.add_row(field, value)
    _out.print(table)


@jobs_app.command("cancel")
def cancel(job_id: Annotated[str, typer.Argument(help="The job's id.")]) -> None:
    """Cancel a job: at once if it waits; a running one stops within a second."""
    job: Job = _with_queue(lambda q: q.cancel(job_id))
    if job.state.value == "cancelled":
        _out.print(f"job {job.id} cancelled")
    elif job.state.value == "running":
        _out.print(f"job {job.id} is running: its worker stops it within a second")
    else:
        _out.print(f"job {job.id} had already {job.state.value}: nothing to cancel")
