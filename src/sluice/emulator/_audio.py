"""Recordings made to order for tests and benchmarks: a tone where you say, silence elsewhere.

The emulated speech-to-text providers turn each stretch of sound into one
segment named after its length (see ``docs/emulator.md``), so a test that
makes a file with :func:`make_tone_audio` knows exactly what transcript to
expect, wherever a chunking step later cuts it.

The samples are written by Python straight into ffmpeg's standard input, so
every edge falls on the exact sample asked for, and ninety minutes of mono
16 kHz audio is encoded in a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from sluice._exceptions import ConfigError
from sluice._ffmpeg import MediaError, ffmpeg_path

__all__ = ["AUDIO_FORMATS", "AudioFormat", "make_tone_audio"]

AudioFormat = Literal["ogg", "mp3", "wav", "m4a", "mp4"]
AUDIO_FORMATS: tuple[AudioFormat, ...] = ("ogg", "mp3", "wav", "m4a", "mp4")

SAMPLE_RATE = 16_000
_TONE_HZ = 500  # a whole number of samples per period: 32
_AMPLITUDE = 0.5
_CHUNK_SAMPLES = SAMPLE_RATE * 8

_PERIOD = struct.pack(
    f"<{SAMPLE_RATE // _TONE_HZ}h",
    *(
        round(_AMPLITUDE * 32767 * math.sin(2 * math.pi * i * _TONE_HZ / SAMPLE_RATE))
        for i in range(SAMPLE_RATE // _TONE_HZ)
    ),
)
_TONE_CHUNK = _PERIOD * (_CHUNK_SAMPLES * 2 // len(_PERIOD))
_SILENT_CHUNK = bytes(_CHUNK_SAMPLES * 2)

# Low bitrates and the fastest encoder settings: these files exist to be decoded.
# Opus in its low-delay (CELT) mode encodes about twice as fast as in its speech
# modes: 90 minutes in about 5 s on one core.
_OPUS = "-c:a libopus -b:a 16k -application lowdelay -compression_level 0 -frame_duration 60"
_AUDIO_CODECS: dict[AudioFormat, list[str]] = {
    "ogg": _OPUS.split(),
    "mp3": ["-c:a", "libmp3lame", "-b:a", "24k"],
    "wav": ["-c:a", "pcm_s16le"],
    "m4a": ["-c:a", "aac", "-b:a", "24k"],
    "mp4": ["-c:a", "aac", "-b:a", "24k"],
}
_MUXERS: dict[AudioFormat, str] = {
    "ogg": "ogg",
    "mp3": "mp3",
    "wav": "wav",
    "m4a": "ipod",
    "mp4": "mp4",
}


def _samples(spans: Sequence[tuple[float, float]], total: float) -> Iterator[bytes]:
    position = 0
    for start, end in [*spans, (total, total)]:
        first, last = round(start * SAMPLE_RATE), round(end * SAMPLE_RATE)
        yield from _repeat(_SILENT_CHUNK, first - position)
        yield from _repeat(_TONE_CHUNK, last - first)
        position = last


def _repeat(chunk: bytes, samples: int) -> Iterator[bytes]:
    remaining = samples * 2
    while remaining > 0:
        piece = chunk[: min(remaining, len(chunk))]
        remaining -= len(piece)
        yield piece


def _check(spans: Sequence[tuple[float, float]], total: float, fmt: str) -> None:
    if fmt not in AUDIO_FORMATS:
        raise ConfigError(
            f"{fmt!r} is not a format make_tone_audio writes: use one of {AUDIO_FORMATS}"
        )
    if not (total > 0 and math.isfinite(total)):
        raise ConfigError(f"total must be a positive number of seconds, got {total}")
    previous = 0.0
    for start, end in spans:
        if not previous <= start < end <= total:
            raise ConfigError(
                f"span ({start}, {end}) must start after the previous one ended ({previous}), "
                f"end after it starts and lie within [0, {total}]"
            )
        previous = end


async def make_tone_audio(
    path: Path | str,
    spans: Sequence[tuple[float, float]],
    total: float,
    fmt: AudioFormat = "ogg",
) -> Path:
    """Write ``total`` seconds of audio to ``path``: a tone during each span, silence elsewhere.

    Parameters:
        path: the file to write (replaced if it exists).
        spans: ``(start, end)`` seconds of tone, in order, not overlapping.
        total: the length of the recording in seconds.
        fmt: ``ogg`` (Opus, as Telegram voice notes), ``mp3``, ``wav``, ``m4a``
            (AAC) or ``mp4`` (AAC with a small black video track, as a video note).

    Returns the path written.
    """
    _check(spans, total, fmt)
    target = Path(path)
    video: list[str] = []
    if fmt == "mp4":
        video = ["-f", "lavfi", "-i", f"color=c=black:s=32x32:r=2:d={total:g}"]
        video_codec = ["-c:v", "mpeg4", "-q:v", "31", "-pix_fmt", "yuv420p"]
    else:
        video_codec = []
    process = await asyncio.create_subprocess_exec(
        ffmpeg_path(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0", *video,
        *_AUDIO_CODECS[fmt], *video_codec, "-shortest", "-f", _MUXERS[fmt], str(target),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stderr is not None
    stderr_task = asyncio.ensure_future(process.stderr.read())
    try:
        # A broken pipe means ffmpeg stopped reading: its stderr says why.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for piece in _samples(spans, total):
                process.stdin.write(piece)
                await process.stdin.drain()
            process.stdin.close()
        await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        stderr_task.cancel()
        raise
    stderr = (await stderr_task).decode("utf-8", "replace").strip()
    if process.returncode != 0:
        raise MediaError(target, stderr or f"ffmpeg exited with status {process.returncode}")
    return target
