"""The ``sluice`` command."""

from __future__ import annotations

from sluice.cli._app import app, main

__all__ = ["app", "main"]
