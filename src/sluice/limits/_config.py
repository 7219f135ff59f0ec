"""What sluice assumes Telegram allows, per bot account.

Defaults are Telegram's published figures. ``speed`` scales every rate (tests
and benchmarks against an emulator running at the same speed). Jitter between
sending a request and Telegram counting it is absorbed by the windows
themselves (they count a send at its answer); ``guard`` stretches every window
by a further margin for clocks that do not tick exactly alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sluice._exceptions import ConfigError

__all__ = ["TelegramLimits"]


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")


@dataclass(frozen=True, slots=True)
class TelegramLimits:
    """Per-account limits the gate schedules within.

    Parameters:
        bot_count, bot_window: at most ``bot_count`` sends in any ``bot_window`` seconds.
        private_rate, private_burst: a private chat's token bucket (messages/s, burst).
        group_count, group_window: at most ``group_count`` messages per window in a
            group, supergroup or channel.
        paid_count, paid_window: the account's limit for ``allow_paid_broadcast`` sends.
        bot_burst: sends an account may start back to back before they are paced
            ``bot_window / bot_count`` apart.
        speed: multiplies every rate (divides every window).
        guard: fraction by which every window is stretched, as a safety margin.
        adapt_hold: seconds (at speed 1) a cut rate holds before it probes upward.
        escalate_after, escalate_window, escalate_share: 429s that no chat's own limit
            explains (on chats that sent nothing lately) block the whole account when
            there are ``escalate_after`` of them, from two chats or more, within
            ``escalate_window`` seconds (at speed 1), and they are at least
            ``escalate_share`` of the answers since the first of them: Telegram
            refusing a bot-wide limit refuses most of what follows; stray 429s stay
            with their chats.
        enabled: False disables every limit (the flood ledger still applies).
    """

    bot_count: int = 30
    bot_window: float = 1.0
    private_rate: float = 1.0
    private_burst: int = 3
    group_count: int = 20
    group_window: float = 60.0
    paid_count: int = 1000
    paid_window: float = 1.0
    bot_burst: int = 3
    speed: float = 1.0
    guard: float = 0.0
    adapt_hold: float = 300.0
    escalate_after: int = 5
    escalate_window: float = 2.0
    escalate_share: float = 0.5
    enabled: bool = True

    def __post_init__(self) -> None:
        positive = ("bot_window", "private_rate", "group_window", "paid_window", "speed")
        for name in (*positive, "adapt_hold", "escalate_window"):
            _positive(name, getattr(self, name))
        counts = ("bot_count", "private_burst", "group_count", "paid_count", "bot_burst")
        for name in (*counts, "escalate_after"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
        if not 0 < self.escalate_share <= 1:
            raise ConfigError(f"escalate_share must be within (0, 1], got {self.escalate_share!r}")
        if not 0 <= self.guard < 0.5:
            raise ConfigError(f"guard must be within [0, 0.5), got {self.guard!r}")

    def scaled(self, seconds: float) -> float:
        """A window of ``seconds`` at this speed, with the guard applied."""
        return seconds / self.speed * (1.0 + self.guard)

    @property
    def chat_interval(self) -> float:
        """Seconds between two messages to one private chat at the sustained rate."""
        return 1.0 / (self.private_rate * self.speed)
