"""What a call's failure means to the gate.

Integrations translate their library's exceptions into one of these verdicts;
the gate itself never imports aiogram, python-telegram-bot or Telethon.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum

from sluice._exceptions import AccountRestricted, ConfigError, FloodRetriesExhausted

__all__ = [
    "Classifier",
    "Fatal",
    "Flood",
    "Kind",
    "Restricted",
    "RetryPolicy",
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
    """401: the token is revoked or wrong; the account is paused and calls fail over."""


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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the gate tries before it gives a call up.

    Parameters:
        transient_retries: retries after 5xx, network errors and timeouts.
        backoff_base, backoff_cap: exponential backoff with full jitter, in seconds.
        flood_retries: how many 429s one call may receive before it is given up.
    """

    transient_retries: int = 5
    backoff_base: float = 0.2
    backoff_cap: float = 10.0
    flood_retries: int = 20

    def __post_init__(self) -> None:
        if self.transient_retries < 0 or self.flood_retries < 0:
            raise ConfigError("retry counts must not be negative")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise ConfigError("backoff needs 0 < backoff_base <= backoff_cap")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in ``[0, min(cap, base * 2**attempt)]``."""
        return rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2**attempt))


def pause_reason(verdict: Unauthorized | Restricted) -> str:
    """Why an account is paused, as its health shows it (never a token)."""
    if isinstance(verdict, Unauthorized):
        return "unauthorized: the token was refused"
    return f"restricted by Telegram: {verdict.reason}"


def account_restricted(
    label: str, verdict: Restricted, method: str, chat_id: Hashable | None
) -> AccountRestricted:
    return AccountRestricted(
        f"account {label} is restricted by Telegram ({verdict.reason}); "
        "sluice paused it and will not work around it",
        method=method,
        chat_id=chat_id,
        reasons={label: pause_reason(verdict)},
    )


def flood_retries_exhausted(
    method: str, chat_id: Hashable | None, tries: int
) -> FloodRetriesExhausted:
    return FloodRetriesExhausted(
        f"Telegram answered 429 to {method or 'a call'} {tries} times; giving up",
        method=method,
        chat_id=chat_id,
    )
