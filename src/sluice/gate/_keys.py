"""Lane keys: one chat, one key, whichever library named it.

aiogram, python-telegram-bot and Telethon let a chat be named by its id (an
int, or digits in a string) or its public ``@username``. The gate orders and
paces calls per key, so every integration must turn the same chat into the
same key.
"""

from __future__ import annotations

import re

__all__ = ["chat_key"]

_USERNAME = re.compile(r"@?([a-z][a-z0-9_]{3,31})")


def chat_key(chat_id: object) -> int | str | None:
    """Ids as integers, usernames as ``@name`` in lower case, anything else as is."""
    if chat_id is None or isinstance(chat_id, bool):
        return None
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        text = chat_id.strip().lower()
        if text.lstrip("-").isdigit():
            return int(text)
        username = _USERNAME.fullmatch(text)
        return f"@{username.group(1)}" if username else text
    return None
