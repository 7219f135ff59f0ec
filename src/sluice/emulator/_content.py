"""Sending content besides text and files: media groups, animations, stickers, locations, venues, contacts, polls, dice; replacing media."""

from __future__ import annotations

__all__: list[str] = []
