"""A worker for ``sluice bench distributed``: ``sluice run worker`` at the emulator's speed that
also reports its Redis limiter's round trips (in the hash ``<namespace>:bench:rt``).

``dist_worker.py REDIS_URL NAMESPACE STORE_URL TELEGRAM_URL SPEED TOKEN...``
"""

from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aioredis

from sluice.apps.worker import open_worker
from sluice.config import load_settings
from sluice.limits import TelegramLimits


async def main(
    redis_url: str, namespace: str, store: str, telegram: str, speed: str, *tokens: str
) -> None:
    env = {
        "SLUICE_REDIS_URL": redis_url,
        "SLUICE_DATABASE_URL": store,
        "TELEGRAM_API_SERVER": telegram,
        **{f"MULTITOKEN{n}": token for n, token in enumerate(tokens, 1)},
    }
    settings = load_settings(env, env_file=None)
    report = aioredis.Redis.from_url(redis_url)
    async with open_worker(
        settings, namespace=namespace, limits=TelegramLimits(speed=float(speed)), lease=5.0
    ) as worker:
        limiter = worker.runtime.limiter

        async def publish() -> None:
            while True:
                await report.hset(f"{namespace}:bench:rt", str(os.getpid()), limiter.round_trips)
                await asyncio.sleep(0.2)

        print("ready", flush=True)
        reporting = asyncio.create_task(publish())
        try:
            await worker.run(concurrency=32)
        finally:
            reporting.cancel()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
