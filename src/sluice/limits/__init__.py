"""Telegram's limit model and the primitives the gate schedules with."""

from __future__ import annotations

from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._ledger import FloodLedger
from sluice.limits._redis import RedisLimiter, Ticket
from sluice.limits._windows import SlidingWindow, TokenBucket

__all__ = [
    "AdaptiveRate",
    "FloodLedger",
    "RedisLimiter",
    "SlidingWindow",
    "TelegramLimits",
    "Ticket",
    "TokenBucket",
]
