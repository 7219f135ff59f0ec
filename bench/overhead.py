"""``sluice bench overhead``: what the gate itself costs per call.

A null transport (the call returns at once) and no limits, so nothing is
measured but the gate's own bookkeeping: routing, lanes, the ready queue,
grants and settlement. Concurrent callers loop over calls to many chats, the
shape of a bot under load. One process, one event loop: one core.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from sluice.accounts import Account
from sluice.gate import Gate
from sluice.limits import TelegramLimits

CALLS = 200_000
CALLERS = 1000
CHATS = 5000


async def _null(account: Account) -> None:
    return None


async def measure(calls: int = CALLS, callers: int = CALLERS, chats: int = CHATS) -> float:
    """Calls per second through a gate with no limits and a transport that does nothing."""
    gate = Gate([Account(1)], limits=TelegramLimits(enabled=False))
    per_caller = calls // callers

    async def caller(offset: int) -> None:
        for n in range(per_caller):
            await gate.call(_null, account=1, chat_id=(offset + n * callers) % chats)

    await asyncio.gather(*(caller(c) for c in range(min(callers, 50))))  # warm up
    gc.collect()
    started = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(callers)))
    elapsed = time.perf_counter() - started
    return per_caller * callers / elapsed


def run() -> dict[str, Any]:
    return {"calls_per_s": round(asyncio.run(measure()), 1)}
