"""``sluice run <app>``: run one of sluice's bots with the settings in the environment."""

from __future__ import annotations

import asyncio
import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

from sluice._exceptions import SluiceError
from sluice._redact import install_log_redaction, redact
from sluice.cli._app import app

run_app = typer.Typer(help="Run one of sluice's bots.", no_args_is_help=True)
app.add_typer(run_app, name="run")
_err = Console(stderr=True, highlight=False)


@run_app.command()
def transcribe(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every step."),
) -> None:
    """The transcription bot: voice notes, audio and video to text.

    Reads the bot token, TELEGRAM_API_SERVER, SLUICE_* and the speech-to-text
    providers' keys (GROQ_API_KEY, DEEPGRAM_API_KEY, ...) from the environment
    and .env; runs until Ctrl-C.
    """
    from sluice.accounts import load_settings
    from sluice.apps.transcribe import load_provider_settings, run_transcribe

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=_err, show_path=False)],
    )
    install_log_redaction()
    try:
        settings = load_settings()
        providers = load_provider_settings()
        asyncio.run(run_transcribe(settings, providers))
    except SluiceError as exc:
        _err.print(f"[bold red]error:[/] {redact(str(exc))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
