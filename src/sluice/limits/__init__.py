"""Telegram's limit model and where it is kept: a :class:`Limiter` in this process
(:class:`MemoryLimiter`) or shared by every process on one Redis (:class:`RedisLimiter`)."""

from __future__ import annotations

from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._ledger import FloodLedger
from sluice.limits._limiter import (
    Answer,
    Flooded,
    Limiter,
    Paused,
    Request,
    Scope,
    SendResult,
    Ticket,
    Wait,
    from_url,
    is_private,
)
from sluice.limits._memory import MemoryLimiter
from sluice.limits._redis import RedisLimiter
from sluice.limits._windows import Bucket, SlidingWindow

__all__ = [
    "AdaptiveRate",
    "Answer",
    "Bucket",
    "FloodLedger",
    "Flooded",
    "Limiter",
    "MemoryLimiter",
    "Paused",
    "RedisLimiter",
    "Request",
    "Scope",
    "SendResult",
    "SlidingWindow",
    "TelegramLimits",
    "Ticket",
    "Wait",
    "from_url",
    "is_private",
]
