"""Accounts: what Telegram limits, and how each one is doing.

An :class:`Account` is one Telegram identity (a bot, or a user logged in over
MTProto). Several credentials logged in as the same bot are one account, since
Telegram limits the bot, not the credential. Secrets never live here: an
account carries only its id and a label safe to print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Account", "Health"]


@dataclass(slots=True)
class Health:
    """Counters and state of one account, as the dashboard and the selector see them."""

    requests: int = 0
    successes: int = 0
    failures: int = 0
    floods: int = 0
    in_flight: int = 0
    last_used: float = 0.0
    blocked_until: float = 0.0
    account_blocks: int = 0  # floods that closed the whole account
    paused: str | None = None  # the reason, while the account is paused
    rate: float = 1.0  # its send rate, as a share of the published one

    @property
    def success_rate(self) -> float:
        done = self.successes + self.failures
        return self.successes / done if done else 1.0

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "successes": self.successes,
            "failures": self.failures,
            "success_rate": round(self.success_rate, 4),
            "r429": self.floods,
            "in_flight": self.in_flight,
            "last_used": self.last_used,
            "blocked_until": self.blocked_until,
            "account_blocks": self.account_blocks,
            "paused": self.paused,
            "rate": round(self.rate, 4),
        }


@dataclass(eq=False, slots=True)
class Account:
    """One Telegram identity the gate sends as.

    Parameters:
        id: Telegram's id for it (a bot's id is the digits before ``:`` in its token).
        kind: ``"bot"`` (Bot API) or ``"user"`` (MTProto user account).
        label: a name safe to show (never a token).
    """

    id: int
    kind: Literal["bot", "user"] = "bot"
    label: str = ""
    health: Health = field(default_factory=Health)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = f"{self.kind}:{self.id}"

    def __repr__(self) -> str:
        return f"Account({self.label})"

    @property
    def paused(self) -> bool:
        """Nothing is sent as it (its token was refused, Telegram restricted it, ...)."""
        return self.health.paused is not None

    def pause(self, reason: str) -> None:
        self.health.paused = reason

    def resume(self) -> None:
        self.health.paused = None
