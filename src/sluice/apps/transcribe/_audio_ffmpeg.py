"""The ffmpeg steps of preparing audio: read a file's header, convert it, cut a piece out.

Three things about ffmpeg shape this module:

* Cutting Opus in Ogg by stream copy with ``-ss`` before ``-i`` keeps the whole
  Ogg page the seek lands on: the piece starts up to a second early, and
  decoders play that second. A second ``-ss`` after ``-i`` drops those packets,
  so the piece starts at the first packet at or after the cut; the container's
  ``start:`` says by how much that was later than asked, and the piece's real
  offset is corrected by it.
* ``silencedetect`` runs in the same process as the conversion (on the decoded
  16 kHz mono audio that is being encoded), so a long file is decoded once.
* The imageio-ffmpeg binary has no ffprobe, so stream facts come from ffmpeg's
  own ``-i`` listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sluice._ffmpeg import (
    MediaError,
    failure_reason,
    ffmpeg_path,
    run_ffmpeg,
    spans_between_silences,
)

__all__ = [
    "FLAC",
    "MP3",
    "OPUS",
    "Codec",
    "MediaFacts",
    "container_times",
    "convert",
    "copy_piece",
    "encode_piece",
    "encoders",
    "probe_media",
]

_HMS = r"(\d+):(\d\d):(\d\d(?:\.\d+)?)"
_DURATION = re.compile(rf"Duration: (?:{_HMS}|N/A)(?:, start: (-?\d+(?:\.\d+)?))?")
_BITRATE = re.compile(r"bitrate: (\d+) kb/s")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+\S*: Audio: (\w+)(.*)")
_STREAM_RATE = re.compile(r"(\d+) kb/s")
_TIME = re.compile(rf"time={_HMS}")
_SILENCE_DB = -35.0
_SILENCE_SECONDS = 0.3
_KEPT_LINES = 40


@dataclass(frozen=True, slots=True)
class Codec:
    """How converted audio is encoded: the encoder's arguments and the file's suffix and
    muxer. ``copy_cuts`` says whether pieces can be cut by stream copy."""

    name: str
    suffix: str
    muxer: str
    copy_cuts: bool

    def arguments(self, bitrate: str) -> list[str]:
        if self.name == "libopus":
            return ["-c:a", "libopus", "-b:a", bitrate, "-application", "voip"]
        if self.name == "libmp3lame":
            return ["-c:a", "libmp3lame", "-b:a", bitrate]
        return ["-c:a", self.name]


OPUS = Codec("libopus", ".ogg", "ogg", copy_cuts=True)
MP3 = Codec("libmp3lame", ".mp3", "mp3", copy_cuts=False)
FLAC = Codec("flac", ".flac", "flac", copy_cuts=False)


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What ffmpeg's listing says about a file's first audio stream."""

    duration: float | None
    codec: str
    mono: bool
    kbps: float | None


