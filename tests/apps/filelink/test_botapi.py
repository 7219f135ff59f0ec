"""Serving through the Bot API when there are no MTProto credentials: by ``Range``
from the cloud download (or by skipping when the server ignores ``Range``), and
in place from a local Bot API server's disk."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice.apps.filelink._botapi import BotApiSource
from sluice.apps.filelink._model import StoredFile
from sluice.emulator import EmulatorConfig, EmulatorServer, synthetic_bytes
from sluice.gate import Gate
from sluice.integrations.aiogram import GateMiddleware
from support import BOT_A, TOKEN_A, Sim
from vclock import ManualClock

DATA = os.urandom(3 * 1024 * 1024 + 5)


@pytest.fixture
def emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    return EmulatorConfig(seed=1, local=getattr(request, "param", "cloud") == "local")


BOTH = pytest.mark.parametrize("emulator_config", ["cloud", "local"], indirect=True)


@pytest.fixture
async def bot(server: EmulatorServer, emulator_config: EmulatorConfig) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(server.url, is_local=emulator_config.local)
    session = AiohttpSession(api=api)
    gate = Gate()
    session.middleware(GateMiddleware(gate))
    bot = Bot(TOKEN_A, session=session)
    try:
        yield bot
    finally:
        await session.close()
        await gate.aclose()


def _stored(document: dict[str, Any]) -> StoredFile:
    return StoredFile(
        id=1, unique_id=document["file_unique_id"], file_id=document["file_id"],
        kind="document", name="a.bin", mime="application/octet-stream",
        size=document["file_size"], chat_id=-1001, message_id=1, created_at=0.0,
    )  # fmt: skip


async def _read(source: BotApiSource, file: StoredFile, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in source.stream(file, start, end)])


@BOTH
@pytest.mark.parametrize(
    ("start", "end"), [(0, len(DATA)), (0, 1), (1_000_000, 1_000_100), (len(DATA) - 7, len(DATA))]
)
async def test_a_sent_file_is_served_by_ranges(sim: Sim, bot: Bot, start: int, end: int) -> None:
    user = int((await sim.started_user(BOT_A))["id"])
    sent = await sim.post(
        "send", chat_id=user, from_user_id=user, bot_id=BOT_A,
        file={"kind": "document", "base64": base64.b64encode(DATA).decode(), "file_name": "a.bin"},
    )  # fmt: skip
    source = BotApiSource(bot)
    assert await _read(source, _stored(sent["document"]), start, end) == DATA[start:end]
    assert source.served == end - start
    assert source.streams == 0


async def test_a_server_that_ignores_range_has_the_head_skipped(sim: Sim, bot: Bot) -> None:
    user = int((await sim.started_user(BOT_A))["id"])
    # The emulator's synthetic files ignore Range, as some servers do.
    posted = await sim.synthetic(user, 2_000_000, seed=5, from_user_id=user, bot_id=BOT_A)
    file = _stored(posted["message"]["document"])
    source = BotApiSource(bot)
    got = await _read(source, file, 1_500_000, 1_600_000)
    assert got == synthetic_bytes(5, 1_500_000, 100_000)


@BOTH
async def test_getfile_is_asked_once_an_hour(sim: Sim, bot: Bot, server: EmulatorServer) -> None:
    user = int((await sim.started_user(BOT_A))["id"])
    sent = await sim.post(
        "send", chat_id=user, from_user_id=user, bot_id=BOT_A,
        file={"kind": "document", "base64": base64.b64encode(DATA[:5000]).decode()},
    )  # fmt: skip
    clock = ManualClock()
    source = BotApiSource(bot, clock=clock)
    file = _stored({**sent["document"], "file_size": 5000})

    async def get_files() -> int:
        calls = (await sim.stats())["bots"].get(str(BOT_A), {}).get("calls", {})
        return int(calls.get("getFile", 0))

    before = await get_files()
    for _ in range(3):
        assert await _read(source, file, 0, 5000) == DATA[:5000]
    assert await get_files() == before + 1
    clock.now += 3601
    assert await _read(source, file, 10, 20) == DATA[10:20]
    assert await get_files() == before + 2
