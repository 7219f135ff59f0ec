"""A ``sluice run worker`` process for the multi-process test, at 10x Telegram's speed.

``dist_worker.py REDIS_URL NAMESPACE STORE_URL TELEGRAM_URL TOKEN...``; prints
``ready``, then runs jobs until killed. Leases of 5 s (long enough for a busy
two-core machine to renew them every 0.25 s), so a killed worker's work moves
on within seconds.
"""

from __future__ import annotations

import asyncio
import sys

from sluice.apps.worker import open_worker
from sluice.config import load_settings
from sluice.limits import TelegramLimits


async def main(redis_url: str, namespace: str, store: str, telegram: str, *tokens: str) -> None:
    env = {
        "SLUICE_REDIS_URL": redis_url,
        "SLUICE_DATABASE_URL": store,
        "TELEGRAM_API_SERVER": telegram,
        **{f"MULTITOKEN{n}": token for n, token in enumerate(tokens, 1)},
    }
    settings = load_settings(env, env_file=None)
    async with open_worker(
        settings, namespace=namespace, limits=TelegramLimits(speed=10), lease=5.0,
    ) as worker:  # fmt: skip
        print("ready", flush=True)
        await worker.run(concurrency=8)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
