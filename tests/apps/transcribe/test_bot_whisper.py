"""The bot with the local model (real Whisper base) end to end: the default with no key,
failover from a rate-limited provider to it and back, and a bot that keeps answering
while it transcribes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sluice._ffmpeg import run_ffmpeg
from sluice.apps.transcribe import TranscribeApp
from sluice.cli._demo_transcribe import DEMO_SCRIPT, asset, word_errors
from sluice.emulator import EmulatorServer, make_tone_audio
from support import BOT_A, TOKEN_A, Sim
from transcribe_support import app_env, bot_texts, eventually, running_app, send_voice, stt_stats

SPEECH = Path(__file__).parents[2] / "fixtures" / "speech"


@pytest.fixture
async def user(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A, language_code="en"))["id"])


async def _text_near(sim: Sim, chat: int, script: str) -> str | None:
    for text in await bot_texts(sim, chat):
        if word_errors(script, text) <= 0.2:
            return text
    return None


async def test_with_no_key_the_bot_transcribes_on_this_machine(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN_A,
        "TELEGRAM_API_SERVER": server.url,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
    }
    async with running_app(env) as app:
        assert app.providers.names == ("local",)
        await send_voice(sim, user, asset("demo_en.ogg"))
        heard = await eventually(lambda: _text_near(sim, user, DEMO_SCRIPT), within=120)
        await eventually(lambda: _has(sim, user, "Done."))
    assert heard
    assert (await stt_stats(sim))["groq"]["requests"] == 0


async def test_local_takes_over_while_groq_rate_limits_and_hands_back(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    await sim.post("stt/faults", provider="groq", script=[{"status": 429, "retry_after": 1}])
    env = app_env(server, tmp_path / "data", TRANSCRIPTION_PROVIDERS="groq,local")
    env.pop("DEEPGRAM_API_KEY")
    async with running_app(env) as app:
        assert app.providers.names == ("groq", "local")
        await send_voice(sim, user, asset("demo_en.ogg"))
        assert await eventually(lambda: _text_near(sim, user, DEMO_SCRIPT), within=120)
        await eventually(lambda: _has(sim, user, "Done."))
        # Groq cools down for its retry_after, then is first again.
        await eventually(lambda: _usable(app, "groq"))
        tones = await make_tone_audio(tmp_path / "tones.ogg", [(0.5, 1.7), (2.5, 3.3)], 4.0)
        await send_voice(sim, user, tones)
        await eventually(lambda: _has(sim, user, "tone12 tone8"))
    stats = await stt_stats(sim)
    assert stats["groq"]["answered"] == {"429": 1, "200": 1}
    health = {h.name: h for h in app.providers.health()}
    assert (health["local"].successes, health["groq"].successes) == (1, 1)


async def test_the_bot_answers_status_while_the_model_works(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    # About a minute of speech: several seconds of inference on two cores.
    story = SPEECH / "en_story.ogg"
    long = tmp_path / "long.ogg"
    status, errors = await run_ffmpeg(
        "-i", f"concat:{story}|{story}|{story}|{story}", "-c", "copy", str(long)
    )  # fmt: skip
    assert status == 0, errors
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN_A,
        "TELEGRAM_API_SERVER": server.url,
        "SLUICE_DATA_DIR": str(tmp_path / "data"),
    }
    async with running_app(env):
        await send_voice(sim, user, long)
        await eventually(lambda: _has(sim, user, "Transcribing", prefix=True), within=60)
        await sim.send(user, "/status", bot_id=BOT_A)
        answer = await eventually(lambda: _starting(sim, user, "Your jobs:"), within=10)
        transcribed = await _text_near(sim, user, (SPEECH / "en_story.txt").read_text())
        await eventually(lambda: _has(sim, user, "Done."), within=180)
    assert "running" in answer, answer
    assert transcribed is None  # answered while the transcription was still running


async def _has(sim: Sim, chat: int, text: str, *, prefix: bool = False) -> bool:
    texts = await bot_texts(sim, chat)
    return any(t.startswith(text) if prefix else t == text for t in texts)


async def _starting(sim: Sim, chat: int, text: str) -> str | None:
    return next((t for t in await bot_texts(sim, chat) if t.startswith(text)), None)


async def _usable(app: TranscribeApp, name: str) -> bool:
    health = {h.name: h for h in app.providers.health()}
    await asyncio.sleep(0)
    return health[name].usable_in == 0
