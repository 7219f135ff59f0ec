"""The transcription bot scaled out: with SLUICE_REDIS_URL, the process that polls
and an extra ``--jobs-only`` worker share the bot's limits and health in Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.apps.transcribe import TranscribeApp, load_provider_settings, open_app
from sluice.config import load_settings
from sluice.emulator import EmulatorServer, make_tone_audio
from sluice.limits import RedisLimiter
from support import BOT_A, Sim
from transcribe_support import app_env, bot_texts, eventually, running_app, send_voice

SAID = "tone12 tone8"


@pytest.fixture
async def voice(tmp_path: Path) -> Path:
    return await make_tone_audio(tmp_path / "voice.ogg", [(0.5, 1.7), (2.5, 3.3)], total=4.0)


@contextlib.asynccontextmanager
async def jobs_only(env: dict[str, str], namespace: str) -> AsyncIterator[TranscribeApp]:
    settings = load_settings(env, env_file=None)
    providers = load_provider_settings(env, env_file=None)
    async with open_app(settings, providers, namespace=namespace) as app:
        task = asyncio.create_task(app.run(handle_signals=False, poll=False))
        try:
            yield app
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _said(sim: Sim, chat: int, n: int) -> bool:
    texts = await bot_texts(sim, chat)
    # Two processes share the jobs: a later one may find the first one's transcript cached.
    done = texts.count("Done.") + texts.count("Done (from cache).")
    return texts.count(SAID) >= n and done >= n


async def test_the_poller_and_a_jobs_only_worker_share_the_bots_limits_in_redis(
    server: EmulatorServer, sim: Sim, voice: Path, tmp_path: Path, redis_url: str
) -> None:
    namespace = f"t{uuid.uuid4().hex[:10]}"
    env = app_env(server, tmp_path / "data", SLUICE_REDIS_URL=redis_url)
    users = [int((await sim.started_user(BOT_A, language_code="en"))["id"]) for _ in range(3)]
    shared = RedisLimiter.from_url(redis_url, namespace=namespace)
    try:
        async with (
            running_app(env, namespace=namespace) as poller,
            jobs_only(env, namespace) as worker,
        ):
            assert isinstance(poller.gate.limiter, RedisLimiter)
            assert isinstance(worker.gate.limiter, RedisLimiter)
            for user in users:
                await send_voice(sim, user, voice)
            for user in users:
                await eventually(lambda u=user: _said(sim, u, 1), within=60)  # type: ignore[misc]
            await poller.gate.drain()
            await worker.gate.drain()
            local = [
                app.gate.health().get(f"bot:{BOT_A}", {}).get("requests", 0)
                for app in (poller, worker)
            ]
            health = await shared.health(BOT_A)
        # Every send of either process went through the one budget in Redis.
        assert health.requests == sum(local) > 0  # type: ignore[operator]
        assert health.successes == health.requests
        assert health.floods == 0
    finally:
        await shared.drop()
        await shared.aclose()
