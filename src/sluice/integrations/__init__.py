"""Plugging the gate into the libraries bots are written with.

One module per library (``sluice.integrations.aiogram``, ``.ptb``,
``.telethon``), imported explicitly so that a bot pulls in only its own.
"""

from __future__ import annotations

__all__: list[str] = []
