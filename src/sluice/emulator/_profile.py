"""The bot's profile (name, descriptions, menu button), inline mode, Web App answers and payments in Telegram Stars."""

from __future__ import annotations

__all__: list[str] = []
