"""The local provider with the real model (Whisper base, int8, CPU) on committed speech.

The voice notes were made once with espeak-ng (tests/fixtures/speech/make.sh) and
are committed with their scripts; nothing here reaches a network.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from sluice.apps.transcribe._local import LocalWhisperProvider, _pieces, loaded_models
from sluice.apps.transcribe._providers import PROVIDER_PROGRESS
from sluice.cli._demo_transcribe import DEMO_SCRIPT, asset, word_errors

SPEECH = Path(__file__).parents[2] / "fixtures" / "speech"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whisper")


def provider(data_dir: Path, **options: object) -> LocalWhisperProvider:
    return LocalWhisperProvider(data_dir=data_dir, **options)  # type: ignore[arg-type]


async def test_english_speech_comes_back_as_its_words_with_times(data_dir: Path) -> None:
    local = provider(data_dir)
    transcript = await local.transcribe(asset("demo_en.ogg"), language="en")
    assert word_errors(DEMO_SCRIPT, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en"
    assert (transcript.provider, transcript.model) == ("local", "base")
    assert 10.0 < transcript.duration < 12.5
    assert transcript.segments, "segments feed the SRT and VTT output"
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts)
    assert 0.0 <= starts[0] < 1.5  # word timestamps: the first word, not the window's start
    assert transcript.segments[-1].end <= transcript.duration + 0.5
    story = (SPEECH / "en_story.txt").read_text()
    told = await local.transcribe(SPEECH / "en_story.ogg", language="en")
    assert word_errors(story, told.text) <= 0.2, told.text


async def test_indonesian_speech_is_transcribed_in_the_language_asked(data_dir: Path) -> None:
    transcript = await provider(data_dir).transcribe(SPEECH / "id.ogg", language="id")
    assert transcript.language == "id"
    script = (SPEECH / "id.txt").read_text()
    # Whisper base on a synthetic Indonesian voice: the words, not every word right.
    assert word_errors(script, transcript.text) <= 0.5, transcript.text
    assert "selamat pagi" in transcript.text.lower()


async def test_one_model_per_process_whatever_the_providers(data_dir: Path) -> None:
    first, second = provider(data_dir), provider(data_dir)
    await first.prepare()
    before = loaded_models()
    await second.prepare()
    assert loaded_models() == before
    assert second._model is first._model


async def test_progress_in_seconds_and_a_place_in_line_while_another_runs(
    data_dir: Path,
) -> None:
    local = provider(data_dir, concurrency=1)
    await local.prepare()
    heard: dict[str, list[tuple[str, dict[str, int]]]] = {"a": [], "b": []}

    async def one(name: str, note: Path) -> None:
        async def hook(stage: str, values: dict[str, int]) -> None:
            heard[name].append((stage, values))

        PROVIDER_PROGRESS.set(hook)
        await local.transcribe(note, language="en")

    first = asyncio.create_task(one("a", asset("demo_en.ogg")))
    while True:  # until the first holds the one slot
        if local._slots is not None and local._slots.running:
            break
        await asyncio.sleep(0.01)
    await one("b", SPEECH / "en_story.ogg")
    await first
    assert ("waiting", {"ahead": 1}) in heard["b"]
    assert all(stage != "waiting" for stage, _ in heard["a"])
    seconds = [values for stage, values in heard["a"] if stage == "transcribing_seconds"]
    assert seconds, heard["a"]
    assert [s["done"] for s in seconds] == sorted(s["done"] for s in seconds)
    assert seconds[-1]["total"] in (11, 12)
    assert seconds[-1]["done"] >= 9


async def test_inference_never_blocks_the_event_loop(data_dir: Path) -> None:
    local = provider(data_dir)
    await local.prepare()
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - asked - 0.01)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    await local.transcribe(SPEECH / "en_story.ogg", language="en")
    took = time.perf_counter() - started
    stop.set()
    await prober
    # In the loop, inference would hold it for the whole transcription (seconds);
    # off it, the loop answers within a fraction of that even on a loaded machine.
    assert len(lags) > 10
    assert max(lags) < min(0.5, took / 3), (max(lags), took)


async def test_a_cancelled_transcription_frees_its_slot(data_dir: Path) -> None:
    local = provider(data_dir, concurrency=1)
    await local.prepare()
    running = asyncio.create_task(local.transcribe(SPEECH / "en_story.ogg", language="en"))
    await asyncio.sleep(0.3)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    # The slot is free again: the next one runs, and the cancelled one left no waiter.
    transcript = await asyncio.wait_for(local.transcribe(asset("demo_en.ogg"), language="en"), 60)
    assert transcript.text
    assert local.waiting == 0


def test_long_audio_is_cut_in_the_silences_into_pieces_whisper_can_hold() -> None:
    rate = 16_000
    audio = [0.0] * (300 * rate)  # five minutes
    # Speech in stretches of 50 s with 10 s of silence between.
    spans = [{"start": s * rate, "end": (s + 50) * rate} for s in range(0, 300, 60)]
    pieces = _pieces(audio, lambda _: spans)
    assert pieces[0][0] == 0
    assert pieces[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))  # nothing lost
    assert all(end - start <= 120 * rate for start, end in pieces)
    cuts = [end / rate for _, end in pieces[:-1]]
    assert cuts == [115.0, 175.0, 235.0]  # the middle of the last silence before the limit
    # One stretch of speech longer than a piece: cut at the limit.
    assert _pieces(audio, lambda _: [{"start": 0, "end": len(audio)}])[:2] == [
        (0, 120 * rate),
        (120 * rate, 240 * rate),
    ]
    assert _pieces(audio[: 60 * rate], lambda _: []) == [(0, 60 * rate)]