def _seconds(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


async def probe_media(path: Path) -> MediaFacts:
    """The first audio stream of ``path``; :class:`MediaError` if it is corrupt or has none."""
    _, stderr = await run_ffmpeg("-i", str(path))
    if "Input #" not in stderr:
        raise MediaError(path, failure_reason(stderr))
    stream = _AUDIO_STREAM.search(stderr)
    if stream is None:
        raise MediaError(
            path,
            "no audio track",
            message=f"{path.name} has no audio track, so there is nothing to transcribe: "
            "send a recording with sound",
        )
    codec, details = stream.groups()
    duration_match = _DURATION.search(stderr)
    duration = None
    if duration_match is not None and duration_match.group(1) is not None:
        duration = _seconds(*duration_match.groups()[:3])
    rate = _STREAM_RATE.search(details) or _BITRATE.search(stderr)
    return MediaFacts(
        duration=duration,
        codec=codec,
        mono=", mono," in details or ", 1 channels," in details,
        kbps=float(rate.group(1)) if rate else None,
    )


_ENCODERS: dict[str, frozenset[str]] = {}


async def encoders() -> frozenset[str]:
    """The audio encoders this ffmpeg build has (asked once per binary)."""
    binary = ffmpeg_path()
    if binary not in _ENCODERS:
        # The list goes to standard output, which run_ffmpeg discards.
        process = await asyncio.create_subprocess_exec(
            binary, "-hide_banner", "-nostdin", "-encoders",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            stdout, _ = await process.communicate()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        names = (line.split() for line in stdout.decode("utf-8", "replace").splitlines())
        _ENCODERS[binary] = frozenset(
            parts[1] for parts in names if len(parts) > 1 and parts[0].startswith("A")
        )
    return _ENCODERS[binary]


async def convert(
    src: Path,
    dst: Path,
    *,
    codec_arguments: list[str],
    muxer: str,
    duration: float | None,
    on_fraction: Callable[[float], Awaitable[None]] | None = None,
) -> list[tuple[float, float]]:
    """Write the first audio stream of ``src`` to ``dst`` as mono 16 kHz (or copied, when
    ``codec_arguments`` is ``["-c:a", "copy"]``); return its sound spans.

    ``on_fraction`` hears how much of ``duration`` is done, about twice a second.
    """
    detect = f"silencedetect=noise={_SILENCE_DB:g}dB:d={_SILENCE_SECONDS:g}"
    mono = ["-ac", "1", "-ar", "16000"]
    strip = ["-map_metadata", "-1", "-vn", "-sn", "-dn"]
    if codec_arguments[-1] == "copy":
        # One demuxing pass: the stream is copied to dst and decoded only to listen for
        # silence, at its own rate (it is mono already; resampling would cost a sixth more).
        outputs = [
            "-map", "0:a:0", *codec_arguments, *strip, "-f", muxer, "-y", str(dst),
            "-map", "0:a:0", "-af", detect, "-f", "null", "-",
        ]  # fmt: skip
    else:
        outputs = [
            "-map", "0:a:0", *mono, "-af", detect, *codec_arguments, *strip,
            "-f", muxer, "-y", str(dst),
        ]  # fmt: skip
    silence_lines: list[str] = []
    tail: deque[str] = deque(maxlen=_KEPT_LINES)
    last_time = 0.0

    async def hear(line: str) -> None:
        nonlocal last_time
        if "silence_" in line:
            silence_lines.append(line)
            return
        found = _TIME.search(line)
        if found is None:
            tail.append(line)
            return
        last_time = _seconds(*found.groups())
        if on_fraction is not None and duration:
            await on_fraction(min(1.0, last_time / duration))

    returncode = await _run_streaming(["-i", str(src), *outputs], hear)
    if returncode != 0:
        raise MediaError(src, failure_reason("\n".join(tail)))
    if last_time <= 0:
        raise MediaError(
            src,
            "the audio track is empty",
            message=f"{src.name} has an audio track with no sound in it: "
            "send a recording that plays",
        )
    return spans_between_silences("\n".join(silence_lines), last_time)


async def _run_streaming(args: list[str], hear: Callable[[str], Awaitable[None]]) -> int:
    """Run ffmpeg, handing each line of its stderr (progress lines end in ``\\r``) to ``hear``."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg_path(), "-hide_banner", "-nostdin", "-stats", *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        pending = ""
        while block := await process.stderr.read(65536):
            pending += block.decode("utf-8", "replace")
            *lines, pending = re.split(r"[\r\n]", pending)
            for line in lines:
                if line.strip():
                    await hear(line)
        if pending.strip():
            await hear(pending)
        return await process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise


async def copy_piece(src: Path, dst: Path, start: float, length: float | None) -> None:
    """Copy ``length`` seconds (to the end when ``None``) from ``start`` of Ogg ``src``."""
    # A coarse seek to a page a little before the cut, then a packet-exact one after -i.
    lead = min(start, 5.0)
    args: list[str] = []
    if start - lead > 0:
        args += ["-ss", f"{start - lead:.3f}"]
    args += ["-i", str(src)]
    if start > 0:
        # Not at 0: the first packet's timestamp is negative (Opus pre-skip) and would go.
        args += ["-ss", f"{lead:.3f}"]
    if length is not None:
        args += ["-t", f"{length:.3f}"]
    await _write(src, [*args, "-map", "0:a:0", "-c", "copy", "-f", "ogg", "-y", str(dst)])


async def encode_piece(
    src: Path, dst: Path, start: float, length: float | None, *, codec: Codec, bitrate: str
) -> None:
    """Re-encode ``length`` seconds from ``start`` of ``src`` (decoding is sample-exact)."""
    args = ["-ss", f"{start:.3f}"] if start > 0 else []
    args += ["-i", str(src)]
    if length is not None:
        args += ["-t", f"{length:.3f}"]
    await _write(
        src, [*args, "-map", "0:a:0", *codec.arguments(bitrate), "-f", codec.muxer, "-y", str(dst)]
    )


async def _write(src: Path, args: list[str]) -> None:
    returncode, stderr = await run_ffmpeg("-loglevel", "error", *args)
    if returncode != 0:
        raise MediaError(src, failure_reason(stderr))


async def container_times(path: Path) -> tuple[float, float]:
    """``(start, end)`` of ``path``'s timeline as its container states them.

    A piece cut by stream copy starts at its first packet; ``start`` says how far
    that lies after the time asked for, and ``end`` where the audio stops.
    """
    _, stderr = await run_ffmpeg("-i", str(path))
    found = _DURATION.search(stderr)
    if found is None or found.group(1) is None:
        raise MediaError(path, failure_reason(stderr))
    end = _seconds(*found.groups()[:3])
    start = float(found.group(4)) if found.group(4) is not None else 0.0
    return start, end
