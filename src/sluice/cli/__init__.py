"""The ``sluice`` command."""

from __future__ import annotations

from sluice.cli import _bench, _jobs, _run  # noqa: F401  (register bench, jobs, run)
from sluice.cli._app import app, main

__all__ = ["app", "main"]
