"""Files over 20 MB without a local Bot API server: through a Telethon pool.

The cloud Bot API refuses ``getFile`` past 20 MB, so the bot fetches such a
file over MTProto with clients of a :class:`TelethonPool`. No MTProto server
runs here: the clients are fakes that fetch the bytes from the emulator, and
raise Telethon's own ``FloodWaitError`` where Telegram would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from telethon import errors  # type: ignore[import-untyped]

from sluice.emulator import EmulatorServer, make_tone_audio
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, Sim
from transcribe_support import app_env, bot_texts, eventually, running_app

MB = 1024 * 1024


@dataclass
class Me:
    id: int
    bot: bool = True


@dataclass
class FetchedMessage:
    id: int
    media: str  # the file_unique_id, as the fake knows it


class MtprotoClient:
    """What the pool and the downloader use of a TelegramClient, over the emulator."""

    def __init__(self, account: int, http: httpx.AsyncClient, *, floods: int = 0) -> None:
        self.me = Me(account)
        self.http = http
        self.flood_sleep_threshold = 60
        self.floods = floods
        self.downloads: list[int] = []

    async def get_me(self) -> Me:
        return self.me

    async def get_messages(self, chat: int, *, ids: int) -> FetchedMessage | None:
        for message in (await self.http.get(f"/_sim/chats/{chat}/messages")).json():
            if message["message_id"] == ids and message.get("media"):
                return FetchedMessage(ids, message["media"]["file_unique_id"])
        return None

    async def download_media(
        self, message: FetchedMessage, *, file: str, progress_callback: Any
    ) -> str:
        if self.floods:
            self.floods -= 1
            raise errors.FloodWaitError(request=None, capture=120)
        received = 0
        async with self.http.stream("GET", f"/_sim/files/{message.media}") as response:
            total = int(response.headers["content-length"])
            with open(file, "wb") as out:  # noqa: ASYNC230 - a fake, small writes
                async for block in response.aiter_bytes(MB):
                    out.write(block)
                    received += len(block)
                    await progress_callback(received, total)
        self.downloads.append(message.id)
        return file


@pytest.fixture
async def big_audio(tmp_path: Path) -> Path:
    # 14 minutes of 16 kHz mono WAV: about 27 MB, past the cloud Bot API's 20 MB.
    return await make_tone_audio(tmp_path / "long.wav", [(0.5, 1.7), (2.5, 3.3)], 840.0, "wav")


async def test_a_file_over_20_mb_comes_through_mtproto_and_a_flood_wait_moves_it(
    server: EmulatorServer, http: httpx.AsyncClient, sim: Sim, big_audio: Path, tmp_path: Path
) -> None:
    assert (await asyncio.to_thread(big_audio.stat)).st_size > 20 * MB
    flooded = MtprotoClient(BOT_A, http, floods=1)
    other = MtprotoClient(BOT_A + 1, http)
    pool = TelethonPool(Gate(), [flooded, other])
    await pool.start()
    user = int((await sim.started_user(BOT_A))["id"])
    env = app_env(server, tmp_path / "data")
    async with running_app(env, telethon_pool=pool, api_local=False):
        form = {"chat_id": str(user), "from_user_id": str(user), "bot_id": str(BOT_A)}
        with big_audio.open("rb") as body:
            response = await http.post(
                "/_sim/send",
                data={**form, "kind": "audio", "mime_type": "audio/wav"},
                files={"file": ("long.wav", body)},
                timeout=60,
            )
        assert response.status_code == 200, response.text
        await eventually(lambda: _done(sim, user), within=60)
    assert "tone12 tone8" in await bot_texts(sim, user)
    # The first account's flood wait moved the download to the other account's client.
    assert (flooded.downloads, other.downloads) == ([], [response.json()["message_id"]])


async def test_without_mtproto_or_a_local_server_a_big_file_is_refused_clearly(
    server: EmulatorServer, http: httpx.AsyncClient, sim: Sim, big_audio: Path, tmp_path: Path
) -> None:
    user = int((await sim.started_user(BOT_A))["id"])
    async with running_app(app_env(server, tmp_path / "data"), api_local=False):
        form = {"chat_id": str(user), "from_user_id": str(user), "bot_id": str(BOT_A)}
        with big_audio.open("rb") as body:
            await http.post(
                "/_sim/send",
                data={**form, "kind": "audio", "mime_type": "audio/wav"},
                files={"file": ("long.wav", body)},
                timeout=60,
            )
        texts = await eventually(lambda: _starting(sim, user, "This file is"), within=30)
    assert texts == "This file is 26 MB; the largest I can fetch is 20 MB."


async def _done(sim: Sim, user: int) -> bool:
    return "Done." in await bot_texts(sim, user)


async def _starting(sim: Sim, user: int, text: str) -> str | None:
    return next((t for t in await bot_texts(sim, user) if t.startswith(text)), None)
