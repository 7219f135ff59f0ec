"""The ``sluice`` entry point: importable with the core alone.

The command itself needs the ``cli`` extra (Typer, Rich); without it the
entry point still answers ``--version`` and says in one line what to install.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

from sluice import __version__
from sluice._exceptions import MissingExtra
from sluice._redact import install_log_redaction

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``sluice`` command with ``argv`` (``sys.argv[1:]`` by default); exit."""
    args = list(sys.argv[1:] if argv is None else argv)
    install_log_redaction()  # before anything can log a URL with a token in it
    try:
        from sluice.cli._app import run
    except MissingExtra as exc:
        if args == ["--version"]:
            sys.stdout.write(f"sluice-telegram {__version__}\n")
            raise SystemExit(0) from None
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
    code = run(args)
    # Nothing is left to clean up: spare the collector a walk over every object
    # the libraries made (aiogram's models alone cost the exit most of a second).
    gc.freeze()
    raise SystemExit(code)
