"""Sending one thing to many chats: the one recipient loop, in memory or durable and
sharded by chat, and status messages that coalesce.

aiogram helpers (``broadcast_messages``, ``status_message``, ``aiogram_sender``)
live in :mod:`sluice.broadcasts.aiogram`.
"""

from __future__ import annotations

import typing

from sluice.broadcasts._loop import (
    BroadcastProgress,
    BroadcastReport,
    Outcome,
    broadcast,
    outcome_for,
    send_to_each,
)
from sluice.broadcasts._status import StatusMessage

if typing.TYPE_CHECKING:  # at run time, on first use: they need the jobs extra (SQLAlchemy)
    from sluice.broadcasts._durable import BroadcastStatus, DurableBroadcasts
    from sluice.broadcasts._shards import shard_of, sharded_broadcast

__all__ = [
    "BroadcastProgress",
    "BroadcastReport",
    "BroadcastStatus",
    "DurableBroadcasts",
    "Outcome",
    "StatusMessage",
    "broadcast",
    "outcome_for",
    "send_to_each",
    "shard_of",
    "sharded_broadcast",
]


def __getattr__(name: str) -> object:
    # The durable broadcasts need the jobs extra (SQLAlchemy); the loop does not.
    if name in {"BroadcastStatus", "DurableBroadcasts"}:
        from sluice.broadcasts import _durable

        return getattr(_durable, name)
    if name in {"shard_of", "sharded_broadcast"}:
        from sluice.broadcasts import _shards

        return getattr(_shards, name)
    raise AttributeError(f"module 'sluice.broadcasts' has no attribute {name!r}")
