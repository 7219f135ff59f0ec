"""Telegram's limit model and the primitives the gate schedules with; limiters
(in memory, or shared through Redis) for processes that share a bot."""

from __future__ import annotations

from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._ledger import FloodLedger
from sluice.limits._redis import RedisLimiter
from sluice.limits._shared import (
    AccountPaused,
    Limiter,
    LimiterUnavailable,
    MemoryLimiter,
    Outcome,
    Ticket,
    from_url,
)
from sluice.limits._windows import SlidingWindow, TokenBucket

__all__ = [
    "AccountPaused",
    "AdaptiveRate",
    "FloodLedger",
    "Limiter",
    "LimiterUnavailable",
    "MemoryLimiter",
    "Outcome",
    "RedisLimiter",
    "SlidingWindow",
    "TelegramLimits",
    "Ticket",
    "TokenBucket",
    "from_url",
]
