"""The ``sluice`` command line (Typer + Rich)."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="sluice",
    help="Run Telegram bots at the full speed Telegram permits.",
    no_args_is_help=True,
    add_completion=False,
)


def main() -> None:
    app()
