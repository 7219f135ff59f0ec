"""What a call's failure means to the gate.

Integrations translate their library's exceptions into one of these verdicts;
the gate itself never imports aiogram, python-telegram-bot or Telethon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Classifier",
    "Fatal",
    "Flood",
    "Kind",
    "Restricted",
    "Transient",
    "Unauthorized",
    "Verdict",
]


class Kind(StrEnum):
    """Why a request was refused for good (for broadcast reports)."""

    BLOCKED = "blocked"  # the user blocked the bot
    CHAT_NOT_FOUND = "chat_not_found"
    FORBIDDEN = "forbidden"  # other 403s: not a member, can't initiate, kicked
    BAD_REQUEST = "bad_request"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Flood:
    """Telegram said: wait ``retry_after`` seconds (429, FLOOD_WAIT_X, SLOWMODE_WAIT_X, ...)."""

    retry_after: float
    account_wide: bool = False  # MTProto FLOOD_WAIT applies to the whole account


@dataclass(frozen=True, slots=True)
class Transient:
    """Worth retrying after a backoff: 5xx, network errors, timeouts."""


@dataclass(frozen=True, slots=True)
class Unauthorized:
    """401: the token is revoked or wrong; the account must be quarantined."""


@dataclass(frozen=True, slots=True)
class Restricted:
    """The account is restricted (PEER_FLOOD, banned, frozen): pause it and tell its owner.

    ``reason`` names what Telegram said, for the account's health and the error.
    """

    reason: str = "spam-restricted (PEER_FLOOD); its owner should check @SpamBot"


@dataclass(frozen=True, slots=True)
class Fatal:
    """400/403 and anything unknown: raise to the caller at once."""

    kind: Kind = Kind.OTHER


Verdict = Flood | Transient | Unauthorized | Restricted | Fatal
Classifier = Callable[[BaseException], Verdict]
