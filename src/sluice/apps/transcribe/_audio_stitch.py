"""Transcribe chunks side by side and put their transcripts back on one timeline.

A provider times each chunk's segments from the start of that chunk, so each
chunk's offset is added to them (the step a common published recipe forgets,
which leaves every timestamp after the first chunk wrong).

Where two chunks overlap (a cut that had to fall inside a sound), both heard
the shared second. The seam is the middle of the overlap: the earlier chunk
keeps the segments whose middle lies before it, the later chunk those whose
middle lies at or after it. A word shorter than the overlap is then kept
exactly once, and whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path

from sluice.apps.transcribe._audio import Chunk, Progress
from sluice.apps.transcribe._model import Segment, Transcript

__all__ = ["stitch", "transcribe_chunks"]


def stitch(
    parts: Sequence[tuple[Chunk, Transcript]], *, duration: float | None = None
) -> Transcript:
    """One transcript of the whole recording from each chunk's transcript.

    Segments move to the recording's timeline and overlaps are dropped (see the
    module docstring). The text joins the kept segments, or each chunk's text
    when a chunk has no timed segments (then the result has no segments either).
    The language is the one spoken longest; ``duration`` defaults to the end of
    the last chunk; provider and model are the first chunk's.
    """
    ordered = sorted(parts, key=lambda part: part[0].offset)
    if not ordered:
        return Transcript(text="", duration=duration or 0.0)
    texts: list[str] = []
    segments: list[Segment] = []
    all_timed = True
    spoken: dict[str, float] = {}
    for index, (chunk, transcript) in enumerate(ordered):
        if transcript.timed:
            later = ordered[index + 1][0] if index + 1 < len(ordered) else None
            kept = _kept(chunk, later, transcript.segments, first=index == 0)
            segments.extend(kept)
            text = " ".join(piece for piece in (s.text.strip() for s in kept) if piece)
        else:
            text = transcript.text.strip()
            all_timed = all_timed and not text
        if text:
            texts.append(text)
        if transcript.language:
            spoken[transcript.language] = spoken.get(transcript.language, 0.0) + chunk.duration
    first = ordered[0][1]
    return Transcript(
        text=" ".join(texts),
        segments=tuple(segments) if all_timed else (),
        language=max(spoken, key=spoken.__getitem__) if spoken else None,
        duration=duration if duration is not None else max(c.end for c, _ in ordered),
        provider=first.provider,
        model=first.model,
        extra={"chunks": len(ordered)},
    )


def _kept(
    chunk: Chunk, later: Chunk | None, segments: Iterable[Segment], *, first: bool
) -> list[Segment]:
    head = chunk.offset + chunk.overlap / 2 if chunk.overlap > 0 and not first else None
    tail = later.offset + later.overlap / 2 if later is not None and later.overlap > 0 else None
    kept: list[Segment] = []
    for segment in segments:
        moved = segment.shifted(chunk.offset)
        middle = (moved.start + moved.end) / 2
        if head is not None and middle < head:
            continue  # the previous chunk heard this one whole
        if tail is not None and middle >= tail:
            continue  # the next chunk hears this one whole
        kept.append(moved)
    return kept


async def transcribe_chunks(
    chunks: Sequence[Chunk],
    transcribe: Callable[[Path], Awaitable[Transcript]],
    *,
    concurrency: int = 4,
    progress: Progress | None = None,
    duration: float | None = None,
) -> Transcript:
    """Transcribe ``chunks`` at most ``concurrency`` at a time and :func:`stitch` the results.

    ``progress`` hears ``(0.0, "transcribing chunk 0/n")`` first, then
    ``(done / n, "transcribing chunk done/n")`` as each chunk finishes. No chunk
    starts once one has failed.
    The first error any chunk raises is raised as it is, once the other chunks are
    cancelled (a 413 can then be answered by cutting smaller chunks).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    total = len(chunks)
    semaphore = asyncio.Semaphore(concurrency)
    done = 0
    failed = False

    async def one(chunk: Chunk) -> Transcript:
        nonlocal done, failed
        async with semaphore:
            if failed:
                # A slot freed by a failure must not start a chunk that is about to be
                # cancelled anyway (and that would spend a request on the provider).
                raise asyncio.CancelledError
            try:
                transcript = await transcribe(chunk.path)
            except BaseException:
                failed = True
                raise
        done += 1
        if progress is not None:
            await progress(done / total, f"transcribing chunk {done}/{total}")
        return transcript

    if progress is not None and total:
        await progress(0.0, f"transcribing chunk 0/{total}")
    tasks = [asyncio.ensure_future(one(chunk)) for chunk in chunks]
    try:
        pending = set(tasks)
        while pending:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            # Of the chunks that failed together, the earliest one's error is raised.
            for task in tasks:
                error = task.exception() if task in finished and not task.cancelled() else None
                if error is not None:
                    raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return stitch(
        [(chunk, task.result()) for chunk, task in zip(chunks, tasks, strict=True)],
        duration=duration,
    )
