"""Durable broadcasts through a real aiogram bot and the gate, against the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice.broadcasts import DurableBroadcasts, Outcome
from sluice.broadcasts.aiogram import aiogram_sender
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.gate import Gate
from sluice.integrations.aiogram import GateMiddleware, classify_aiogram
from sluice.jobs import JobBackend, JobQueue, JobState
from sluice.limits import TelegramLimits
from sluice.store import Store, broadcasts_table
from support import BOT_A, TOKEN_A, Sim

FAST = {"lease": 2.0, "check_interval": 0.05, "poll_interval": 0.05, "progress_interval": 0.0}


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(limits=Limits(speed=10), seed=2)


@pytest.fixture
async def store(backend_url: str, namespace: str, tmp_path: Path) -> AsyncIterator[Store]:
    url = backend_url if backend_url.startswith("postgres") else f"sqlite:///{tmp_path / 's.db'}"
    opened = Store.open(url, namespace=namespace)
    await opened.setup()
    yield opened
    await opened.drop()
    await opened.close()


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    session.middleware(GateMiddleware(Gate(limits=TelegramLimits(speed=10))))
    yield Bot(TOKEN_A, session=session)
    await session.close()


async def test_a_broadcast_job_reports_every_recipient(
    backend: JobBackend, store: Store, bot: Bot, sim: Sim
) -> None:
    users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(40)]
    await sim.post("block", bot_id=BOT_A, user_id=users[5])
    stranger = int((await sim.user(first_name="never started"))["id"])
    queue = JobQueue(backend, **FAST)  # type: ignore[arg-type]
    broadcasts = DurableBroadcasts(
        store, queue, aiogram_sender({BOT_A: bot}), classify=classify_aiogram, flush_every=0.05
    )
    recipients = [*users, users[0], stranger, 424242]  # users[0] twice: sent once
    created = await broadcasts.create(
        BOT_A, recipients, {"text": "<b>news</b>", "parse_mode": "HTML"}
    )
    assert (created.total, created.pending) == (42, 42)
    async with queue.running():
        job = await queue.wait(created.job_id or "", 60)
    assert job.state is JobState.SUCCEEDED
    status = await broadcasts.status(created.id)
    assert status.finished
    assert status.counts == {
        Outcome.DELIVERED: 39,
        Outcome.BLOCKED: 1,
        Outcome.FORBIDDEN: 1,
        Outcome.CHAT_NOT_FOUND: 1,
    }
    outcomes = await broadcasts.outcomes(created.id)
    assert [chat for chat, _, _ in outcomes] == [*users, stranger, 424242]
    assert outcomes[5][1] is Outcome.BLOCKED
    assert "blocked by the user" in (outcomes[5][2] or "")
    assert job.result == {"delivered": 39, "blocked": 1, "forbidden": 1, "chat_not_found": 1}
    for user in users[:5]:
        (news,) = [m for m in await sim.messages(user) if m["sender"]["type"] == "bot"]
        assert news["text"] == "news"
    assert job.progress == 1.0


async def test_a_broadcast_whose_job_was_never_enqueued_is_recovered(
    backend: JobBackend, store: Store, bot: Bot, sim: Sim
) -> None:
    users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(3)]
    queue = JobQueue(backend, **FAST)  # type: ignore[arg-type]
    broadcasts = DurableBroadcasts(
        store, queue, aiogram_sender({BOT_A: bot}), classify=classify_aiogram
    )
    created = await broadcasts.create(BOT_A, users, {"text": "hi"})
    # As if the process died between storing the broadcast and enqueuing its job.
    async with store.write() as conn:
        await conn.execute(sa.update(broadcasts_table).values(job_id=None))
    assert await broadcasts.recover() == [created.id]
    assert await broadcasts.recover() == []  # it has its job again
    (job_row,) = await queue.list_jobs(kind=DurableBroadcasts.KIND)
    assert job_row.id == created.job_id  # the same job, not a second one
    async with queue.running():
        status = await broadcasts.status(created.id)
        job = await queue.wait(status.job_id or "", 30)
    assert job.state is JobState.SUCCEEDED
    assert (await broadcasts.status(created.id)).delivered == 3


async def test_a_sequence_of_messages_reaches_every_recipient_in_order(
    backend: JobBackend, store: Store, bot: Bot, sim: Sim
) -> None:
    users = [int((await sim.started_user(BOT_A))["id"]) for _ in range(12)]
    queue = JobQueue(backend, **FAST)  # type: ignore[arg-type]
    broadcasts = DurableBroadcasts(
        store, queue, aiogram_sender({BOT_A: bot}), classify=classify_aiogram, flush_every=0.05
    )
    sequence = [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    created = await broadcasts.create(BOT_A, users, sequence)
    async with queue.running():
        job = await queue.wait(created.job_id or "", 60)
    assert job.state is JobState.SUCCEEDED
    assert (await broadcasts.status(created.id)).delivered == 12
    for user in users:
        texts = [m["text"] for m in await sim.messages(user) if m["sender"]["type"] == "bot"]
        assert texts == ["one", "two", "three"]
