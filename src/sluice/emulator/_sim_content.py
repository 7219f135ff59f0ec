"""Simulated users' content besides text and files (locations, contacts, stickers, animations) and their votes in polls."""

from __future__ import annotations

__all__: list[str] = []
