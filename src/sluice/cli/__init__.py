"""The ``sluice`` command."""

from __future__ import annotations

from sluice.cli._main import main

__all__ = ["main"]
