"""The watch page in a real browser: headless Chromium plays, seeks (by Range) and
shows no console error. Needs Debian's ``chromium`` and Playwright (no browser
download); without them the test skips, except under CI, where it fails."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from http_support import serving
from sluice._exceptions import MediaError
from sluice._ffmpeg import ffmpeg_path
from sluice.apps.filelink._http import create_http_app
from sluice.apps.filelink._model import LinkRefused, StoredFile
from support import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DURATION = 20


def missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is missing")
    pytest.skip(f"{what} is missing: the watch page is not tried in a browser")


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 20 s H.264 MP4 (moov first), noisy enough (~20 MB) that seeking needs a Range."""
    try:
        ffmpeg = ffmpeg_path()
    except MediaError:
        missing("ffmpeg (system, or pip install 'sluice-telegram[ffmpeg]')")
    path = tmp_path_factory.mktemp("watch") / "clip.mp4"
    # fmt: off
    subprocess.run(
        [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=duration={DURATION}:size=320x240:rate=25",
            "-vf", "noise=alls=40:allf=t",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-g", "25",
            "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(path),
        ],
        check=True,
        capture_output=True,
    )
    # fmt: on
    return Path(path).read_bytes()


class RecordingSource:
    """Serves one file's bytes and records every ``(start, end)`` asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls: list[tuple[int, int]] = []

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        self.calls.append((start, end))
        for offset in range(start, end, 65536):
            yield self.data[offset : min(end, offset + 65536)]


class Links:
    def __init__(self, file: StoredFile) -> None:
        self.file = file

    async def resolve(self, token: str) -> StoredFile:
        if token != "tok":
            raise LinkRefused(404, "This link does not exist.")
        return self.file


@pytest.fixture
def chromium() -> str:
    """The system's Chromium, with Playwright to drive it (checked before any video is made)."""
    if importlib.util.find_spec("playwright") is None:
        missing("Playwright (pip install playwright)")
    if CHROMIUM is None:
        missing("a chromium binary on PATH (apt install chromium)")
    assert CHROMIUM is not None
    return CHROMIUM


async def test_chromium_plays_and_seeks_the_watch_page(chromium: str, video: bytes) -> None:
    from playwright.async_api import ConsoleMessage, async_playwright

    file = StoredFile(
        id=1,
        unique_id="AgADclip",
        file_id="BAACAgIAAxk",
        kind="video",
        name="clip.mp4",
        mime="video/mp4",
        size=len(video),
        chat_id=-100123,
        message_id=7,
        created_at=1_700_000_000.0,
    )
    source = RecordingSource(video)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    async with serving(create_http_app(Links(file), source)) as port, async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = await browser.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(str(error)))
            response = await page.goto(f"http://127.0.0.1:{port}/watch/tok/clip.mp4")
            assert response is not None
            assert response.status == 200

            await page.wait_for_function(
                "document.querySelector('video').readyState >= 1", timeout=30_000
            )
            duration = await page.evaluate("document.querySelector('video').duration")
            assert abs(duration - DURATION) < 0.5

            seeked = page.evaluate(
                """() => new Promise(resolve => {
                    const video = document.querySelector('video');
                    const done = () => resolve(video.currentTime);
                    video.addEventListener('seeked', done, {once: true});
                    video.currentTime = 15;
                })"""
            )
            assert await asyncio.wait_for(seeked, timeout=30) >= 14.9
            await page.wait_for_function(
                "document.querySelector('video').readyState >= 2", timeout=30_000
            )
            assert await page.evaluate("document.querySelector('video').currentTime") >= 14.9
            # The seek was fetched by a Range from past the middle (15 s of 20 s at a
            # near-constant rate), not by reading the file from the start.
            assert source.calls[0][0] == 0
            assert any(start >= len(video) // 2 for start, _ in source.calls), source.calls

            href = await page.get_attribute("#download", "href")
            assert href is not None
            assert href.endswith("/clip.mp4")
            assert await page.get_attribute("#download", "download") is not None
            # The nonce'd script ran: the player links point at the browser's own URL.
            link = f"http://127.0.0.1:{port}/dl/tok/clip.mp4"
            assert await page.get_attribute("#vlc", "href") == "vlc://" + link
            assert await page.input_value("#link") == link
            assert errors == []
        finally:
            await browser.close()
