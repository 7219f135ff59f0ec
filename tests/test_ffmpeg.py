"""ffmpeg helpers on audio made to order: durations, sound spans, corrupt files."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from sluice import ConfigError, SluiceError
from sluice._ffmpeg import (
    MediaError,
    analyse_audio,
    ffmpeg_path,
    probe_duration,
    run_ffmpeg,
    sound_spans,
)
from sluice.emulator import make_tone_audio
from sluice.emulator._audio import AUDIO_FORMATS, AudioFormat

SPANS = [(0.4, 1.3), (2.0, 2.25), (3.1, 4.6)]
TOTAL = 5.0


def assert_close(found: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    assert len(found) == len(expected), found
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        # Opus lets a tone ring on for a few milliseconds; the others are exact.
        assert abs(start - want_start) <= 0.03
        assert abs(end - want_end) <= 0.03


def ffmpeg_children() -> list[int]:
    """The ffmpeg processes this test process started and has not reaped."""
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


def test_ffmpeg_is_found() -> None:
    path = Path(ffmpeg_path())
    assert path.is_file()
    assert os.access(path, os.X_OK)


def test_the_system_ffmpeg_comes_first_then_the_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg  # type: ignore[import-untyped]

    def no_binary() -> str:
        raise RuntimeError("no ffmpeg binary for this platform")

    ffmpeg_path.cache_clear()
    try:
        monkeypatch.setattr(shutil, "which", lambda name: f"/opt/bin/{name}")
        assert ffmpeg_path() == "/opt/bin/ffmpeg"
        ffmpeg_path.cache_clear()
        monkeypatch.setattr(shutil, "which", lambda name: None)
        assert ffmpeg_path() == imageio_ffmpeg.get_ffmpeg_exe()
        ffmpeg_path.cache_clear()
        monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_binary)
        with pytest.raises(MediaError, match=r"no ffmpeg to run .* install ffmpeg on PATH"):
            ffmpeg_path()
    finally:
        ffmpeg_path.cache_clear()


@pytest.mark.parametrize("fmt", AUDIO_FORMATS)
async def test_durations_and_spans_of_generated_audio(tmp_path: Path, fmt: AudioFormat) -> None:
    path = await make_tone_audio(tmp_path / f"tones.{fmt}", SPANS, TOTAL, fmt)
    assert await probe_duration(path) == pytest.approx(TOTAL, abs=0.03)
    assert_close(await sound_spans(path), SPANS)
    analysis = await analyse_audio(path)
    assert analysis.duration == pytest.approx(TOTAL, abs=0.01)
    assert analysis.spans == await sound_spans(path)


async def test_silence_and_unbroken_sound(tmp_path: Path) -> None:
    silent = await make_tone_audio(tmp_path / "silent.ogg", [], 2.0)
    assert await sound_spans(silent) == []
    tone = await make_tone_audio(tmp_path / "tone.wav", [(0.0, 2.0)], 2.0, "wav")
    assert await sound_spans(tone) == [(0.0, 2.0)]
    # A pause shorter than min_silence is part of the sound around it.
    gap = await make_tone_audio(tmp_path / "gap.wav", [(0.0, 1.0), (1.2, 2.0)], 2.0, "wav")
    assert await sound_spans(gap) == [(0.0, 2.0)]
    assert_close(await sound_spans(gap, min_silence=0.1), [(0.0, 1.0), (1.2, 2.0)])
    # A quiet enough threshold hears nothing at all.
    assert await sound_spans(tone, noise_db=-1.0) == []


@pytest.mark.parametrize(
    "content",
    [b"", b"not audio at all, only words", b"OggS\x00" + bytes(500), b"RIFF\x00\x00\x00\x00WAVE"],
)
async def test_corrupt_media_is_a_media_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.ogg"
    path.write_bytes(content)
    with pytest.raises(MediaError) as raised:
        await sound_spans(path)
    assert isinstance(raised.value, SluiceError)
    assert str(raised.value).startswith("corrupt or unsupported media: broken.ogg: ")
    assert raised.value.detail
    with pytest.raises(MediaError):
        await probe_duration(path)
    with pytest.raises(MediaError):
        await probe_duration(tmp_path / "missing.ogg")


async def test_a_video_without_sound_is_a_media_error(tmp_path: Path) -> None:
    path = tmp_path / "silent-film.mp4"
    status, stderr = await run_ffmpeg(
        "-loglevel", "error", "-f", "lavfi", "-i", "color=c=black:s=32x32:r=2:d=1",
        "-c:v", "mpeg4", str(path),
    )  # fmt: skip
    assert status == 0, stderr
    with pytest.raises(MediaError):
        await sound_spans(path)


async def test_run_ffmpeg_reports_status_and_stderr(tmp_path: Path) -> None:
    status, stderr = await run_ffmpeg("-i", str(tmp_path / "nothing-here.wav"))
    assert status != 0
    assert "No such file or directory" in stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
async def test_cancelling_kills_and_reaps_ffmpeg() -> None:
    endless = run_ffmpeg("-f", "lavfi", "-i", "anullsrc", "-f", "null", "-")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(endless, 0.5)
    assert ffmpeg_children() == []


async def test_truncated_audio_decodes_what_is_there(tmp_path: Path) -> None:
    whole = await make_tone_audio(tmp_path / "whole.wav", [(0.5, 3.5)], 4.0, "wav")
    cut = tmp_path / "cut.wav"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) - 2 * 16_000 * 2])  # the header and the first 2 s
    analysis = await analyse_audio(cut)
    assert analysis.duration == pytest.approx(2.0, abs=0.01)
    assert_close(analysis.spans, [(0.5, 2.0)])


@pytest.mark.parametrize(
    ("spans", "total", "fmt"),
    [
        ([(1.0, 0.5)], 2.0, "ogg"),
        ([(0.0, 1.0), (0.5, 1.5)], 2.0, "ogg"),
        ([(0.0, 3.0)], 2.0, "ogg"),
        ([(-0.1, 1.0)], 2.0, "ogg"),
        ([], 0.0, "ogg"),
        ([], 1.0, "flac"),
    ],
)
async def test_make_tone_audio_refuses_impossible_requests(
    tmp_path: Path, spans: list[tuple[float, float]], total: float, fmt: AudioFormat
) -> None:
    with pytest.raises(ConfigError, match=r"must|not a format"):
        await make_tone_audio(tmp_path / "x", spans, total, fmt)
