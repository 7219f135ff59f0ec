"""A 300 MB video, far past the cloud Bot API's 20 MB getFile cap, through a local
Bot API server (the emulator in ``--local`` mode): read in place, never copied."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sluice._ffmpeg import run_ffmpeg
from sluice.emulator import EmulatorConfig, EmulatorServer, make_tone_audio
from support import BOT_A, Sim
from transcribe_support import app_env, bot_texts, eventually, running_app, stt_stats

MB = 1024 * 1024


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1, local=True)


async def big_video(folder: Path) -> Path:
    """About 300 MB: four seconds of raw 1080p frames, and the tones of a voice note."""
    audio = await make_tone_audio(folder / "tones.wav", [(0.5, 1.7), (2.5, 3.3)], 4.0, "wav")
    video = folder / "big.mkv"
    status, errors = await run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc=size=1920x1080:rate=25:duration=4",
        "-i", str(audio), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
        "-shortest", str(video),
    )  # fmt: skip
    assert status == 0, errors
    return video


async def test_a_300_mb_video_goes_through_the_local_server_path(
    server: EmulatorServer, http: httpx.AsyncClient, sim: Sim, tmp_path: Path
) -> None:
    video = await big_video(tmp_path)
    size = video.stat().st_size
    assert size > 290 * MB
    user = int((await sim.started_user(BOT_A))["id"])
    data = tmp_path / "data"
    async with running_app(app_env(server, data)):
        form = {"chat_id": str(user), "from_user_id": str(user), "bot_id": str(BOT_A)}
        with video.open("rb") as body:
            response = await http.post(
                "/_sim/send",
                data={**form, "kind": "video", "mime_type": "video/x-matroska"},
                files={"file": ("big.mkv", body)},
                timeout=120,
            )
        assert response.status_code == 200, response.text
        assert response.json()["video"]["file_size"] == size
        await eventually(lambda: _done(sim, user), within=120)
    assert "tone12 tone8" in await bot_texts(sim, user)
    # The file was read where the local server keeps it: nothing that size was copied.
    assert not any(p.stat().st_size > MB for p in data.rglob("*") if p.is_file())
    assert (await stt_stats(sim))["groq"]["answered"] == {"200": 1}


async def _done(sim: Sim, user: int) -> bool:
    return "Done." in await bot_texts(sim, user)
