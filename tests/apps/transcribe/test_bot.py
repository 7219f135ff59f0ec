"""The transcription bot end to end: a simulated user, the emulator's Telegram and
speech-to-text providers, the real bot with its gate, queue, cache and ffmpeg."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from sluice.emulator import EmulatorServer, make_tone_audio
from sluice.jobs import JobState
from support import BOT_A, Sim
from transcribe_support import (
    OWNER,
    app_env,
    bot_messages,
    bot_texts,
    eventually,
    running_app,
    send_again,
    send_voice,
    stt_stats,
)

SPANS = [(0.5, 1.7), (2.5, 3.3)]
SAID = "tone12 tone8"  # the emulator's words for 1.2 s and 0.8 s of sound


@pytest.fixture
async def voice(tmp_path: Path) -> Path:
    return await make_tone_audio(tmp_path / "voice.ogg", SPANS, total=4.0)


@pytest.fixture
async def user(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A, language_code="en"))["id"])


def leftovers(data_dir: Path) -> list[Path]:
    tmp = data_dir / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


async def test_a_voice_note_is_transcribed_and_nothing_is_left_on_disk(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    async with running_app(app_env(server, data)):
        sent = await send_voice(sim, user, voice)
        texts = await eventually(lambda: _has(sim, user, SAID))
        await eventually(lambda: _has(sim, user, "Done."))
    assert texts.count(SAID) == 1
    messages = await bot_messages(sim, user)
    status = next(m for m in messages if m.get("text") == "Done.")
    assert status["edit_history"], "the status message was edited with progress"
    transcript = next(m for m in messages if m.get("text") == SAID)
    assert transcript["message_id"] > sent["message_id"]
    stats = await stt_stats(sim)
    assert stats["groq"]["answered"] == {"200": 1}
    assert stats["deepgram"]["requests"] == 0
    assert leftovers(data) == []


async def test_when_the_first_provider_answers_429_the_second_serves(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    await sim.post("stt/faults", provider="groq", script=[{"status": 429, "retry_after": 30}])
    async with running_app(app_env(server, tmp_path / "data")):
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
    stats = await stt_stats(sim)
    assert stats["groq"]["answered"] == {"429": 1}
    assert stats["deepgram"]["answered"] == {"200": 1}
    texts = await bot_texts(sim, user)
    assert any(t.lower().replace(".", "") == SAID for t in texts), texts


async def test_a_file_seen_before_is_answered_from_the_cache_without_any_provider_call(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    async with running_app(app_env(server, tmp_path / "data")) as app:
        first = await send_voice(sim, user, voice)
        await eventually(lambda: _count(sim, user, SAID, 1))
        requests = (await stt_stats(sim))["groq"]["requests"]
        # The same file forwarded: same file_unique_id, answered before any download.
        await send_again(sim, user, first["voice"]["file_unique_id"])
        await eventually(lambda: _count(sim, user, SAID, 2))
        # The same bytes uploaded anew: a new file_unique_id, found by its SHA-256.
        await send_voice(sim, user, voice)
        await eventually(lambda: _count(sim, user, SAID, 3))
        assert app.cache.stats.hits >= 2
    assert (await stt_stats(sim))["groq"]["requests"] == requests == 1


async def test_revoke_cancels_a_running_job_within_a_second(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    await sim.post("stt/faults", provider="groq", latency_ms=6_000)
    async with running_app(app_env(server, data)) as app:
        await send_voice(sim, user, voice)
        (job,) = await eventually(lambda: app.queue.list_jobs(state=JobState.RUNNING))
        await eventually(lambda: _has(sim, user, "Transcribing chunk 0/1"))
        await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, text="/revoke")
        await eventually(lambda: _has(sim, user, "Cancelled 1 job(s)."), within=5)
        stopped = await eventually(lambda: _finished(app, job.id), within=1.5)
        await eventually(lambda: _has(sim, user, "Cancelled."), within=5)
    assert stopped.state is JobState.CANCELLED
    assert SAID not in await bot_texts(sim, user)
    assert leftovers(data) == []


async def test_indonesian_users_are_answered_in_indonesian(
    server: EmulatorServer, sim: Sim, voice: Path, tmp_path: Path
) -> None:
    user = int((await sim.started_user(BOT_A, language_code="id"))["id"])
    async with running_app(app_env(server, tmp_path / "data")):
        await eventually(lambda: _has(sim, user, "Halo!", prefix=True))
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Selesai."))


async def test_the_per_user_queue_cap_is_explained(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    await sim.post("stt/faults", provider="groq", latency_ms=6_000)
    async with running_app(app_env(server, tmp_path / "data")) as app:
        for _ in range(5):  # one runs, three wait, the fifth is one too many
            await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "You already have 3 files waiting", prefix=True))
        assert len(await app.queue.list_jobs(user_id=user, state=JobState.QUEUED)) == 3
        assert len(await app.queue.list_jobs(user_id=user, state=JobState.RUNNING)) == 1
        await app.queue.cancel_user(user)


async def test_corrupt_media_gets_a_clear_answer(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.ogg"
    junk.write_bytes(b"OggS" + bytes(range(256)) * 40)
    async with running_app(app_env(server, tmp_path / "data")) as app:
        await send_voice(sim, user, junk)
        await eventually(lambda: _has(sim, user, "I could not read any audio", prefix=True))
        (job,) = await app.queue.list_jobs(user_id=user)
        done = await eventually(lambda: _finished(app, job.id))  # recorded after the answer
        assert done.state is JobState.FAILED
    assert (await stt_stats(sim))["groq"]["requests"] == 0


async def test_a_long_transcript_arrives_as_files_when_asked(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    async with running_app(app_env(server, tmp_path / "data")):
        await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, text="/format")
        (menu,) = await eventually(lambda: _with_keyboard(sim, user))
        await sim.post(
            "callback", chat_id=user, from_user_id=user, message_id=menu["message_id"],
            data="set:format:srt", bot_id=BOT_A,
        )  # fmt: skip
        await eventually(lambda: _has(sim, user, "Format: srt."))
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
    documents = [m for m in await bot_messages(sim, user) if m.get("media")]
    assert [d["media"]["file_name"] for d in documents] == ["transcript.srt"]
    srt = (await sim.http.get(f"/_sim/files/{documents[0]['media']['file_unique_id']}")).text
    cues = re.findall(r"00:00:(\d\d,\d{3}) --> 00:00:(\d\d,\d{3})\n(\w+)", srt)
    assert [word for _, _, word in cues] == ["tone12", "tone8"]
    times = [(_seconds(a), _seconds(b)) for a, b, _ in cues]
    # Where the sounds really are, within ffmpeg's silencedetect resolution.
    for pair, span in zip(times, SPANS, strict=True):
        assert all(abs(got - want) < 0.05 for got, want in zip(pair, span, strict=True)), times


async def test_only_the_owner_sees_botstats(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    owner = int((await sim.post("users", first_name="Owner"))["id"])
    async with running_app(app_env(server, tmp_path / "data", SLUICE_OWNER_IDS=str(owner))):
        await sim.post("start", bot_id=BOT_A, user_id=owner)
        for who in (user, owner):
            await sim.post("send", chat_id=who, from_user_id=who, bot_id=BOT_A, text="/botstats")
        await eventually(lambda: _has(sim, user, "Only the bot's owner can use this."))
        stats = await eventually(lambda: _starting(sim, owner, "Users: "))
    assert "groq (whisper-large-v3" in stats
    assert owner != OWNER  # the owner came from the environment, not a constant


def _seconds(stamp: str) -> float:
    whole, millis = stamp.split(",")
    return int(whole) + int(millis) / 1000


async def _has(sim: Sim, chat: int, text: str, *, prefix: bool = False) -> list[str] | None:
    texts = await bot_texts(sim, chat)
    found = any(t.startswith(text) if prefix else t == text for t in texts)
    return texts if found else None


async def _starting(sim: Sim, chat: int, text: str) -> str | None:
    return next((t for t in await bot_texts(sim, chat) if t.startswith(text)), None)


async def _count(sim: Sim, chat: int, text: str, n: int) -> bool:
    return (await bot_texts(sim, chat)).count(text) >= n


async def _finished(app: object, job_id: str) -> object:
    job = await app.queue.status(job_id)  # type: ignore[attr-defined]
    return job if job.state.finished else None


async def _with_keyboard(sim: Sim, chat: int) -> list[dict[str, object]]:
    return [
        m
        for m in await bot_messages(sim, chat)
        if str(m.get("text", "")).startswith(("How", "Which service"))
    ]


async def test_when_every_provider_is_down_the_user_is_told_and_the_job_kept(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    for provider in ("groq", "deepgram"):
        await sim.post("stt/faults", provider=provider, script=[{"status": 503}])
    async with running_app(app_env(server, tmp_path / "data")) as app:
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Every speech-to-text service", prefix=True))
        (job,) = await app.queue.list_jobs(user_id=user)
        # Kept, and retried once a provider may be asked again: the scripts are spent.
        done = await eventually(lambda: _finished(app, job.id))
    assert (done.state, done.attempts) == (JobState.SUCCEEDED, 2)
    stats = await stt_stats(sim)
    assert stats["groq"]["answered"] == {"200": 1, "503": 1}
    assert stats["deepgram"]["answered"] == {"503": 1}
    assert SAID in await bot_texts(sim, user)


async def test_status_shows_jobs_providers_cache_and_the_bot_account(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    async with running_app(app_env(server, tmp_path / "data")):
        await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, text="/provider")
        (menu,) = await eventually(lambda: _with_keyboard(sim, user))
        await sim.post(
            "callback", chat_id=user, from_user_id=user, message_id=menu["message_id"],
            data="set:provider:deepgram", bot_id=BOT_A,
        )  # fmt: skip
        await eventually(lambda: _has(sim, user, "I will try deepgram first."))
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
        await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, text="/status")
        status = await eventually(lambda: _starting(sim, user, "Your jobs:"))
    assert "succeeded" in status
    assert "deepgram (nova-3): closed, 1 ok / 0 failed" in status
    assert "groq (whisper-large-v3" in status
    assert "Cache hit rate:" in status
    assert "Telegram:" in status
    stats = await stt_stats(sim)
    assert (stats["deepgram"]["requests"], stats["groq"]["requests"]) == (1, 0)


async def test_a_90_minute_recording_comes_back_with_every_sound_where_it_is(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    # A 1.5 s sound every 7 s for 90 minutes: 771 sounds, cut into several chunks.
    spans = [(start + 1.0, start + 2.5) for start in range(0, 90 * 60 - 3, 7)]
    audio = await make_tone_audio(tmp_path / "long.ogg", spans, total=90 * 60.0)
    async with running_app(app_env(server, tmp_path / "data")):
        await _choose(sim, user, "/format", "set:format:srt", "Format: srt.")
        await send_voice(sim, user, audio)
        await eventually(lambda: _has(sim, user, "Done."), within=120)
    (document,) = [m for m in await bot_messages(sim, user) if m.get("media")]
    srt = (await sim.http.get(f"/_sim/files/{document['media']['file_unique_id']}")).text
    cues = re.findall(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(\w+)", srt)
    assert [word for *_, word in cues] == ["tone15"] * len(spans)
    for cue, (start, end) in zip(cues, spans, strict=True):
        got_start, got_end = _hms(cue[0:4]), _hms(cue[4:8])
        assert abs(got_start - start) < 0.05, (cue, start)
        assert abs(got_end - end) < 0.05, (cue, end)
    requests = (await stt_stats(sim))["groq"]["requests"]
    assert requests > 1, "90 minutes must not fit one upload"


async def test_language_is_chosen_with_a_keyboard_and_sent_to_the_provider(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    async with running_app(app_env(server, tmp_path / "data")) as app:
        await _choose(sim, user, "/language", "set:language:id", "Spoken language: id.")
        user_row = await app.handlers.users.get(user)
        assert user_row is not None
        assert user_row.settings["language"] == "id"
        sent = await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
        transcript = await app.handlers.transcriber.cached(sent["voice"]["file_unique_id"])
    assert transcript is not None
    # The provider answers in the language it was told to expect (English otherwise).
    assert transcript.language == "id"


async def _choose(sim: Sim, user: int, command: str, data: str, answer: str) -> None:
    before = len(await bot_messages(sim, user))
    await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, text=command)
    menu = await eventually(lambda: _newer(sim, user, before))
    await sim.post(
        "callback", chat_id=user, from_user_id=user, message_id=menu["message_id"],
        data=data, bot_id=BOT_A,
    )  # fmt: skip
    await eventually(lambda: _has(sim, user, answer))


async def _newer(sim: Sim, user: int, before: int) -> dict[str, object] | None:
    messages = await bot_messages(sim, user)
    return messages[before] if len(messages) > before else None


def _hms(parts: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


async def test_no_token_or_key_reaches_the_logs(
    server: EmulatorServer,
    sim: Sim,
    user: int,
    voice: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = app_env(server, tmp_path / "data")
    caplog.set_level(logging.DEBUG)
    await sim.post("stt/faults", provider="groq", script=[{"status": 503}])
    async with running_app(env):
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "speech-to-text failed over" in logged  # the failover was logged...
    for secret in (
        env["TELEGRAM_BOT_TOKEN"].split(":")[1],
        env["GROQ_API_KEY"],
        env["DEEPGRAM_API_KEY"],
    ):
        assert secret not in logged  # ...and no secret with it


async def test_a_413_makes_the_bot_cut_smaller_chunks_and_try_again(
    server: EmulatorServer, sim: Sim, user: int, voice: Path, tmp_path: Path
) -> None:
    await sim.post("stt/faults", provider="groq", script=[{"status": 413}])
    async with running_app(app_env(server, tmp_path / "data")):
        await send_voice(sim, user, voice)
        await eventually(lambda: _has(sim, user, "Done."))
    stats = await stt_stats(sim)
    # A 413 is not a reason to fail over: every provider would get the same upload.
    assert stats["groq"]["answered"] == {"200": 1, "413": 1}
    assert stats["deepgram"]["requests"] == 0
    assert SAID in await bot_texts(sim, user)


async def test_silence_and_other_documents_get_clear_answers(
    server: EmulatorServer, sim: Sim, user: int, tmp_path: Path
) -> None:
    quiet = await make_tone_audio(tmp_path / "quiet.ogg", [], total=3.0)
    async with running_app(app_env(server, tmp_path / "data")):
        await send_voice(sim, user, quiet)
        await eventually(lambda: _has(sim, user, "I heard no speech in this recording."))
        pdf = {"kind": "document", "base64": "JVBERi0xLjQK", "mime_type": "application/pdf"}
        await sim.post("send", chat_id=user, from_user_id=user, bot_id=BOT_A, file=pdf)
        await eventually(lambda: _has(sim, user, "I can transcribe voice notes", prefix=True))
