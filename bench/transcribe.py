"""``sluice bench transcribe``: what the transcription bot adds to the provider's time.

The real bot (aiogram, the gate, the SQLite queue and cache, ffmpeg) runs
against an in-process emulator of Telegram and of Groq. A simulated user
sends a voice note of 1, 10 and 90 minutes (a tone of 1.5 s every 7 s, Opus,
as Telegram voice notes are). For each: ``total_s`` from the send to the
transcript's arrival in the chat; ``provider_s`` the time at least one
speech-to-text request was in flight (chunks go side by side, so this is the
union of their intervals, not their sum); ``beyond_s`` = total - provider:
download, hashing, conversion, cutting, stitching, queueing and delivery.
Then another user sends the same file (a forward: same ``file_unique_id``)
and ``cache_hit_ms`` is the time from that send to the transcript's arrival.
Target: ``beyond_s`` <= 15 for 90 minutes; ``cache_hit_ms`` <= 300.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sluice.apps.transcribe import load_provider_settings, open_app
from sluice.config import load_settings
from sluice.emulator import EmulatorConfig, EmulatorServer, make_tone_audio

TOKEN = "1000001:" + "A" * 35  # obviously fake
BOT = 1000001
MINUTES = (1, 10, 90)


def _spans(minutes: int) -> list[tuple[float, float]]:
    total = minutes * 60.0
    return [(start + 1.0, start + 2.5) for start in range(0, int(total) - 3, 7)]


async def _messages(http: httpx.AsyncClient, chat: int) -> list[dict[str, Any]]:
    response = await http.get(f"/_sim/chats/{chat}/messages")
    return [m for m in response.json() if m["sender"]["type"] == "bot"]


def _transcript(message: dict[str, Any]) -> bool:
    # Short transcripts come as messages, long ones (90 minutes) as files.
    media = message.get("media") or {}
    return str(message.get("text") or "").startswith("tone15") or media.get("file_name") == (
        "transcript.txt"
    )


async def _wait_for(
    http: httpx.AsyncClient, chat: int, seen: int, match: Callable[[dict[str, Any]], bool]
) -> float:
    """Poll until a bot message beyond the first ``seen`` matches; when."""
    async with asyncio.timeout(600):
        while True:
            fresh = (await _messages(http, chat))[seen:]
            if any(match(m) for m in fresh):
                return time.perf_counter()
            await asyncio.sleep(0.005)


def _done(message: dict[str, Any]) -> bool:
    return str(message.get("text") or "").startswith("Done")


async def run_all(report: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with (
            EmulatorServer(EmulatorConfig(seed=1)) as server,
            httpx.AsyncClient(base_url=server.url, timeout=120) as http,
        ):
            env = {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_SERVER": server.url,
                "SLUICE_DATA_DIR": str(folder / "data"),
                "GROQ_API_KEY": "gsk_fake_bench_key",
                "GROQ_BASE_URL": server.stt_url("groq"),
                "GROQ_RATE_LIMIT": "10000/min",
            }
            settings = load_settings(env, env_file=None)
            providers = load_provider_settings(env, env_file=None)
            async with open_app(settings, providers) as app:
                busy: list[tuple[float, float]] = []
                inner = app.providers.transcribe

                async def timed(path: Path, **options: Any) -> Any:
                    started = time.perf_counter()
                    try:
                        return await inner(path, **options)
                    finally:
                        busy.append((started, time.perf_counter()))

                app.providers.transcribe = timed  # type: ignore[method-assign]
                task = asyncio.create_task(app.run(handle_signals=False, polling_timeout=1))
                try:
                    user = (await http.post("/_sim/users", json={"first_name": "b"})).json()
                    chat = int(user["id"])
                    await http.post("/_sim/start", json={"bot_id": BOT, "user_id": chat})
                    for minutes in MINUTES:
                        report(f"{minutes} min: making the audio")
                        audio = await make_tone_audio(
                            folder / f"{minutes}.ogg", _spans(minutes), minutes * 60.0
                        )
                        report(f"{minutes} min: transcribing")
                        busy.clear()
                        seen = len(await _messages(http, chat))
                        sent = time.perf_counter()
                        with audio.open("rb") as body:
                            response = await http.post(
                                "/_sim/send",
                                data={"chat_id": str(chat), "from_user_id": str(chat),
                                      "bot_id": str(BOT), "kind": "voice",
                                      "mime_type": "audio/ogg"},
                                files={"file": (audio.name, body)},
                            )  # fmt: skip
                        message = response.json()
                        arrived = await _wait_for(http, chat, seen, _transcript)
                        total = arrived - sent
                        provider = _union(busy)
                        results[f"{minutes}_min"] = {
                            "total_s": round(total, 2),
                            "provider_s": round(provider, 2),
                            "beyond_s": round(total - provider, 2),
                            "requests": len(busy),
                        }
                        await _wait_for(http, chat, seen, _done)
                        if minutes == MINUTES[0]:
                            # Another user forwards the same voice note: their chat's
                            # budget is fresh (the first chat just spent its own on
                            # progress edits, and Telegram allows ~1 message/s per chat).
                            report("cache hit")
                            other = (
                                await http.post("/_sim/users", json={"first_name": "c"})
                            ).json()
                            peer = int(other["id"])
                            await http.post("/_sim/start", json={"bot_id": BOT, "user_id": peer})
                            await _wait_for(http, peer, 0, lambda m: True)  # the /start reply
                            seen = len(await _messages(http, peer))
                            sent = time.perf_counter()
                            unique = message["voice"]["file_unique_id"]
                            await http.post(
                                "/_sim/send",
                                json={"chat_id": peer, "from_user_id": peer, "bot_id": BOT,
                                      "file": {"file_unique_id": unique}},
                            )  # fmt: skip
                            arrived = await _wait_for(http, peer, seen, _transcript)
                            results["cache_hit_ms"] = round((arrived - sent) * 1000, 1)
                finally:
                    await app.dispatcher.stop_polling()
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    return results


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def as_markdown(results: dict[str, Any]) -> str:
    lines = [
        "| audio | total s | provider s | beyond provider s | requests |",
        "|---|---:|---:|---:|---:|",
    ]
    for minutes in MINUTES:
        r = results[f"{minutes}_min"]
        lines.append(
            f"| {minutes} min | {r['total_s']} | {r['provider_s']} | {r['beyond_s']} | "
            f"{r['requests']} |"
        )
    lines.append(f"\ncache hit answered in {results['cache_hit_ms']} ms")
    return "\n".join(lines)
