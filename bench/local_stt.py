"""``sluice bench transcribe --provider local``: Whisper on this machine, measured.

Real speech: the committed English espeak-ng voice notes (the demo's, and
``tests/fixtures/speech/en_story.ogg``) joined end to end and cut to exactly
1 and 10 minutes (16 kHz mono Opus, as the bot hands chunks to providers). In
this one process, in order:

* ``load_s``: verifying the bundled model (SHA-256 of 145 MB; joined first if
  the data dir is new) and loading it, int8 on the CPU;
* for each length, ``transcribe_s`` through the provider alone and
  ``rtf`` = transcribe_s / audio_s (target on 2 cores: <= 0.15 for base int8);
* ``peak_rss_mb``: the process's peak resident memory after those runs
  (target <= 600 MB);
* then the whole bot (emulated Telegram, aiogram, the gate, the SQLite queue
  and cache, ffmpeg) on the 1-minute note: ``total_s`` from the user's send to
  the transcript, ``provider_s`` inside the provider, ``beyond_s`` the rest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sluice._ffmpeg import run_ffmpeg
from sluice.apps.transcribe import load_provider_settings, open_app
from sluice.apps.transcribe._local import LocalWhisperProvider
from sluice.cli._demo_transcribe import asset
from sluice.config import load_settings
from sluice.emulator import EmulatorConfig, EmulatorServer, Sim

SPEECH = Path(__file__).parent.parent / "tests" / "fixtures" / "speech"
NOTES = (SPEECH / "en_story.ogg", asset("demo_en.ogg"))  # English, 25 s together
MINUTES = (1, 10)
TOKEN = "1000001:" + "A" * 35  # obviously fake
BOT = 1000001


async def speech(folder: Path, seconds: float) -> Path:
    """The notes end to end, over and over, cut to ``seconds``."""
    listing = folder / "notes.txt"
    one_round = 25.0  # the two notes' length, near enough: enough rounds to fill
    rounds = int(seconds // one_round) + 2
    lines = [f"file '{note}'" for _ in range(rounds) for note in NOTES]
    listing.write_text("\n".join(lines) + "\n")
    out = folder / f"speech_{int(seconds)}.ogg"
    status, errors = await run_ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing), "-t", f"{seconds}",
        "-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k", str(out),
    )  # fmt: skip
    if status != 0:
        raise RuntimeError(f"ffmpeg could not join the notes: {errors}")
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def run_all(report: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data_dir = folder / "data"
        local = LocalWhisperProvider(data_dir=data_dir)
        report("joining, verifying and loading the bundled model")
        await local.prepare()
        results["model"] = local.describe()
        results["load_s"] = round(local.load_seconds or 0.0, 2)
        # Loaded again in a fresh process, the model is only verified: measure that too.
        started = time.perf_counter()
        await asyncio.to_thread(local._source)
        results["verify_s"] = round(time.perf_counter() - started, 2)
        for minutes in MINUTES:
            report(f"{minutes} min of speech: preparing")
            audio = await speech(folder, minutes * 60.0)
            report(f"{minutes} min of speech: transcribing")
            started = time.perf_counter()
            transcript = await local.transcribe(audio, language="en")
            took = time.perf_counter() - started
            results[f"{minutes}_min"] = {
                "audio_s": round(transcript.duration, 1),
                "transcribe_s": round(took, 2),
                "rtf": round(took / transcript.duration, 3),
                "words": len(transcript.text.split()),
            }
        results["peak_rss_mb"] = round(_peak_rss_mb())
        report("1 min through the bot")
        results["bot_1_min"] = await _through_the_bot(folder, data_dir)
    return results


async def _through_the_bot(folder: Path, data_dir: Path) -> dict[str, Any]:
    audio = folder / "speech_60.ogg"
    async with EmulatorServer(EmulatorConfig(seed=1)) as server, Sim.connect(server.url) as sim:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_SERVER": server.url,
            "SLUICE_DATA_DIR": str(data_dir),
        }
        settings = load_settings(env, env_file=None)
        providers = load_provider_settings(env, env_file=None)
        async with open_app(settings, providers) as app:
            busy: list[float] = []
            inner = app.providers.transcribe

            async def timed(path: Path, **options: Any) -> Any:
                started = time.perf_counter()
                try:
                    return await inner(path, **options)
                finally:
                    busy.append(time.perf_counter() - started)

            app.providers.transcribe = timed  # type: ignore[method-assign]
            task = asyncio.create_task(app.run(handle_signals=False, polling_timeout=1))
            try:
                user = await sim.started_user(BOT, first_name="b", language_code="en")
                chat = int(user["id"])
                async with asyncio.timeout(60):
                    while True:  # the answer to /start
                        if await _bot(sim, chat):
                            break
                        await asyncio.sleep(0.01)
                seen = len(await _bot(sim, chat))
                encoded = base64.b64encode(audio.read_bytes()).decode()
                sent = time.perf_counter()
                await sim.send(
                    chat, bot_id=BOT,
                    file={"kind": "voice", "base64": encoded, "mime_type": "audio/ogg",
                          "duration": 60},
                )  # fmt: skip
                async with asyncio.timeout(600):
                    while True:  # the status message, then the transcript
                        if len((await _bot(sim, chat))[seen:]) >= 2:
                            break
                        await asyncio.sleep(0.005)
                total = time.perf_counter() - sent
            finally:
                await app.dispatcher.stop_polling()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    provider = sum(busy)
    return {
        "total_s": round(total, 2),
        "provider_s": round(provider, 2),
        "beyond_s": round(total - provider, 2),
    }


async def _bot(sim: Sim, chat: int) -> list[dict[str, Any]]:
    return [m for m in await sim.messages(chat) if m["sender"]["type"] == "bot"]


def as_markdown(results: dict[str, Any]) -> str:
    lines = [
        f"{results['model']}: loaded in {results['load_s']} s (first start: joined and "
        f"verified), {results['verify_s']} s to verify it again; peak RSS "
        f"{results['peak_rss_mb']} MB",
        "",
        "| speech | audio s | transcribe s | real-time factor | words |",
        "|---|---:|---:|---:|---:|",
    ]
    for minutes in MINUTES:
        r = results[f"{minutes}_min"]
        lines.append(
            f"| {minutes} min | {r['audio_s']} | {r['transcribe_s']} | {r['rtf']} | {r['words']} |"
        )
    bot = results["bot_1_min"]
    lines.append(
        f"\nthrough the bot, 1 min: {bot['total_s']} s to the transcript, "
        f"{bot['provider_s']} s in the provider, {bot['beyond_s']} s beyond it"
    )
    return "\n".join(lines)
