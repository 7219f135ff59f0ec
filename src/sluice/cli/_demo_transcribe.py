"""``sluice demo transcribe``: real speech to text on this machine, offline.

The emulator plays Telegram on loopback; the transcription bot runs as
``sluice run transcribe`` would with no provider key: Whisper ``base`` on this
machine (the ``local-stt`` extra). A simulated user whose Telegram app is in
English sends a spoken voice note that ships with sluice; the demo shows the
bot's status message as it changes, then what the bot heard next to what was
said, the time to answer and the real-time factor (seconds of inference per
second of audio).

The demo keeps its files in ``<data dir>/demo-transcribe`` (``.sluice`` in the
working directory by default): the model is joined and verified there once;
the jobs and the cache are started afresh each run, so the voice note is
transcribed for real every time.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console

from sluice.apps.transcribe import (
    LocalWhisperProvider,
    Transcript,
    load_provider_settings,
    open_app,
)
from sluice.config import load_settings
from sluice.emulator import EmulatorConfig, EmulatorServer, Sim

__all__ = ["DEMO_NOTE", "DEMO_SCRIPT", "TranscribeReport", "run_demo_transcribe", "word_errors"]

BOT = 4301
TOKEN = f"{BOT}:" + "demo-token-not-a-real-secret".ljust(35, "x")  # obviously fake
DEMO_NOTE = "demo_en.ogg"  # in sluice/apps/transcribe/assets, made with espeak-ng
DEMO_SCRIPT = (
    "Hello from sluice. This voice note was spoken by a speech synthesizer and "
    "transcribed on this computer, with no internet connection and no API key."
)
_WAIT = 600.0  # seconds: a slow machine's first run joins and verifies the model too


def asset(name: str) -> Path:
    """A file shipped in ``sluice/apps/transcribe/assets``."""
    return Path(str(resources.files("sluice.apps.transcribe") / "assets" / name))


def _words(text: str) -> list[str]:
    cleaned = "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text)
    return cleaned.split()


def word_errors(reference: str, heard: str) -> float:
    """The word error rate of ``heard`` against ``reference`` (Levenshtein over words,
    case and punctuation ignored)."""
    ref, hyp = _words(reference), _words(heard)
    if not ref:
        return float(bool(hyp))
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / len(ref)


@dataclass
class TranscribeReport:
    """What the demo measured."""

    heard: str = ""
    audio_s: float = 0.0
    answer_s: float = 0.0  # from the user's send to the transcript in the chat
    inference_s: float = 0.0  # the local model's own time
    load_s: float = 0.0
    model: str = ""
    statuses: list[str] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return word_errors(DEMO_SCRIPT, self.heard)

    @property
    def rtf(self) -> float:
        return self.inference_s / self.audio_s if self.audio_s else 0.0

    @property
    def ok(self) -> bool:
        return bool(self.heard) and self.wer <= 0.2


def _fresh(data_dir: Path) -> None:
    """Everything of an earlier run but the model, which is kept (145 MB, verified)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for entry in data_dir.iterdir():
        if entry.name == "models":
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


async def _bot_messages(sim: Sim, chat: int) -> list[dict[str, Any]]:
    return [m for m in await sim.messages(chat) if m["sender"]["type"] == "bot"]


async def run_demo_transcribe(console: Console, data_dir: Path) -> TranscribeReport:
    """Run the demo, printing as it goes; the report."""
    report = TranscribeReport()
    home = data_dir / "demo-transcribe"
    _fresh(home)
    note = asset(DEMO_NOTE)
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "SLUICE_DATA_DIR": str(home),
    }
    async with EmulatorServer(EmulatorConfig(seed=3)) as server, Sim.connect(server.url) as sim:
        env["TELEGRAM_API_SERVER"] = server.url
        settings = load_settings(env, env_file=None)
        providers = load_provider_settings(env, env_file=None)
        with console.status("verifying and loading the local speech model (Whisper base)"):
            async with open_app(settings, providers) as app:
                local = app.providers["local"]
                assert isinstance(local, LocalWhisperProvider)
                report.model = local.describe()
                report.load_s = local.load_seconds or 0.0
                inner = local._request
                busy: list[float] = []

                async def timed(
                    path: Path, size: int, language: str | None, timestamps: bool
                ) -> Transcript:
                    started = time.perf_counter()
                    try:
                        return await inner(path, size, language, timestamps)
                    finally:
                        busy.append(time.perf_counter() - started)

                local._request = timed  # type: ignore[method-assign]
                polling = asyncio.create_task(app.run(handle_signals=False, polling_timeout=1))
                try:
                    await _converse(console, sim, note, report)
                finally:
                    await app.dispatcher.stop_polling()
                    polling.cancel()
                    await asyncio.gather(polling, return_exceptions=True)
                report.inference_s = sum(busy)
    _print(console, report)
    return report


async def _converse(console: Console, sim: Sim, note: Path, report: TranscribeReport) -> None:
    console.print(f"[bold]local model[/]: {report.model}, loaded in {report.load_s:.1f} s")
    user = await sim.started_user(BOT, first_name="Ana", language_code="en")
    chat = int(user["id"])
    async with asyncio.timeout(_WAIT):
        while True:  # the answer to /start
            if await _bot_messages(sim, chat):
                break
            await asyncio.sleep(0.05)
    seen = len(await _bot_messages(sim, chat))
    encoded = base64.b64encode(await asyncio.to_thread(note.read_bytes)).decode()
    report.audio_s = _ogg_seconds(note)
    console.print(f"[bold]Ana[/] sends a voice note ({report.audio_s:.1f} s of speech)")
    started = time.perf_counter()
    file = {"kind": "voice", "base64": encoded, "mime_type": "audio/ogg"}
    await sim.send(chat, file=file | {"duration": round(report.audio_s)}, bot_id=BOT)
    async with asyncio.timeout(_WAIT):
        while True:
            fresh = (await _bot_messages(sim, chat))[seen:]
            if fresh:
                status = str(fresh[0].get("text") or "")
                if not report.statuses or report.statuses[-1] != status:
                    report.statuses.append(status)
                    console.print(f"  [dim]status:[/] {status}")
            if len(fresh) > 1:  # the transcript follows the status message
                report.answer_s = time.perf_counter() - started
                report.heard = str(fresh[1].get("text") or "")
                break
            await asyncio.sleep(0.05)
    # The status says "Done." once the transcript is delivered.
    async with asyncio.timeout(30):
        while True:
            status = str((await _bot_messages(sim, chat))[seen].get("text") or "")
            if status != report.statuses[-1]:
                report.statuses.append(status)
                console.print(f"  [dim]status:[/] {status}")
            if status.startswith("Done"):
                break
            await asyncio.sleep(0.05)


def _ogg_seconds(path: Path) -> float:
    """An Ogg Opus file's length: the last page's granule position, at 48 kHz."""
    data = path.read_bytes()
    last = data.rfind(b"OggS")
    granule = int.from_bytes(data[last + 6 : last + 14], "little")
    pre_skip = int.from_bytes(data[data.find(b"OpusHead") + 10 :][:2], "little")
    return max(0.0, (granule - pre_skip) / 48_000)


def _print(console: Console, report: TranscribeReport) -> None:
    console.print()
    console.print(f"[bold]said [/]: {DEMO_SCRIPT}")
    console.print(f"[bold]heard[/]: {report.heard}")
    console.print(
        f"word error rate {report.wer:.0%}; answered in {report.answer_s:.1f} s; "
        f"inference {report.inference_s:.1f} s for {report.audio_s:.1f} s of audio "
        f"(real-time factor {report.rtf:.2f}); no network, no API key"
    )
