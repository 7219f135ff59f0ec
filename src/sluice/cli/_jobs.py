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
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sluice._exceptions import SluiceError
from sluice._redact import redact
from sluice.accounts import load_settings
from sluice.cli._app import app
from sluice.jobs import Job, JobBackend, JobQueue, JobState
from sluice.jobs._open import open_backend

__all__ = ["jobs_backend_url"]

jobs_app = typer.Typer(help="Look at and cancel durable jobs.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)
T = TypeVar("T")


def jobs_backend_url() -> str:
    """Where jobs live, by the settings in the environment and ``.env``."""
    settings = load_settings()
    if settings.redis_url:
        return settings.redis_url
    if settings.database_url:
        return settings.database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.data_dir / 'sluice.db'}"


def _with_queue(action: Callable[[JobQueue], Awaitable[T]]) -> T:
    async def main() -> T:
        backend: JobBackend = open_backend(jobs_backend_url())
        try:
            await backend.setup()
            return await action(JobQueue(backend))
        finally:
            await backend.close()

    try:
        return asyncio.run(main())
    except SluiceError as exc:
        _err.print(f"[bold red]error:[/] {redact(str(exc))}")
        raise typer.Exit(2) from None


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


@jobs_app.command("list")
def list_jobs(
    user: Annotated[int | None, typer.Option(help="Only this Telegram user's jobs.")] = None,
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only jobs of this kind.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 50,
) -> None:
    """The newest jobs, with their state and progress."""
    jobs = _with_queue(lambda q: q.list_jobs(user_id=user, state=state, kind=kind, limit=limit))
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
            progress if job.state is JobState.RUNNING else "",
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
    if job.state is JobState.CANCELLED:
        _out.print(f"job {job.id} cancelled")
    elif job.state is JobState.RUNNING:
        _out.print(f"job {job.id} is running: its worker stops it within a second")
    else:
        _out.print(f"job {job.id} had already {job.state.value}: nothing to cancel")
