"""Any recording to upload-sized chunks of 16 kHz mono Opus, cut at silences.

:func:`prepare_audio` converts a voice note, audio file or video to mono 16 kHz
Opus in Ogg (a name every provider accepts), listens for silence while it
converts, and cuts the result into :class:`Chunk` files no longer than
``chunk_seconds`` and no bigger than ``max_bytes`` (the rule for where the cuts
fall is in :mod:`._audio_plan`). Each chunk knows its offset in the recording,
so :func:`~._audio_stitch.stitch` can put the transcripts back on one timeline.

Files stream through disk in ``workdir``; nothing is read into memory whole.
:func:`workspace` gives a directory that is removed however the work ends.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sluice._ffmpeg import MediaError
from sluice.apps.transcribe._audio_ffmpeg import (
    FLAC,
    MP3,
    OPUS,
    Codec,
    MediaFacts,
    container_times,
    convert,
    copy_piece,
    encode_piece,
    encoders,
    probe_media,
)
from sluice.apps.transcribe._audio_plan import Piece, plan_pieces

__all__ = ["Chunk", "Progress", "prepare_audio", "workspace"]

log = logging.getLogger("sluice.apps.transcribe")

Progress = Callable[[float, str], Awaitable[None]]

# Plan chunks to fill this much of max_bytes: Ogg pages and variable bitrate make
# the real size differ from bitrate x duration by a few per cent either way.
_FILL = 0.9
_MIN_CHUNK_SECONDS = 2.0
# An Opus mono source at most this many times the asked bitrate is copied, not
# re-encoded: no generation loss, and no encoding time (most of the work).
_COPY_RATIO = 2.0
_BITRATE = re.compile(r"(\d+(?:\.\d+)?)([kKmM]?)")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One file to transcribe: ``path`` holds ``duration`` seconds of the recording from
    ``offset`` on; its first ``overlap`` seconds repeat the end of the previous chunk (a
    cut that had to fall inside a sound), so stitching can drop what both heard."""

    path: Path
    offset: float
    duration: float
    overlap: float = 0.0

    @property
    def end(self) -> float:
        return self.offset + self.duration


@contextlib.contextmanager
def workspace(base_dir: Path | str | None = None) -> Iterator[Path]:
    """A new temporary directory (inside ``base_dir`` when given), removed on leaving,
    whether the work succeeded, failed or was cancelled."""
    if base_dir is not None:
        Path(base_dir).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="sluice-transcribe-", dir=base_dir))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def prepare_audio(
    src: Path,
    workdir: Path,
    *,
    max_bytes: int,
    chunk_seconds: float = 600.0,
    bitrate: str = "32k",
    progress: Progress | None = None,
) -> list[Chunk]:
    """Convert ``src`` to 16 kHz mono Opus and cut it into chunks for a speech-to-text upload.

    Parameters:
        src: any audio or video file ffmpeg reads (voice notes, mp3, m4a, wav, mp4, mkv, webm).
        workdir: where the files go (a directory of this call's own is made inside it).
        max_bytes: the provider's upload cap; every chunk file is smaller.
        chunk_seconds: the longest a chunk may be; cuts fall in silences before it.
        bitrate: the Opus bitrate (an Opus mono source at most twice this is copied as is).
        progress: awaited with ``(fraction, stage)``; stage ``"converting"`` then
            ``"cutting"``, fraction of that stage from 0 to 1.

    Raises :class:`~sluice.MediaError` when ``src`` is corrupt or has no audio track.
    """
    bits_per_second = _parse_bitrate(bitrate)
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive number of bytes, got {max_bytes}")
    if not chunk_seconds > 0:
        raise ValueError(f"chunk_seconds must be a positive number of seconds, got {chunk_seconds}")
    src = Path(src)
    facts = await probe_media(src)
    codec = await _choose_codec()
    copy = codec is OPUS and _copyable(facts, bits_per_second)
    here = _own_directory(Path(workdir))
    try:
        return await _prepare(
            src, here, facts, codec, copy=copy, max_bytes=max_bytes, chunk_seconds=chunk_seconds,
            bitrate=bitrate, progress=progress,
        )  # fmt: skip
    except BaseException:
        # Leave workdir as it was: a failed or cancelled call keeps no half-made files.
        shutil.rmtree(here, ignore_errors=True)
        raise


async def _prepare(
    src: Path,
    here: Path,
    facts: MediaFacts,
    codec: Codec,
    *,
    copy: bool,
    max_bytes: int,
    chunk_seconds: float,
    bitrate: str,
    progress: Progress | None,
) -> list[Chunk]:
    bits_per_second = _parse_bitrate(bitrate)
    converted = here / f"audio{codec.suffix}"

    async def converting(fraction: float) -> None:
        if progress is not None:
            await progress(fraction, "converting")

    spans = await convert(
        src,
        converted,
        codec_arguments=["-c:a", "copy"] if copy else codec.arguments(bitrate),
        muxer=codec.muxer,
        duration=facts.duration,
        on_fraction=converting,
    )
    await converting(1.0)
    start, end = await container_times(converted)
    duration = end - start
    bytes_per_second = max(bits_per_second / 8, converted.stat().st_size / max(duration, 1e-3))
    seconds = min(chunk_seconds, max_bytes * _FILL / bytes_per_second)
    _check_room(seconds, max_bytes, bytes_per_second)
    pieces = plan_pieces(spans, duration, chunk_seconds=seconds)
    if len(pieces) == 1 and converted.stat().st_size <= max_bytes:
        chunks = [Chunk(converted.rename(here / f"chunk-000{codec.suffix}"), 0.0, duration)]
        if progress is not None:
            await progress(1.0, "cutting")
    else:
        cutter = _Cutter(converted, here, codec, bitrate)
        chunks = []
        for number, piece in enumerate(pieces, 1):
            chunks.extend(await cutter.cut(piece, spans, duration, max_bytes))
            if progress is not None:
                await progress(number / len(pieces), "cutting")
        converted.unlink()
    return _with_overlaps(chunks)


