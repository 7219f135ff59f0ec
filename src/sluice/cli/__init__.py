"""The ``sluice`` command."""

from __future__ import annotations

from sluice.cli import _bench, _jobs  # noqa: F401  (register ``sluice bench``, ``sluice jobs``)
from sluice.cli._app import app, main

__all__ = ["app", "main"]
