"""Which Bot API methods Telegram's flood limits apply to."""

from __future__ import annotations

__all__ = ["is_send_like"]

_FORWARD_LIKE = frozenset({"copymessage", "copymessages", "forwardmessage", "forwardmessages"})


def is_send_like(method: str) -> bool:
    """send*, edit*, copyMessage(s) and forwardMessage(s): what counts against a chat's limit."""
    lowered = method.lower()
    return lowered.startswith(("send", "edit")) or lowered in _FORWARD_LIKE
