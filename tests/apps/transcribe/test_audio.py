"""Preparing recordings for speech-to-text: conversion, cuts at silences, stitching.

Recordings are made to order with tones where a test says (make_tone_audio), and
a fake transcriber turns each chunk's sound back into segments with ffmpeg's
silencedetect, so a test knows where every segment must land on the timeline.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice._ffmpeg import MediaError, analyse_audio, run_ffmpeg, sound_spans
from sluice.apps.transcribe import _audio
from sluice.apps.transcribe._audio import Chunk, prepare_audio, workspace
from sluice.apps.transcribe._audio_ffmpeg import probe_media
from sluice.apps.transcribe._audio_plan import (
    LAST_SLACK,
    MAX_WINDOW,
    Piece,
    plan_pieces,
    silences,
)
from sluice.apps.transcribe._audio_stitch import stitch, transcribe_chunks
from sluice.apps.transcribe._model import Segment, Transcript
from sluice.emulator import make_tone_audio
from sluice.emulator._audio import AudioFormat

Spans = list[tuple[float, float]]

# Opus cuts land on whole packets (20 or 60 ms) and tones ring on for a few ms.
TOLERANCE = 0.05
MB = 1024 * 1024


def assert_spans(
    found: Sequence[tuple[float, float]], expected: Sequence[tuple[float, float]]
) -> None:
    assert len(found) == len(expected), (found, expected)
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        assert abs(start - want_start) <= TOLERANCE, ((start, end), (want_start, want_end))
        assert abs(end - want_end) <= TOLERANCE, ((start, end), (want_start, want_end))


def speech_like(total: float, seed: int) -> Spans:
    """Bursts of 0.3 to 8 s with pauses of 0.8 to 3 s: a recording's worth of 'words'.

    A cut halves a pause, and the fake transcriber hears silence from 0.3 s on.
    """
    rng = random.Random(seed)
    spans: Spans = []
    position = rng.uniform(0.5, 2.0)
    while True:
        end = position + rng.uniform(0.3, 8.0)
        if end > total - 0.5:
            return spans
        spans.append((round(position, 3), round(end, 3)))
        position = end + rng.uniform(0.8, 3.0)


def within(spans: Spans, chunk: Chunk) -> Spans:
    return [
        (max(a, chunk.offset), min(b, chunk.end))
        for a, b in spans
        if b > chunk.offset and a < chunk.end
    ]


async def tone_transcriber(path: Path, *, min_silence: float = 0.3) -> Transcript:
    """What the emulated providers do: one segment per sound, named after its length."""
    analysis = await analyse_audio(path, min_silence=min_silence)
    spans = (
        await sound_spans(path, min_silence=min_silence) if min_silence != 0.3 else analysis.spans
    )
    segments = tuple(Segment(a, b, f"tone{round((b - a) * 10)}") for a, b in spans)
    return Transcript(
        text=" ".join(s.text for s in segments),
        segments=segments,
        language="en",
        duration=analysis.duration,
        provider="fake",
        model="tones",
    )


def entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def ffmpeg_children() -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == os.getpid() and name.startswith("ffmpeg"):
            found.append(int(entry.name))
    return found


TWENTY_FIVE_MINUTES = 25 * 60.0
LONG_SPANS = speech_like(TWENTY_FIVE_MINUTES, seed=25)


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("long") / "lecture.ogg"
    return asyncio.run(make_tone_audio(path, LONG_SPANS, TWENTY_FIVE_MINUTES))


# -- where the cuts fall ------------------------------------------------------------


def test_cuts_fall_in_the_middle_of_the_latest_silence_before_the_chunk_length() -> None:
    spans = [(0.0, 8.0), (8.6, 16.0), (16.5, 19.0), (19.4, 35.0), (35.5, 45.0)]
    # Window [15, 20]: silences 16.0-16.5 and 19.0-19.4; the later one wins.
    # Window [34.2, 39.2]: the silence 35.0-35.5. The rest is the last piece.
    assert plan_pieces(spans, 45.0, chunk_seconds=20.0) == [
        Piece(0.0, 19.2),
        Piece(19.2, 35.25),
        Piece(35.25, 45.0),
    ]


def test_a_sound_longer_than_the_window_is_cut_at_the_chunk_length_with_an_overlap() -> None:
    pieces = plan_pieces([(2.0, 48.0)], 50.0, chunk_seconds=20.0)
    assert pieces == [Piece(0.0, 20.0), Piece(19.0, 39.0, 1.0), Piece(38.0, 50.0, 1.0)]
    # The overlap is at most a quarter of a (very short) chunk.
    assert plan_pieces([(0.0, 10.0)], 10.0, chunk_seconds=2.0)[1] == Piece(1.5, 3.5, 0.5)


def test_a_long_silence_is_cut_inside_the_window_away_from_the_sound() -> None:
    # The silence 10-100 covers the window [15, 20]: the cut is the window's end.
    assert plan_pieces([(0.0, 10.0), (100.0, 110.0)], 110.0, chunk_seconds=20.0)[:2] == [
        Piece(0.0, 20.0),
        Piece(20.0, 40.0),
    ]
    # A silence whose middle lies before the window is cut at the window's start,
    # if that is at least 0.1 s from the sound...
    assert plan_pieces([(0.0, 14.0), (15.3, 40.0)], 40.0, chunk_seconds=20.0)[0] == Piece(0.0, 15.0)
    # ...and not at all if it is not: the sound is cut, with an overlap.
    assert plan_pieces([(0.0, 14.0), (15.08, 40.0)], 40.0, chunk_seconds=20.0)[:2] == [
        Piece(0.0, 20.0),
        Piece(19.0, 39.0, 1.0),
    ]


def test_short_recordings_are_one_piece_and_the_last_piece_leaves_no_sliver() -> None:
    assert plan_pieces([(1.0, 2.0)], 3.0, chunk_seconds=600.0) == [Piece(0.0, 3.0)]
    # 2 % past the chunk length stays one piece rather than a 3-second one.
    assert plan_pieces([], 300.0 * (1 + LAST_SLACK), chunk_seconds=300.0) == [
        Piece(0.0, 300.0 * (1 + LAST_SLACK))
    ]
    with pytest.raises(ValueError, match="chunk_seconds must be a positive"):
        plan_pieces([], 10.0, chunk_seconds=0.0)


@st.composite
def recordings(draw: st.DrawFn) -> tuple[Spans, float, float]:
    chunk = draw(st.floats(min_value=4.0, max_value=300.0))
    pieces = draw(
        st.lists(st.tuples(st.floats(0.0, 3 * chunk), st.floats(0.01, 2 * chunk)), max_size=30)
    )
    spans: Spans = []
    position = 0.0
    for gap, length in pieces:
        start = round(position + gap, 3)
        spans.append((start, round(start + length, 3)))
        position = start + length + 0.01
    total = round(position + draw(st.floats(0.0, 2 * chunk)), 3) + 0.01
    return spans, total, chunk


@settings(max_examples=300, deadline=None)
@given(recordings())
def test_pieces_cover_the_recording_and_cut_at_silences_whenever_one_is_near(
    recording: tuple[Spans, float, float],
) -> None:
    spans, total, chunk = recording
    pieces = plan_pieces(spans, total, chunk_seconds=chunk)
    window = min(chunk / 4, MAX_WINDOW)
    assert pieces[0].start == 0.0
    assert pieces[0].overlap == 0.0
    assert pieces[-1].end == total
    assert pieces[-1].length <= chunk * (1 + LAST_SLACK) + 1e-9
    for before, after in itertools.pairwise(pieces):
        # Cut points are rounded to the millisecond.
        assert chunk * 3 / 4 - 1e-3 <= before.length <= chunk + 1e-3
        cut = before.end
        if after.overlap == 0:
            assert after.start == cut
            # In a silence, not in a sound.
            assert not any(a < cut < b for a, b in spans)
        else:
            assert after.start == pytest.approx(cut - after.overlap)
            # Forced only when no silence has its middle in the window.
            middles = [(a + b) / 2 for a, b in silences(spans, total)]
            assert not any(cut - window <= m <= cut for m in middles)


# -- converting ------------------------------------------------------------------


SHORT_SPANS = [(0.4, 1.3), (2.0, 2.25), (3.1, 4.6)]


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "wav", "m4a", "mp4"])
async def test_every_container_becomes_one_chunk_of_mono_opus_with_its_sounds(
    tmp_path: Path, fmt: AudioFormat
) -> None:
    src = await make_tone_audio(tmp_path / f"voice.{fmt}", SHORT_SPANS, 5.0, fmt)
    chunks = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB)
    assert len(chunks) == 1
    (chunk,) = chunks
    assert chunk.path.suffix == ".ogg"
    assert chunk.path.is_relative_to(tmp_path / "work")
    assert (chunk.offset, chunk.overlap) == (0.0, 0.0)
    assert chunk.duration == pytest.approx(5.0, abs=TOLERANCE)
    facts = await probe_media(chunk.path)
    assert (facts.codec, facts.mono) == ("opus", True)
    assert_spans(await sound_spans(chunk.path), SHORT_SPANS)


async def test_voice_notes_named_oga_and_stereo_webm_video_are_converted(tmp_path: Path) -> None:
    wav = await make_tone_audio(tmp_path / "voice.wav", SHORT_SPANS, 5.0, "wav")
    oga = tmp_path / "voice.oga"
    shutil.copy(await make_tone_audio(tmp_path / "voice.ogg", SHORT_SPANS, 5.0), oga)
    webm = tmp_path / "clip.webm"
    status, stderr = await run_ffmpeg(
        "-loglevel", "error", "-i", str(wav), "-f", "lavfi", "-i", "color=c=black:s=32x32:r=2:d=5",
        "-ac", "2", "-c:a", "libopus", "-b:a", "48k", "-c:v", "libvpx", "-shortest", str(webm),
    )  # fmt: skip
    assert status == 0, stderr
    for src in (oga, webm):
        (chunk,) = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB)
        facts = await probe_media(chunk.path)
        assert (chunk.path.suffix, facts.codec, facts.mono) == (".ogg", "opus", True)
        assert_spans(await sound_spans(chunk.path), SHORT_SPANS)


async def test_a_video_without_an_audio_track_is_a_media_error(tmp_path: Path) -> None:
    film = tmp_path / "silent-film.mp4"
    status, stderr = await run_ffmpeg(
        "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:r=2:d=1",
        "-c:v", "mpeg4", str(film),
    )  # fmt: skip
    assert status == 0, stderr
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(MediaError, match=r"silent-film\.mp4 has no audio track.*send a recording"):
        await prepare_audio(film, work, max_bytes=25 * MB)
    assert entries(work) == []


@pytest.mark.parametrize(
    "content", [b"", b"not audio at all", b"OggS\x00" + bytes(500), b"RIFF\x00\x00\x00\x00WAVE"]
)
async def test_corrupt_files_are_media_errors_and_leave_nothing_behind(
    tmp_path: Path, content: bytes
) -> None:
    broken = tmp_path / "broken.ogg"
    broken.write_bytes(content)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(MediaError, match=r"broken\.ogg"):
        await prepare_audio(broken, work, max_bytes=25 * MB)
    with pytest.raises(MediaError, match=r"missing\.ogg"):
        await prepare_audio(tmp_path / "missing.ogg", work, max_bytes=25 * MB)
    assert entries(work) == []


@pytest.mark.parametrize(
    ("available", "suffix"), [({"libmp3lame", "flac", "aac"}, ".mp3"), ({"flac"}, ".flac")]
)
async def test_without_libopus_audio_goes_as_mp3_or_flac_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    available: set[str],
    suffix: str,
) -> None:
    async def no_opus() -> frozenset[str]:
        return frozenset(available)

    monkeypatch.setattr(_audio, "encoders", no_opus)
    # Cut at the silences 6.2-7.2 and 14.0-15.0.
    spans = [(1.0, 3.0), (4.0, 6.2), (7.2, 11.0), (12.0, 14.0), (15.0, 19.0)]
    src = await make_tone_audio(tmp_path / "voice.wav", spans, 20.0, "wav")
    with caplog.at_level(logging.WARNING, logger="sluice.apps.transcribe"):
        chunks = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB, chunk_seconds=8.0)
    assert f"no libopus encoder: audio is sent as {suffix[1:]}" in caplog.text
    assert [c.path.suffix for c in chunks] == [suffix] * len(chunks)
    assert [c.overlap for c in chunks] == [0.0, 0.0, 0.0]
    stitched = await transcribe_chunks(chunks, tone_transcriber)
    assert_spans([(s.start, s.end) for s in stitched.segments], spans)


async def test_bad_arguments_are_refused_before_any_work(tmp_path: Path) -> None:
    src = tmp_path / "x.ogg"
    with pytest.raises(ValueError, match="bitrate must look like"):
        await prepare_audio(src, tmp_path, max_bytes=MB, bitrate="fast")
    with pytest.raises(ValueError, match="max_bytes must be a positive"):
        await prepare_audio(src, tmp_path, max_bytes=0)
    with pytest.raises(ValueError, match="chunk_seconds must be a positive"):
        await prepare_audio(src, tmp_path, max_bytes=MB, chunk_seconds=-1)
    short = await make_tone_audio(tmp_path / "short.ogg", [(0.5, 1.0)], 2.0)
    with pytest.raises(ValueError, match=r"max_bytes=1000 holds less than 2 s .* allow at least"):
        await prepare_audio(short, tmp_path / "work", max_bytes=1000)


# -- cutting long recordings ------------------------------------------------------


async def test_a_long_recording_is_cut_in_silences_into_chunks_under_the_cap(
    tmp_path: Path, long_recording: Path
) -> None:
    stages: list[tuple[float, str]] = []

    async def progress(fraction: float, stage: str) -> None:
        stages.append((fraction, stage))

    chunks = await prepare_audio(
        long_recording, tmp_path, max_bytes=25 * MB, chunk_seconds=300.0, progress=progress
    )
    assert len(chunks) == 5
    assert chunks[0].offset == 0.0
    assert chunks[-1].end == pytest.approx(TWENTY_FIVE_MINUTES, abs=TOLERANCE)
    for before, after in itertools.pairwise(chunks):
        assert after.overlap == 0.0
        assert after.offset == pytest.approx(before.end, abs=0.002)
        assert not any(a - 0.1 < after.offset < b + 0.1 for a, b in LONG_SPANS), after.offset
    assert all(c.duration <= 300.0 + TOLERANCE for c in chunks[:-1])
    assert chunks[-1].duration <= 300.0 * (1 + LAST_SLACK)
    for chunk in chunks:
        assert chunk.path.stat().st_size < 25 * MB
        # Each file really holds the recording from its offset on.
        found = [(a + chunk.offset, b + chunk.offset) for a, b in await sound_spans(chunk.path)]
        assert_spans(found, within(LONG_SPANS, chunk))
    assert stages[0][1] == "converting"
    assert [f for f, s in stages if s == "cutting"] == [0.2, 0.4, 0.6, 0.8, 1.0]
    converting = [f for f, s in stages if s == "converting"]
    assert converting == sorted(converting)
    assert converting[-1] == 1.0
    # Only the chunks are left: the converted whole was removed.
    (own,) = entries(tmp_path)
    assert sorted(p.name for p in entries(own)) == [f"chunk-00{i}.ogg" for i in range(5)]


async def test_the_upload_cap_makes_chunks_shorter_and_each_is_under_it(
    tmp_path: Path, long_recording: Path
) -> None:
    cap = 150_000
    chunks = await prepare_audio(long_recording, tmp_path, max_bytes=cap, chunk_seconds=600.0)
    assert len(chunks) > 10
    for chunk in chunks[1:]:
        assert not any(a - 0.1 < chunk.offset < b + 0.1 for a, b in LONG_SPANS)
    assert all(c.path.stat().st_size <= cap for c in chunks)
    assert chunks[-1].end == pytest.approx(TWENTY_FIVE_MINUTES, abs=TOLERANCE)


async def test_a_chunk_that_comes_out_too_big_is_cut_again(tmp_path: Path) -> None:
    # Ten quiet minutes then ten loud ones, copied as they are (Opus mono at 16 kb/s is
    # within twice the 8k asked). Chunks planned from the average rate are too big in the
    # loud half and are cut again, there shorter.
    half = 600.0
    spans = [(half + t + 0.5, half + t + 4.5) for t in range(0, 595, 5)]
    src = await make_tone_audio(tmp_path / "quiet-then-loud.ogg", spans, 2 * half)
    cap = 120_000
    chunks = await prepare_audio(src, tmp_path / "work", max_bytes=cap, bitrate="8k")
    assert all(c.path.stat().st_size <= cap for c in chunks)
    quiet = [c.duration for c in chunks if c.end <= half]
    loud = [c.duration for c in chunks if c.offset >= half]
    assert quiet
    assert loud
    assert max(loud) < min(quiet)
    for before, after in itertools.pairwise(chunks):
        assert after.offset == pytest.approx(before.end, abs=0.002)
        assert not any(a < after.offset < b for a, b in spans)
    stitched = await transcribe_chunks(chunks, tone_transcriber)
    assert_spans([(s.start, s.end) for s in stitched.segments], spans)


async def test_a_sound_longer_than_the_window_is_cut_with_an_overlap(tmp_path: Path) -> None:
    src = await make_tone_audio(tmp_path / "drone.wav", [(2.0, 42.0)], 50.0, "wav")
    chunks = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB, chunk_seconds=20.0)
    assert [round(c.offset) for c in chunks] == [0, 19, 38]
    assert chunks[0].overlap == 0.0
    for before, after in itertools.pairwise(chunks):
        assert after.overlap == pytest.approx(1.0, abs=TOLERANCE)
        assert before.end - after.offset == pytest.approx(after.overlap, abs=0.002)
        assert before.duration <= 20.0 + TOLERANCE


async def test_words_heard_by_two_overlapping_chunks_are_kept_once_and_whole(
    tmp_path: Path,
) -> None:
    # 0.8 s words 0.2 s apart: one sound to the chunker (its silences last 0.3 s), but
    # words to a transcriber that hears 0.1 s pauses. Cuts at 20 and 39 split a word.
    words = [(2.5 + k, 3.3 + k) for k in range(40)]
    src = await make_tone_audio(tmp_path / "talk.wav", words, 50.0, "wav")
    chunks = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB, chunk_seconds=20.0)
    assert [c.overlap > 0 for c in chunks] == [False, True, True]

    async def word_transcriber(path: Path) -> Transcript:
        return await tone_transcriber(path, min_silence=0.1)

    each = [await word_transcriber(c.path) for c in chunks]
    # Both sides of each cut heard a piece of the split word and of its neighbour...
    heard = sum(len(t.segments) for t in each)
    assert heard > len(words)
    # ...and the stitched transcript has every word once, whole, where it is.
    stitched = stitch(list(zip(chunks, each, strict=True)))
    assert_spans([(s.start, s.end) for s in stitched.segments], words)
    assert stitched.text == " ".join(["tone8"] * 40)


# -- transcribing chunks -----------------------------------------------------------


async def test_timestamps_after_the_first_chunk_are_where_the_sounds_are(
    tmp_path: Path, long_recording: Path
) -> None:
    chunks = await prepare_audio(long_recording, tmp_path, max_bytes=25 * MB, chunk_seconds=300.0)
    reports: list[tuple[float, str]] = []

    async def progress(fraction: float, stage: str) -> None:
        reports.append((fraction, stage))

    stitched = await transcribe_chunks(chunks, tone_transcriber, progress=progress)
    assert_spans([(s.start, s.end) for s in stitched.segments], LONG_SPANS)
    assert stitched.duration == pytest.approx(TWENTY_FIVE_MINUTES, abs=TOLERANCE)
    assert (stitched.language, stitched.provider, stitched.model) == ("en", "fake", "tones")
    assert stitched.text == " ".join(s.text for s in stitched.segments)
    assert reports == [(i / 5, f"transcribing chunk {i}/5") for i in range(6)]


def fake_chunks(count: int) -> list[Chunk]:
    return [Chunk(Path(f"chunk-{i}.ogg"), 10.0 * i, 10.0) for i in range(count)]


def one_segment(path: Path, text: str) -> Transcript:
    return Transcript(text=text, segments=(Segment(1.0, 2.0, text),), language="en")


async def test_results_keep_the_chunks_order_whatever_order_they_finish_in() -> None:
    chunks = fake_chunks(5)
    last_done = asyncio.Event()
    finished: list[str] = []

    async def transcribe(path: Path) -> Transcript:
        if path.name == "chunk-0.ogg":
            await last_done.wait()  # the first chunk is the slowest
        finished.append(path.name)
        if path.name == "chunk-4.ogg":
            last_done.set()
        return one_segment(path, path.stem)

    stitched = await transcribe_chunks(chunks, transcribe, concurrency=5)
    assert finished[-1] == "chunk-0.ogg"
    assert stitched.text == "chunk-0 chunk-1 chunk-2 chunk-3 chunk-4"
    assert [s.start for s in stitched.segments] == [1.0, 11.0, 21.0, 31.0, 41.0]


async def test_no_more_than_concurrency_chunks_are_in_flight() -> None:
    in_flight = 0
    most = 0

    async def transcribe(path: Path) -> Transcript:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        for _ in range(3):  # yield to the others (no time passes) so they can start
            await asyncio.sleep(0)
        in_flight -= 1
        return one_segment(path, path.stem)

    await transcribe_chunks(fake_chunks(12), transcribe, concurrency=3)
    assert most == 3
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        await transcribe_chunks(fake_chunks(1), transcribe, concurrency=0)


class TooLarge(Exception):
    pass


async def test_the_first_error_is_raised_and_the_other_chunks_are_cancelled() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    never = asyncio.Event()

    async def transcribe(path: Path) -> Transcript:
        started.append(path.name)
        if path.name == "chunk-2.ogg":
            raise TooLarge(path.name)
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled.append(path.name)
            raise
        raise AssertionError("unreachable")

    with pytest.raises(TooLarge, match=r"chunk-2\.ogg"):
        await transcribe_chunks(fake_chunks(6), transcribe, concurrency=4)
    # No chunk starts once one has failed, and those under way are cancelled.
    assert started == ["chunk-0.ogg", "chunk-1.ogg", "chunk-2.ogg"]
    assert sorted(cancelled) == ["chunk-0.ogg", "chunk-1.ogg"]


async def test_no_chunks_make_an_empty_transcript() -> None:
    async def transcribe(path: Path) -> Transcript:
        raise AssertionError("no chunk to transcribe")

    assert (await transcribe_chunks([], transcribe)).empty


# -- stitching --------------------------------------------------------------------


def test_stitching_moves_each_chunks_segments_to_the_recordings_timeline() -> None:
    first = Chunk(Path("a.ogg"), 0.0, 600.2)
    second = Chunk(Path("b.ogg"), 600.2, 580.0)
    parts = [
        (second, Transcript("Second part.", (Segment(0.5, 3.0, " Second part."),), "en")),
        (
            first,
            Transcript(
                "Hello there. Bye.",
                (Segment(0.0, 2.0, " Hello there."), Segment(590.0, 599.5, " Bye.")),
                "en",
                provider="groq",
                model="whisper-large-v3",
            ),
        ),
    ]
    stitched = stitch(parts)
    assert stitched.segments == (
        Segment(0.0, 2.0, " Hello there."),
        Segment(590.0, 599.5, " Bye."),
        Segment(600.7, 603.2, " Second part."),
    )
    assert stitched.text == "Hello there. Bye. Second part."
    assert stitched.duration == pytest.approx(1180.2)
    assert (stitched.provider, stitched.model) == ("groq", "whisper-large-v3")
    assert stitch(parts, duration=1181.0).duration == 1181.0


def test_stitching_drops_what_both_sides_of_an_overlap_heard() -> None:
    before = Chunk(Path("a.ogg"), 0.0, 20.0)
    after = Chunk(Path("b.ogg"), 19.0, 20.0, overlap=1.0)  # the seam is at 19.5
    left = Transcript(
        "x",
        (Segment(17.0, 19.4, "whole"), Segment(19.45, 20.0, "cut-short")),
    )
    right = Transcript(
        "y",
        (
            Segment(0.0, 0.4, "tail-of-whole"),
            Segment(0.45, 1.3, "split"),
            Segment(2.0, 3.0, "next"),
        ),
    )
    stitched = stitch([(before, left), (after, right)])
    assert [s.text for s in stitched.segments] == ["whole", "split", "next"]
    assert [s.start for s in stitched.segments] == [17.0, 19.45, 21.0]


def test_untimed_chunks_join_their_texts_and_the_longest_language_wins() -> None:
    chunks = [
        Chunk(Path("a"), 0.0, 100.0),
        Chunk(Path("b"), 100.0, 300.0),
        Chunk(Path("c"), 400.0, 5.0),
    ]
    parts = [
        (chunks[0], Transcript("  Bonjour.  ", language="fr")),
        (chunks[1], Transcript("Hello.", (Segment(0.0, 1.0, "Hello."),), language="en")),
        (chunks[2], Transcript("", language="fr")),
    ]
    stitched = stitch(parts)
    assert stitched.text == "Bonjour. Hello."
    assert stitched.segments == ()  # a chunk without times: no timeline to offer
    assert stitched.language == "en"  # 300 s of English against 105 s of French
    assert stitch([]).empty


# -- the workspace ----------------------------------------------------------------


def test_the_workspace_is_removed_when_the_work_fails(tmp_path: Path) -> None:
    seen: list[Path] = []

    def work_that_fails() -> None:
        with workspace(tmp_path / "base") as work:
            seen.append(work)
            (work / "big.ogg").write_bytes(b"x" * 1000)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        work_that_fails()
    assert not seen[0].exists()
    assert entries(tmp_path / "base") == []
    with workspace() as default:
        assert default.is_dir()
    assert not default.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
async def test_the_workspace_is_removed_and_ffmpeg_stopped_on_cancellation(
    tmp_path: Path, long_recording: Path
) -> None:
    converting = asyncio.Event()
    seen: list[Path] = []

    async def progress(fraction: float, stage: str) -> None:
        converting.set()

    async def job() -> None:
        with workspace(tmp_path) as work:
            seen.append(work)
            await prepare_audio(long_recording, work, max_bytes=25 * MB, progress=progress)

    task = asyncio.create_task(job())
    await converting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not seen[0].exists()
    assert entries(tmp_path) == []
    assert ffmpeg_children() == []


# -- ninety minutes ---------------------------------------------------------------


async def test_a_generated_90_minute_audio_is_chunked_and_stitched_with_true_timestamps(
    tmp_path: Path,
) -> None:
    total = 90 * 60.0
    spans = speech_like(total, seed=90)
    began = time.perf_counter()
    src = await make_tone_audio(tmp_path / "ninety.ogg", spans, total)
    generated = time.perf_counter()
    chunks = await prepare_audio(src, tmp_path / "work", max_bytes=25 * MB)
    prepared = time.perf_counter()
    stitched = await transcribe_chunks(chunks, tone_transcriber)
    done = time.perf_counter()
    # Each cut falls in the last pause before a 600 s mark: ten chunks, not nine.
    assert len(chunks) == 10
    assert all(c.overlap == 0.0 for c in chunks)
    assert all(c.duration <= 600.0 + TOLERANCE for c in chunks[:-1])
    assert_spans([(s.start, s.end) for s in stitched.segments], spans)
    assert stitched.duration == pytest.approx(total, abs=TOLERANCE)
    print(
        f"90 min: generate {generated - began:.1f} s, prepare {prepared - generated:.1f} s, "
        f"transcribe and stitch {done - prepared:.1f} s"
    )
