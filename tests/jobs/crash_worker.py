"""A worker process for the tests of workers that die (tests/jobs/test_crash.py,
tests/jobs/test_workers.py).

``crash_worker.py JOBS_URL NAMESPACE LOG [--lease S] [--concurrency N] [--work S]
[--store URL --telegram URL --token TOKEN]``

It runs ``work`` jobs that take ``--work`` seconds, appending a line
``<job id> <pid> <epoch seconds>`` to LOG as each run starts (one ``write``
per line on an ``O_APPEND`` file: whole lines even when the process is
killed), and, given a store and a Telegram, durable broadcasts through an
aiogram bot behind a sluice gate at 10x speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING

from sluice.jobs import JobContext, JobQueue, open_backend

if TYPE_CHECKING:
    from aiogram.client.session.aiohttp import AiohttpSession


async def main(args: argparse.Namespace) -> None:
    backend = open_backend(args.jobs_url, namespace=args.namespace)
    await backend.setup()
    queue = JobQueue(backend, lease=args.lease, check_interval=0.1, poll_interval=0.05)

    @queue.handler("work")
    async def work(ctx: JobContext) -> str:
        fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{ctx.job.id} {os.getpid()} {time.time():.3f}\n".encode())
        finally:
            os.close(fd)
        await asyncio.sleep(args.work)  # the job's own work takes a little while
        return ctx.job.id

    session = await broadcasts(args, queue) if args.telegram else None
    print("ready", flush=True)
    try:
        await queue.run(concurrency=args.concurrency)
    finally:
        if session is not None:
            await session.close()


async def broadcasts(args: argparse.Namespace, queue: JobQueue) -> AiohttpSession:
    """Durable broadcasts on ``queue``; the bot's session, to close at the end."""
    # Imported here: aiogram takes seconds to import, and only broadcasts need it.
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from sluice.broadcasts import DurableBroadcasts
    from sluice.broadcasts.aiogram import aiogram_sender
    from sluice.gate import Gate
    from sluice.integrations.aiogram import GateMiddleware, classify_aiogram
    from sluice.limits import TelegramLimits
    from sluice.store import Store

    store = Store.open(args.store, namespace=args.namespace)
    await store.setup()
    session = AiohttpSession(api=TelegramAPIServer.from_base(args.telegram))
    session.middleware(GateMiddleware(Gate(limits=TelegramLimits(speed=10))))
    bot = Bot(args.token, session=session)
    DurableBroadcasts(
        store, queue, aiogram_sender({bot.id: bot}), classify=classify_aiogram, flush_every=0.1
    )
    return session


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs_url")
    parser.add_argument("namespace")
    parser.add_argument("log")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--work", type=float, default=0.01)
    parser.add_argument("--store")
    parser.add_argument("--telegram")
    parser.add_argument("--token")
    asyncio.run(main(parser.parse_args()))