class _Cutter:
    """Cuts pieces out of the converted file, splitting again any that came out too big."""

    def __init__(self, converted: Path, directory: Path, codec: Codec, bitrate: str) -> None:
        self.converted = converted
        self.directory = directory
        self.codec = codec
        self.bitrate = bitrate
        self.count = 0

    async def cut(
        self, piece: Piece, spans: list[tuple[float, float]], duration: float, max_bytes: int
    ) -> list[Chunk]:
        chunk = await self._cut_one(piece, last=piece.end >= duration)
        size = chunk.path.stat().st_size
        if size <= max_bytes:
            return [chunk]
        # Variable bitrate: this stretch is denser than the average. Split it in
        # proportion, at silences again, and check each part.
        seconds = piece.length * max_bytes / size * _FILL
        _check_room(seconds, max_bytes, size / max(piece.length, 1e-3))
        chunk.path.unlink()
        log.debug("chunk at %.1f s: %d bytes, over %d; cut smaller", piece.start, size, max_bytes)
        parts = plan_pieces(
            spans, duration, chunk_seconds=seconds, start=piece.start, end=piece.end
        )
        parts[0] = Piece(parts[0].start, parts[0].end, piece.overlap)
        found: list[Chunk] = []
        for part in parts:
            found.extend(await self.cut(part, spans, duration, max_bytes))
        return found

    async def _cut_one(self, piece: Piece, *, last: bool) -> Chunk:
        path = self.directory / f"chunk-{self.count:03d}{self.codec.suffix}"
        self.count += 1
        length = None if last else piece.length
        if self.codec.copy_cuts:
            await copy_piece(self.converted, path, piece.start, length)
            # The piece starts at its first whole packet, a little after the cut
            # asked for: the container says how much, and that is the true offset.
            start, end = await container_times(path)
            return Chunk(path, round(piece.start + start, 3), round(end - start, 3), piece.overlap)
        await encode_piece(
            self.converted, path, piece.start, length, codec=self.codec, bitrate=self.bitrate
        )
        _, end = await container_times(path)
        return Chunk(path, piece.start, round(end, 3), piece.overlap)


def _own_directory(workdir: Path) -> Path:
    # Each call gets its own directory, so a second call (cutting smaller after a 413)
    # never overwrites the chunks of the first.
    workdir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="audio-", dir=workdir))


def _with_overlaps(chunks: list[Chunk]) -> list[Chunk]:
    """Record each overlap as the chunks really share it (cuts land on packet edges)."""
    fixed: list[Chunk] = []
    for chunk in chunks:
        overlap = 0.0
        if fixed and chunk.overlap > 0:
            overlap = round(max(0.0, fixed[-1].end - chunk.offset), 3)
        fixed.append(Chunk(chunk.path, chunk.offset, chunk.duration, overlap))
    return fixed


async def _choose_codec() -> Codec:
    available = await encoders()
    for codec in (OPUS, MP3, FLAC):
        if codec.name in available:
            if codec is not OPUS:
                log.warning(
                    "this ffmpeg has no libopus encoder: audio is sent as %s instead "
                    "(install an ffmpeg built with libopus for smaller uploads)",
                    codec.suffix.lstrip("."),
                )
            return codec
    raise MediaError(
        "ffmpeg",
        "no audio encoder",
        message="this ffmpeg can encode neither Opus, MP3 nor FLAC: install a full ffmpeg build",
    )


def _copyable(facts: MediaFacts, bits_per_second: float) -> bool:
    return (
        facts.codec == "opus"
        and facts.mono
        and facts.kbps is not None
        and facts.kbps * 1000 <= bits_per_second * _COPY_RATIO
    )


def _parse_bitrate(bitrate: str) -> float:
    found = _BITRATE.fullmatch(bitrate.strip())
    if found is None or float(found.group(1)) <= 0:
        raise ValueError(f"bitrate must look like '32k' or '32000', got {bitrate!r}")
    scale = {"": 1, "k": 1000, "m": 1_000_000}[found.group(2).lower()]
    return float(found.group(1)) * scale


def _check_room(seconds: float, max_bytes: int, bytes_per_second: float) -> None:
    if seconds < _MIN_CHUNK_SECONDS:
        needed = int(_MIN_CHUNK_SECONDS * bytes_per_second / _FILL) + 1
        raise ValueError(
            f"max_bytes={max_bytes} holds less than {_MIN_CHUNK_SECONDS:g} s of this audio "
            f"({bytes_per_second:.0f} bytes/s): allow at least {needed} bytes"
        )
