"""Per-chat order across processes: a chat's work goes to one job, so to one process.

With several worker processes, two sends to one chat made by two processes
could reach Telegram in either order. So work is *routed*: a broadcast is
split into shards by chat (:func:`shard_of`), each shard is one durable job,
and a job runs in one process at a time (its lease). A chat's messages are
then sent by one process, in order, however many processes share the bot's
limits (a :class:`~sluice.gate.Gate` on a
:class:`~sluice.limits.RedisLimiter`). A process that dies leaves
its shards to the others when their leases expire; they resume at the first
recipient without an outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sluice.broadcasts._durable import BroadcastStatus, DurableBroadcasts

__all__ = ["shard_of", "sharded_broadcast"]


def shard_of(chat_id: int, shards: int) -> int:
    """The shard of ``chat_id`` among ``shards``: stable across processes and hosts
    (not Python's ``hash``, which is salted per process)."""
    digest = hashlib.blake2b(str(chat_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


async def sharded_broadcast(
    broadcasts: DurableBroadcasts,
    bot_id: int,
    chat_ids: Sequence[int],
    message: dict[str, Any] | Sequence[dict[str, Any]],
    *,
    shards: int = 16,
) -> list[BroadcastStatus]:
    """One durable broadcast per non-empty shard of ``chat_ids``: as many jobs, which
    the worker processes share; a chat's messages stay in one of them."""
    buckets: list[list[int]] = [[] for _ in range(shards)]
    for chat in chat_ids:
        buckets[shard_of(int(chat), shards)].append(int(chat))
    return await broadcasts.create_many(bot_id, [b for b in buckets if b], message)
