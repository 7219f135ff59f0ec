"""A worker process for the crash tests (see tests/jobs/test_crash.py).

``crash_worker.py JOBS_URL NAMESPACE LOG [--store URL --telegram URL --token TOKEN]``

It runs ``work`` jobs, appending each job's id to LOG as a run starts (one
``write`` per line on an ``O_APPEND`` file: whole lines even when the process
is killed), and, given a store and a Telegram, durable broadcasts through an
aiogram bot behind a sluice gate at 10x speed.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice.gate import Gate
from sluice.integrations.aiogram import GateMiddleware, aiogram_sender, classify_aiogram
from sluice.jobs import DurableBroadcasts, JobContext, JobQueue
from sluice.jobs._open import open_backend
from sluice.limits import TelegramLimits
from sluice.store import Store


async def main(args: argparse.Namespace) -> None:
    backend = open_backend(args.jobs_url, namespace=args.namespace)
    await backend.setup()
    queue = JobQueue(backend, lease=2.0, check_interval=0.1, poll_interval=0.05)

    @queue.handler("work")
    async def work(ctx: JobContext) -> str:
        fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{ctx.job.id}\n".encode())
        finally:
            os.close(fd)
        await asyncio.sleep(0.01)  # the job's own work takes a little while
        return ctx.job.id

    session = None
    if args.telegram:
        store = Store.open(args.store, namespace=args.namespace)
        await store.setup()
        session = AiohttpSession(api=TelegramAPIServer.from_base(args.telegram))
        session.middleware(GateMiddleware(Gate(limits=TelegramLimits(speed=10))))
        bot = Bot(args.token, session=session)
        DurableBroadcasts(
            store, queue, aiogram_sender({bot.id: bot}), classify=classify_aiogram, flush_every=0.1
        )
    print("ready", flush=True)
    try:
        await queue.run(concurrency=8)
    finally:
        if session is not None:
            await session.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("jobs_url")
    parser.add_argument("namespace")
    parser.add_argument("log")
    parser.add_argument("--store")
    parser.add_argument("--telegram")
    parser.add_argument("--token")
    asyncio.run(main(parser.parse_args()))
