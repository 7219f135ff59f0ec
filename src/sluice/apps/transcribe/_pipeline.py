"""From a file on disk to a transcript: the cache, ffmpeg, the providers, the stitch.

:class:`Transcriber` is the part of the bot that knows nothing of Telegram:
it looks the file's SHA-256 up in the cache, converts and cuts it
(:func:`~._audio.prepare_audio`), transcribes the chunks side by side through
the failover chain and stitches them (:func:`~._audio_stitch.transcribe_chunks`),
and stores the result under both keys the bot looks up: the Telegram
``file_unique_id`` (before downloading anything) and the content hash (after,
for the same file sent again as a new upload).

A provider that answers 413 for a chunk cut to its published cap (its real cap
is lower, or it counts differently) gets the whole recording cut again at half
the size, twice at most.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sluice.apps.transcribe._audio import Chunk, prepare_audio
from sluice.apps.transcribe._audio_stitch import transcribe_chunks
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._provider_errors import TooLarge
from sluice.apps.transcribe._providers import PROVIDER_PROGRESS
from sluice.cache import Cache, content_key, file_key

__all__ = ["CACHE_KIND", "Progress", "Transcriber", "Transcription", "sha256_file"]

CACHE_KIND = "transcript"
_SMALLER_TRIES = 2
_HASH_BLOCK = 1024 * 1024

Progress = Callable[[str, float, dict[str, int]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Transcription:
    transcript: Transcript
    from_cache: bool
    chunks: int = 0


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read a block at a time (call it in a thread)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class Transcriber:
    """Transcribes files with ``providers``, remembering results in ``cache``.

    Parameters:
        providers: the failover chain.
        cache: where transcripts are kept (keyed by file_unique_id and SHA-256).
        concurrency: chunks transcribed at once.
        chunk_seconds: the longest chunk (cuts fall in silences before it).
    """

    def __init__(
        self,
        providers: Providers,
        cache: Cache,
        *,
        concurrency: int = 4,
        chunk_seconds: float = 600.0,
    ) -> None:
        self.providers = providers
        self.cache = cache
        self.concurrency = concurrency
        self.chunk_seconds = chunk_seconds

    async def cached(self, file_unique_id: str) -> Transcript | None:
        """The transcript of a Telegram file seen before, without downloading it."""
        found = await self.cache.get(CACHE_KIND, file_key(file_unique_id))
        return Transcript.from_json(found) if found is not None else None

    async def transcribe(
        self,
        path: Path,
        workdir: Path,
        *,
        sha256: str,
        file_unique_id: str | None = None,
        language: str | None = None,
        first: str | None = None,
        progress: Progress | None = None,
    ) -> Transcription:
        """The transcript of ``path`` (whose hash is ``sha256``), from the cache if known.

        Raises :class:`~sluice.MediaError` for media ffmpeg cannot read, and the
        providers' errors (:class:`~._provider_errors.AllProvidersFailed`, ...).
        """
        found = await self.cache.get(CACHE_KIND, content_key(sha256))
        if found is not None:
            transcript = Transcript.from_json(found)
            if file_unique_id:
                await self.cache.put(CACHE_KIND, file_key(file_unique_id), found)
            return Transcription(transcript, from_cache=True)

        max_bytes = self.providers.max_bytes
        for attempt in range(_SMALLER_TRIES + 1):

            async def converting(fraction: float, stage: str) -> None:
                if progress is not None and stage == "converting":
                    await progress("converting", fraction, {})

            chunks = await prepare_audio(
                path, workdir, max_bytes=max_bytes, chunk_seconds=self.chunk_seconds,
                progress=converting,
            )  # fmt: skip

            async def transcribing(fraction: float, text: str) -> None:
                if progress is not None:
                    done, total = text.rsplit(" ", 1)[-1].split("/")
                    await progress(
                        "transcribing", fraction, {"done": int(done), "total": int(total)}
                    )

            one = functools.partial(
                self._chunk,
                {chunk.path: chunk for chunk in chunks},
                max((chunk.end for chunk in chunks), default=0.0),
                language,
                first,
                progress,
            )

            try:
                transcript = await transcribe_chunks(
                    chunks, one, concurrency=self.concurrency, progress=transcribing
                )
            except TooLarge:
                if attempt == _SMALLER_TRIES:
                    raise
                max_bytes //= 2
                continue
            finally:
                for chunk in chunks:
                    chunk.path.unlink(missing_ok=True)
            break
        data = transcript.to_json()
        await self.cache.put(CACHE_KIND, content_key(sha256), data)
        if file_unique_id:
            await self.cache.put(CACHE_KIND, file_key(file_unique_id), data)
        return Transcription(transcript, from_cache=False, chunks=len(chunks))

    async def _chunk(
        self,
        by_path: dict[Path, Chunk],
        recording: float,
        language: str | None,
        first: str | None,
        progress: Progress | None,
        chunk_path: Path,
    ) -> Transcript:
        """One chunk through the failover chain; what a provider tells of its progress
        (the local model: its place in line, seconds done) on the recording's time."""
        chunk = by_path.get(chunk_path)
        if progress is None or chunk is None:
            return await self.providers.transcribe(chunk_path, language=language, first=first)

        async def heard(stage: str, values: dict[str, int]) -> None:
            if stage == "waiting":
                await progress("waiting", 0.0, values)
            elif stage == "transcribing_seconds" and recording > 0:
                done = min(recording, chunk.offset + values["done"])
                seconds = {"seconds": int(done), "of": max(1, round(recording))}
                await progress("transcribing", done / recording, seconds)

        token = PROVIDER_PROGRESS.set(heard)
        try:
            return await self.providers.transcribe(chunk_path, language=language, first=first)
        finally:
            PROVIDER_PROGRESS.reset(token)
