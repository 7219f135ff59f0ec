"""``sluice demo transcribe``: the bot hears real speech with the local model, offline."""

from __future__ import annotations

import io
from pathlib import Path

from aiogram.types import User
from rich.console import Console

from sluice.apps.transcribe._bot import _spoken
from sluice.cli._demo_transcribe import DEMO_SCRIPT, run_demo_transcribe, word_errors


async def test_the_demo_shows_the_real_words_and_how_fast(tmp_path: Path) -> None:
    out = io.StringIO()
    report = await run_demo_transcribe(Console(file=out, width=100), tmp_path)
    assert report.ok
    assert report.wer <= 0.2, report.heard
    assert any(s.startswith("Transcribing") for s in report.statuses), report.statuses
    assert report.statuses[-1] == "Done."
    assert 10.0 < report.audio_s < 12.5
    assert 0 < report.inference_s < report.answer_s
    assert 0 < report.rtf < 1
    printed = out.getvalue()
    assert "heard" in printed
    assert "real-time factor" in printed
    # The model stays for the next run; the jobs and cache do not.
    home = tmp_path / "demo-transcribe"
    assert (home / "models" / "faster-whisper-base" / "model.bin").is_file()
    again = await run_demo_transcribe(Console(file=io.StringIO()), tmp_path)
    assert again.statuses[-1] == "Done."  # transcribed again, not "Done (from cache)."


def test_word_errors_counts_words_not_case_or_punctuation() -> None:
    assert word_errors(DEMO_SCRIPT, DEMO_SCRIPT.upper().replace(".", "")) == 0.0
    assert word_errors("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_errors("a b", "a b c d") == 1.0  # two insertions


def test_the_spoken_language_is_the_choice_else_the_telegram_app_language() -> None:
    def user(code: str | None) -> User:
        return User(id=1, is_bot=False, first_name="Ana", language_code=code)

    assert _spoken("de", user("id")) == "de"  # chosen with /language
    assert _spoken("auto", user("id")) is None  # chosen: detected by the model
    assert _spoken(None, user("id")) == "id"
    assert _spoken(None, user("en-GB")) == "en"
    assert _spoken(None, user("xx")) is None  # not one the bot offers: detected
    assert _spoken(None, user(None)) is None
