"""``sluice run <app>``: run one of sluice's bots with the settings in the environment."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from sluice._exceptions import SluiceError
from sluice._redact import install_log_redaction, redact
from sluice.cli._app import app

if TYPE_CHECKING:
    from sluice.accounts import Settings

run_app = typer.Typer(help="Run one of sluice's bots.", no_args_is_help=True)
app.add_typer(run_app, name="run")
_err = Console(stderr=True, highlight=False)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step.")]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Share jobs, cache and limits through this Redis (else SLUICE_REDIS_URL).",
    ),
]


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=_err, show_path=False)],
    )
    install_log_redaction()


def _settings(redis: str | None) -> Settings:
    from sluice.accounts import load_settings

    settings = load_settings()
    return settings.model_copy(update={"redis_url": redis}) if redis else settings


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(main)
    except SluiceError as exc:
        _err.print(f"[bold red]error:[/] {redact(str(exc))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@run_app.command()
def transcribe(
    verbose: Verbose = False,
    redis: RedisUrl = None,
    jobs_only: Annotated[
        bool,
        typer.Option(
            "--jobs-only",
            help="Run transcription jobs only, no polling: an extra worker next to the bot.",
        ),
    ] = False,
) -> None:
    """The transcription bot: voice notes, audio and video to text.

    Reads the bot token, TELEGRAM_API_SERVER, SLUICE_* and the speech-to-text
    providers' keys (GROQ_API_KEY, DEEPGRAM_API_KEY, ...) from the environment
    and .env; runs until Ctrl-C.
    """
    from sluice.apps.transcribe import load_provider_settings, run_transcribe

    _logging(verbose)
    try:
        settings, providers = _settings(redis), load_provider_settings()
    except SluiceError as exc:
        _err.print(f"[bold red]error:[/] {redact(str(exc))}")
        raise typer.Exit(2) from None
    _run(run_transcribe(settings, providers, poll=not jobs_only))


@run_app.command()
def worker(
    verbose: Verbose = False,
    redis: RedisUrl = None,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.")] = 32,
) -> None:
    """One of N processes sharing the bots' limits and durable jobs through Redis.

    Start one per core, on this host or another, with the same SLUICE_REDIS_URL
    (and SLUICE_DATABASE_URL across hosts); runs broadcasts sharded by chat.
    """
    from sluice.apps.worker import open_worker

    _logging(verbose)

    async def main() -> None:
        async with open_worker(_settings(redis)) as running:
            await running.run(concurrency=concurrency)

    _run(main())
