"""The ``sluice`` command line (Typer + Rich) and how it reports failures.

Every expected failure (a bad option value, a port in use, missing or
invalid settings, an extra not installed) is one line on stderr and exit
code 2; ``--debug`` or ``SLUICE_LOG_LEVEL=DEBUG`` adds the traceback. The
command modules import what their feature needs when they run, so ``sluice
--help`` works with any set of extras.
"""

from __future__ import annotations

from sluice import _extras
from sluice._extras import missing_extra

try:  # the extra this module needs, named if it is missing
    import rich  # noqa: F401
    import typer
except ImportError as error:
    raise _extras.missing_extra("the sluice command", "cli", error) from None

import asyncio
import logging
import os
import traceback
from pathlib import Path
from typing import Annotated

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from sluice import __version__
from sluice._exceptions import ConfigError, SluiceError
from sluice._redact import redact

__all__ = ["app", "configure_logging", "console", "err_console", "run"]

app = typer.Typer(
    name="sluice",
    help="Run Telegram bots at the full speed Telegram permits.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: Rich's panels show <bool> after flags and fold choices mid-word.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,  # tracebacks would print local variables, tokens included
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class _State:
    debug = False


_state = _State()


def _debug_from_environment() -> bool:
    # Read here rather than through Settings: it must hold before settings load,
    # so that a settings error can be shown with its traceback.
    return os.environ.get("SLUICE_LOG_LEVEL", "").strip().upper() == "DEBUG"


def _show_version(value: bool) -> None:
    if value:
        console.print(f"sluice-telegram {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_show_version, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Log everything and show tracebacks of errors."),
    ] = False,
) -> None:
    _state.debug = debug or _debug_from_environment()


def configure_logging(verbose: bool = False) -> None:
    """sluice's own logs at INFO (DEBUG with ``verbose``); libraries' only when they warn,
    unless ``--debug`` asked for everything."""
    level = logging.DEBUG if _state.debug else logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )
    ours = logging.DEBUG if verbose or _state.debug else logging.INFO
    logging.getLogger("sluice").setLevel(ours)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines)


def _report(message: str, exc: BaseException, code: int = 2) -> int:
    if _state.debug:
        trace = "".join(traceback.format_exception(exc))
        err_console.print(redact(trace), markup=False, highlight=False, soft_wrap=True)
    # Escaped: a message is text, and "pip install 'sluice-telegram[demo]'" is not markup.
    text = escape(redact(_one_line(message)))
    err_console.print(f"[bold red]error:[/] {text}", soft_wrap=True)
    return code


def _usage(exc: typer.TyperException) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message


def run(args: list[str]) -> int:
    """Run the command line with ``args``; the exit code."""
    from sluice.cli import _bench, _emulator, _jobs, _run  # noqa: F401  (their commands)

    _state.debug = "--debug" in args or _debug_from_environment()
    try:
        command = typer.main.get_command(app)
        result = command.main(args, prog_name="sluice", standalone_mode=False)
    except typer.TyperException as exc:  # bad values, unknown options, missing arguments
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            console.print(ctx.get_help(), markup=False, highlight=False)  # `sluice` alone
            return 0
        return _report(_usage(exc), exc, 2)
    except typer.Exit as exc:  # --help, --version
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        return 130
    except SluiceError as exc:
        return _report(str(exc), exc)
    except Exception as exc:
        hint = "" if _state.debug else " (run with --debug for the traceback)"
        return _report(f"unexpected {type(exc).__name__}: {exc}{hint}", exc, code=1)
    return result if isinstance(result, int) else 0


demo_app = typer.Typer(
    help="Offline demonstrations on an emulated Telegram.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(demo_app, name="demo")


@demo_app.callback()
def demo(ctx: typer.Context) -> None:
    """Three aiogram bots broadcast to 1,500 emulated users through sluice, offline.

    `sluice demo transcribe`: real speech to text on this machine instead.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        from sluice.cli._demo import run_demo
    except ImportError as error:
        raise missing_extra("sluice demo", "demo", error) from None

    report = asyncio.run(run_demo(console))
    raise typer.Exit(0 if report.ok else 1)


@demo_app.command("transcribe")
def demo_transcribe() -> None:
    """A spoken voice note transcribed by the bot with Whisper on this machine, offline."""
    try:
        from sluice.cli._demo_transcribe import run_demo_transcribe
    except ImportError as error:
        raise missing_extra("sluice demo transcribe", "local-stt", error) from None
    configure_logging()
    # Where `sluice run transcribe` keeps its files: the model is joined there once.
    data_dir = Path(os.environ.get("SLUICE_DATA_DIR") or ".sluice")
    report = asyncio.run(run_demo_transcribe(console, data_dir))
    raise typer.Exit(0 if report.ok else 1)


def listen_error(host: str, port: int, exc: OSError) -> ConfigError:
    """A port that cannot be bound, as one line."""
    return ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
