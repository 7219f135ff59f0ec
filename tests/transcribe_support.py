"""Running the transcription bot against the emulator, for the end-to-end tests."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from sluice.apps.transcribe import TranscribeApp, load_provider_settings, open_app
from sluice.config import load_settings
from sluice.emulator import EmulatorServer
from support import BOT_A, TOKEN_A, Sim

OWNER = 4242


def app_env(server: EmulatorServer, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a user would set, pointing every service at the emulator."""
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN_A,
        "TELEGRAM_API_SERVER": server.url,
        "SLUICE_DATA_DIR": str(data_dir),
        "SLUICE_OWNER_IDS": str(OWNER),
        "GROQ_API_KEY": "gsk_fake_test_key_0000",
        "GROQ_BASE_URL": server.stt_url("groq"),
        "DEEPGRAM_API_KEY": "dg_fake_test_key_0000",
        "DEEPGRAM_BASE_URL": server.stt_url("deepgram"),
        "TRANSCRIPTION_PROVIDERS": "groq,deepgram",
        **extra,
    }


@contextlib.asynccontextmanager
async def running_app(env: dict[str, str], **options: Any) -> AsyncIterator[TranscribeApp]:
    settings = load_settings(env, env_file=None)
    providers = load_provider_settings(env, env_file=None)
    async with open_app(settings, providers, **options) as app:
        # A short long-poll: the emulator stops without waiting out a 10 s getUpdates.
        task = asyncio.create_task(app.run(handle_signals=False, polling_timeout=1))
        try:
            yield app
        finally:
            await app.dispatcher.stop_polling()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    async with asyncio.timeout(within):
        while True:
            # The bot answers through the emulator: there is no event to await here.
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def bot_texts(sim: Sim, chat_id: int) -> list[str]:
    return [
        str(m.get("text") or m.get("caption") or "")
        for m in await sim.messages(chat_id)
        if m["sender"]["type"] == "bot" and not m.get("deleted")
    ]


async def bot_messages(sim: Sim, chat_id: int) -> list[dict[str, Any]]:
    return [m for m in await sim.messages(chat_id) if m["sender"]["type"] == "bot"]


async def send_voice(sim: Sim, user_id: int, audio: Path, kind: str = "voice") -> dict[str, Any]:
    encoded = base64.b64encode(await asyncio.to_thread(audio.read_bytes)).decode()
    mime = {"voice": "audio/ogg", "audio": "audio/mpeg", "video": "video/mp4"}.get(kind)
    file = {"kind": kind, "base64": encoded, "mime_type": mime, "duration": 4}
    message: dict[str, Any] = await sim.post(
        "send", chat_id=user_id, from_user_id=user_id, bot_id=BOT_A, file=file
    )
    return message


async def send_again(sim: Sim, user_id: int, file_unique_id: str) -> dict[str, Any]:
    file = {"file_unique_id": file_unique_id}
    message: dict[str, Any] = await sim.post(
        "send", chat_id=user_id, from_user_id=user_id, bot_id=BOT_A, file=file
    )
    return message


async def stt_stats(sim: Sim) -> dict[str, Any]:
    result: dict[str, Any] = (await sim.http.get("/_sim/stt/stats")).json()
    return result
