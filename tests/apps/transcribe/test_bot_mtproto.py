"""Files over 20 MB without a local Bot API server: through a Telethon pool.

The cloud Bot API refuses ``getFile`` past 20 MB, so the bot fetches such a
file over MTProto with real Telethon clients of a :class:`TelethonPool`, logged
in as the bot against the emulator's MTProto side, whose download model answers
``FLOOD_WAIT_X`` where Telegram would.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from mtproto_support import API_HASH, API_ID, emulator_dc
from sluice.accounts import MTProtoCredential
from sluice.apps.transcribe._download import MtprotoDownloader
from sluice.emulator import (
    Emulator,
    EmulatorConfig,
    EmulatorServer,
    MtprotoConfig,
    Rate,
    make_tone_audio,
    synthetic_bytes,
)
from sluice.emulator.mtproto._download_model import downloads
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, TOKEN_A, Sim
from transcribe_support import app_env, bot_texts, eventually, running_app

MB = 1024 * 1024
VIDEO_SIZE = 300 * MB
PARTS = VIDEO_SIZE // (512 * 1024)  # upload.getFile requests of 512 KiB
BUDGET = 400  # the bot's upload.getFile requests a second before FLOOD_WAIT_1


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # No latency nor bandwidth cap (a quick test), but a request rate the 300 MB
    # download exceeds.
    mtproto = MtprotoConfig(
        download_latency_ms=0, download_bytes_per_s=0, download_requests=Rate(BUDGET, 1.0)
    )
    return EmulatorConfig(seed=1, mtproto=mtproto)


@pytest.fixture
async def pool(server: EmulatorServer, tmp_path: Path) -> AsyncIterator[TelethonPool]:
    """A pool of one client logged in as the bot, over the emulator's MTProto side."""
    telethon = TelethonPool.from_credentials(
        Gate(),
        [MTProtoCredential(API_ID, API_HASH)],
        data_dir=tmp_path / "mtproto",
        bot_token=TOKEN_A,
        dc=await emulator_dc(server),
    )
    try:
        await telethon.connect()
        yield telethon
    finally:
        await telethon.disconnect()


@pytest.fixture
async def big_audio(tmp_path: Path) -> Path:
    # 14 minutes of 16 kHz mono WAV: about 27 MB, past the cloud Bot API's 20 MB.
    return await make_tone_audio(tmp_path / "long.wav", [(0.5, 1.7), (2.5, 3.3)], 840.0, "wav")


async def big_video(folder: Path) -> Path:
    """A 300 MB mp4: four seconds of tones and a tiny black video track, then a
    top-level ``free`` box of zeros (which players and ffmpeg skip)."""
    video = await make_tone_audio(folder / "big.mp4", [(0.5, 1.7), (2.5, 3.3)], 4.0, "mp4")

    def pad() -> None:
        padding = VIDEO_SIZE - video.stat().st_size
        with video.open("ab") as out:
            out.write(struct.pack(">I4s", 1, b"free") + struct.pack(">Q", padding))
            left = padding - 16
            zeros = bytes(MB)
            while left > 0:
                out.write(zeros[: min(left, MB)])
                left -= MB

    await asyncio.to_thread(pad)
    return video


class FrozenClock:
    """The download model's clock, moved by the test: its request window slides only
    when the test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_300_mb_video_comes_through_the_pool_and_a_flood_wait_is_waited_out(
    server: EmulatorServer,
    http: httpx.AsyncClient,
    sim: Sim,
    pool: TelethonPool,
    tmp_path: Path,
) -> None:
    assert pool.accounts == [BOT_A]
    video = await big_video(tmp_path)
    assert (await asyncio.to_thread(video.stat)).st_size == VIDEO_SIZE
    # The bot's budget (BUDGET requests a second) runs out part way through the file,
    # and the window moves on only when this test moves the model's clock.
    model = downloads(server.emulator)
    clock = model.clock = FrozenClock(model.clock())
    user = int((await sim.started_user(BOT_A))["id"])
    env = app_env(server, tmp_path / "data")
    async with running_app(env, telethon_pool=pool, api_local=False):
        form = {"chat_id": str(user), "from_user_id": str(user), "bot_id": str(BOT_A)}
        with video.open("rb") as body:
            response = await http.post(
                "/_sim/send",
                data={**form, "kind": "video", "mime_type": "video/mp4"},
                files={"file": ("big.mp4", body)},
                timeout=120,
            )
        assert response.status_code == 200, response.text
        assert response.json()["video"]["file_size"] == VIDEO_SIZE
        flooded = await eventually(lambda: _flooded(sim), within=60)
        assert flooded["requests"] == BUDGET  # refused past the budget, part way through
        clock.now += 1.0  # FLOOD_WAIT_1 is over: the gate's retry finds the window open
        await eventually(lambda: _done(sim, user), within=60)
    assert "tone12 tone8" in await bot_texts(sim, user)
    counters = (await sim.downloads())[BOT_A]
    assert counters["flood_waits"] >= 1
    # The attempt after the wait went on from where the first stopped: every byte once.
    assert counters["bytes"] == VIDEO_SIZE
    assert PARTS <= counters["requests"] <= PARTS + 1  # (+ the empty answer past the end)
    health = pool.gate.health()[pool.gate.account(BOT_A).label]
    assert health["r429"] == counters["flood_waits"]
    assert health["successes"] == 1


class TestAnExpiredFileReference:
    @pytest.fixture
    async def server(self, emulator_config: EmulatorConfig) -> AsyncIterator[EmulatorServer]:
        emulator = Emulator(emulator_config, clock=FrozenClock(1000.0))
        async with EmulatorServer(emulator=emulator) as srv:
            yield srv

    async def test_is_refreshed_and_the_download_goes_on(
        self, server: EmulatorServer, sim: Sim, pool: TelethonPool, tmp_path: Path
    ) -> None:
        clock = server.emulator.clock
        assert isinstance(clock, FrozenClock)
        size = 4 * MB + 5
        user = int((await sim.started_user(BOT_A))["id"])
        posted = await sim.synthetic(user, size, seed=7, from_user_id=user, bot_id=BOT_A)
        ttl = server.emulator.config.mtproto.file_reference_ttl
        seen: list[float] = []

        async def progress(fraction: float) -> None:
            if fraction >= 0.5 and not any(f >= 0.5 for f in seen):
                clock.now += ttl + 1  # the reference the download started with expires
            seen.append(fraction)

        downloader = MtprotoDownloader(pool)
        path, digest = await downloader.download(
            user, int(posted["message"]["message_id"]), tmp_path / "media", progress=progress
        )
        expected = synthetic_bytes(7, 0, size)
        assert path == tmp_path / "media"
        assert await asyncio.to_thread(path.read_bytes) == expected
        assert digest == hashlib.sha256(expected).hexdigest()
        assert seen[-1] == 1.0
        counters = (await sim.downloads())[BOT_A]
        assert counters["bytes"] == size  # went on from where it was, no byte twice
        assert pool.gate.health()[pool.gate.account(BOT_A).label]["successes"] == 1


async def _flooded(sim: Sim) -> dict[str, int] | None:
    counters = (await sim.downloads()).get(BOT_A)
    return counters if counters and counters["flood_waits"] else None


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
