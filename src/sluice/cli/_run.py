"""``sluice run <app>``: run one of sluice's bots with the settings in the environment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from sluice._exceptions import ConfigError
from sluice._extras import missing_extra
from sluice.cli._app import app, configure_logging

if TYPE_CHECKING:
    from sluice.config import Settings

run_app = typer.Typer(help="Run one of sluice's bots.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(run_app, name="run")
T = TypeVar("T")

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every step.")]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Share jobs, cache and limits through this Redis (else SLUICE_REDIS_URL).",
    ),
]


def _collect(load: Callable[[], T], problems: list[str]) -> T | None:
    """``load()``, or None with its problems added: every problem is reported at once."""
    try:
        return load()
    except ConfigError as exc:
        problems.extend(line for line in str(exc).splitlines() if line.strip())
        return None


def _settings(redis: str | None, problems: list[str]) -> Settings | None:
    from sluice.config import load_settings

    settings = _collect(load_settings, problems)
    if settings is not None and redis:
        settings = settings.model_copy(update={"redis_url": redis})
    return settings


def _needs_token(settings: Settings | None, problems: list[str]) -> None:
    if settings is not None and not settings.bot_tokens:
        problems.append("no bot token: set TELEGRAM_BOT_TOKEN (or BOT_TOKEN)")


def _bot_settings(redis: str | None, load_own: Callable[[], T]) -> tuple[Settings, T]:
    """sluice's settings with a bot token, and the bot's own: every problem of both
    reported at once, as one :class:`~sluice.ConfigError`."""
    problems: list[str] = []
    settings = _settings(redis, problems)
    _needs_token(settings, problems)
    own = _collect(load_own, problems)
    if problems or settings is None or own is None:
        raise ConfigError("\n".join(problems))
    return settings, own


def _run(main: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main)


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
    try:
        from sluice.apps.transcribe import load_provider_settings, run_transcribe
    except ImportError as error:
        raise missing_extra("sluice run transcribe", "transcribe", error) from None

    configure_logging(verbose)
    settings, providers = _bot_settings(redis, load_provider_settings)
    _run(run_transcribe(settings, providers, poll=not jobs_only))


@run_app.command()
def worker(
    verbose: Verbose = False,
    redis: RedisUrl = None,
    concurrency: Annotated[int, typer.Option(help="Jobs run at once.", min=1)] = 32,
) -> None:
    """One of N processes sharing the bots' limits and durable jobs through Redis.

    Start one per core, on this host or another, with the same SLUICE_REDIS_URL
    (and SLUICE_DATABASE_URL across hosts); runs broadcasts sharded by chat.
    """
    try:
        from sluice.apps.worker import open_worker
    except ImportError as error:
        raise missing_extra("sluice run worker", "worker", error) from None

    configure_logging(verbose)
    problems: list[str] = []
    settings = _settings(redis, problems)
    _needs_token(settings, problems)
    if settings is not None and not settings.redis_url:
        problems.append("a worker shares limits and jobs through Redis: set SLUICE_REDIS_URL")
    if problems or settings is None:
        raise ConfigError("\n".join(problems))

    async def main() -> None:
        async with open_worker(settings) as running:
            await running.run(concurrency=concurrency)

    _run(main())


@run_app.command()
def filelink(verbose: Verbose = False) -> None:
    """The file-to-link bot: any Telegram file as a signed, seekable link.

    Reads the bot tokens (BOT_TOKEN, MULTITOKEN1..N), TELEGRAM_API_ID/_HASH,
    SLUICE_*, and LINK_SECRET, STORAGE_CHANNEL, PUBLIC_URL, HOST, PORT, ... from
    the environment and .env (docs/filelink.md); runs until Ctrl-C.
    """
    try:
        from sluice.apps.filelink import load_filelink_settings, run_filelink
    except ImportError as error:
        raise missing_extra("sluice run filelink", "filelink", error) from None

    configure_logging(verbose)
    settings, own = _bot_settings(None, load_filelink_settings)
    _run(run_filelink(settings, own))
