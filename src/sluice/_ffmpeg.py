"""Running ffmpeg: how long a recording is, and where in it there is sound.

The system ``ffmpeg`` on PATH is used when there is one; otherwise the binary
that the ``imageio-ffmpeg`` wheel ships, so the ``ffmpeg`` extra is enough on a
machine without ffmpeg. That wheel carries no ffprobe, so durations are read
from ffmpeg's own output rather than from ``ffprobe -show_format``.

ffmpeg always runs as an asyncio subprocess with an argument list (never a
shell), so a file name cannot inject a command and decoding never blocks the
event loop. A file ffmpeg cannot decode raises :class:`MediaError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from sluice._exceptions import MediaError

__all__ = [
    "AudioAnalysis",
    "MediaError",
    "analyse_audio",
    "failure_reason",
    "ffmpeg_path",
    "probe_duration",
    "run_ffmpeg",
    "sound_spans",
    "spans_between_silences",
]

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_TIME = re.compile(r"time=(\d+):(\d\d):(\d\d(?:\.\d+)?)")
_SILENCE = re.compile(r"silence_(start|end): (-?\d+(?:\.\d+)?(?:e-?\d+)?)")
# ffmpeg's last lines say why it failed; banner and stream listings do not.
_NOISE = ("Input #", "Output #", "Stream #", "Duration:", "Metadata:", "encoder", "size=", "  ")


@dataclass(frozen=True, slots=True)
class AudioAnalysis:
    """What one decoding pass found: the decoded duration and the spans with sound."""

    duration: float
    spans: list[tuple[float, float]]


@functools.cache
def ffmpeg_path() -> str:
    """The ffmpeg executable: the one on PATH, else the one imageio-ffmpeg ships."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped]  # the wheel ships no types

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise MediaError(
            "ffmpeg",
            str(exc),
            message=f"no ffmpeg to run ({exc}): install ffmpeg on PATH, or "
            "pip install 'sluice-telegram[ffmpeg]'",
        ) from None


async def run_ffmpeg(*args: str) -> tuple[int, str]:
    """Run ffmpeg with ``args``; return its exit status and what it wrote to stderr.

    Standard input is closed, so ffmpeg never waits for a key. If the caller is
    cancelled, ffmpeg is killed and reaped rather than left running.
    """
    process = await asyncio.create_subprocess_exec(
        ffmpeg_path(),
        "-hide_banner",
        "-nostdin",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    return process.returncode or 0, stderr.decode("utf-8", "replace")


def _seconds(match: re.Match[str]) -> float:
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def failure_reason(stderr: str) -> str:
    """Why ffmpeg failed, from its last meaningful line of stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith(_NOISE)]
    return meaningful[-1] if meaningful else "ffmpeg decoded no audio"


async def probe_duration(path: Path | str) -> float:
    """The duration of ``path`` in seconds, as ffmpeg reads it from the container.

    When the container does not say (a raw stream, a file cut short), the audio
    is decoded to measure it.
    """
    _, stderr = await run_ffmpeg("-i", str(path))
    # Without an output file ffmpeg always exits non-zero; the header is what counts.
    match = _DURATION.search(stderr)
    if match is not None:
        return _seconds(match)
    if "Input #" not in stderr:
        raise MediaError(path, failure_reason(stderr))
    return (await _decode(path, [])).duration


async def sound_spans(
    path: Path | str, noise_db: float = -35.0, min_silence: float = 0.3
) -> list[tuple[float, float]]:
    """The ``(start, end)`` seconds of ``path`` that hold sound, in order.

    Silence is audio quieter than ``noise_db`` dBFS for at least ``min_silence``
    seconds (ffmpeg's ``silencedetect``); the spans are what lies between, within
    ``[0, duration]``. A silent file has none.
    """
    return (await analyse_audio(path, noise_db, min_silence)).spans


async def analyse_audio(
    path: Path | str, noise_db: float = -35.0, min_silence: float = 0.3
) -> AudioAnalysis:
    """Decode ``path`` once: its decoded duration and its sound spans (see :func:`sound_spans`)."""
    detect = f"silencedetect=noise={noise_db:g}dB:d={min_silence:g}"
    return await _decode(path, ["-af", detect])


async def _decode(path: Path | str, filters: list[str]) -> AudioAnalysis:
    # Mono 16 kHz, as speech models hear it; -vn skips decoding any video track.
    returncode, stderr = await run_ffmpeg(
        "-nostats", "-i", str(path), "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000",
        *filters, "-f", "null", "-",
    )  # fmt: skip
    times = list(_TIME.finditer(stderr))
    if returncode != 0 or not times:
        raise MediaError(path, failure_reason(stderr))
    duration = _seconds(times[-1])
    return AudioAnalysis(duration, spans_between_silences(stderr, duration))


def spans_between_silences(stderr: str, duration: float) -> list[tuple[float, float]]:
    """The spans with sound, from the ``silencedetect`` lines of ffmpeg's stderr."""
    silences: list[tuple[float, float]] = []
    start: float | None = None
    for kind, value in _SILENCE.findall(stderr):
        if kind == "start":
            start = max(0.0, float(value))
        elif start is not None:
            silences.append((start, min(float(value), duration)))
            start = None
    if start is not None:  # older ffmpeg leaves a trailing silence open
        silences.append((start, duration))
    spans: list[tuple[float, float]] = []
    position = 0.0
    for silence_start, silence_end in silences:
        if silence_start > position:
            spans.append((position, silence_start))
        position = max(position, silence_end)
    if position < duration:
        spans.append((position, duration))
    # ffmpeg's timestamps are exact to the sample; microseconds are plenty.
    return [(round(a, 6), round(b, 6)) for a, b in spans if b - a > 1e-3]
