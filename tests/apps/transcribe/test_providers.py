"""Each speech-to-text provider against the emulated provider endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice import SluiceError, register_secret
from sluice.apps.transcribe._deepgram import DeepgramProvider
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._openai_compat import OpenAICompatibleProvider, language_code
from sluice.apps.transcribe._provider_errors import (
    ProviderError,
    RateLimited,
    Refused,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from sluice.apps.transcribe._providers import (
    Provider,
    RateLimit,
    audio_content_type,
    parse_retry_after,
)
from sluice.emulator import (
    EmulatorConfig,
    EmulatorServer,
    SttConfig,
    SttProvider,
    make_tone_audio,
)

SPANS = [(0.5, 1.7), (2.5, 3.3)]
KEY = "stt-test-key-7f3a9c21b4"
MiB = 1024 * 1024
# Our name for each provider -> the emulator's.
EMULATED = {
    "groq": "groq",
    "together": "together",
    "openai": "openai",
    "local": "generic",
    "deepgram": "deepgram",
}
KINDS = list(EMULATED)


class FakeClock:
    """Monotonic time that moves only when told to, or when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    keys = (KEY,)
    return EmulatorConfig(
        seed=1,
        stt=SttConfig(
            openai=SttProvider(25 * MiB, api_keys=keys),
            groq=SttProvider(25 * MiB, api_keys=keys),
            together=SttProvider(500 * MiB, api_keys=keys),
            generic=SttProvider(25 * MiB, api_keys=keys),
            deepgram=SttProvider(2048 * MiB, api_keys=keys),
        ),
    )


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")

    async def make() -> dict[str, Path]:
        return {
            # A Telegram voice note: Ogg Opus named .oga.
            "voice": await make_tone_audio(folder / "voice.oga", SPANS, 4.0, "ogg"),
            "video": await make_tone_audio(folder / "note.mp4", SPANS, 4.0, "mp4"),
            "short": await make_tone_audio(folder / "short.wav", [(0.4, 0.8)], 1.2, "wav"),
        }

    files = asyncio.run(make())
    files["corrupt"] = folder / "corrupt.ogg"
    files["corrupt"].write_bytes(b"OggS" + b"\x00not a recording at all" * 40)
    return files


def provider(server: EmulatorServer | None, kind: str, **options: Any) -> Provider:
    options.setdefault("base_url", server.stt_url(EMULATED[kind]) if server else None)
    key = options.pop("key", KEY)
    if kind == "deepgram":
        return DeepgramProvider(key, **options)
    if kind == "local":
        return OpenAICompatibleProvider.custom(
            "local", options.pop("base_url"), options.pop("model", "whisper-small"), key, **options
        )
    factory = {
        "groq": OpenAICompatibleProvider.groq,
        "together": OpenAICompatibleProvider.together,
        "openai": OpenAICompatibleProvider.openai,
    }[kind]
    return factory(key, **options)


async def script(http: httpx.AsyncClient, kind: str, *faults: dict[str, int]) -> None:
    body = {"provider": EMULATED[kind], "script": list(faults)}
    response = await http.post("/_sim/stt/faults", json=body)
    assert response.status_code == 200, response.text


async def stats(http: httpx.AsyncClient, kind: str) -> dict[str, Any]:
    result: dict[str, Any] = (await http.get("/_sim/stt/stats")).json()[EMULATED[kind]]
    return result


def assert_spans(transcript: Transcript, spans: list[tuple[float, float]] = SPANS) -> None:
    assert len(transcript.segments) == len(spans)
    for segment, (start, end) in zip(transcript.segments, spans, strict=True):
        assert abs(segment.start - start) <= 0.1
        assert abs(segment.end - end) <= 0.1


@pytest.mark.parametrize("kind", KINDS)
async def test_each_provider_transcribes_with_segments_relative_to_the_file(
    server: EmulatorServer, audio: dict[str, Path], kind: str
) -> None:
    async with provider(server, kind) as stt:
        voice = await stt.transcribe(audio["voice"])  # a voice note: Ogg Opus named .oga
        video = await stt.transcribe(audio["video"], language="de")
        untimed = await stt.transcribe(audio["short"], timestamps=False)
    for transcript in (voice, video):
        assert_spans(transcript)
        words = [segment.text.rstrip(".").lower() for segment in transcript.segments]
        assert words == ["tone12", "tone8"]
        assert transcript.text.lower().replace(".", "") == "tone12 tone8"
        assert transcript.duration == pytest.approx(4.0, abs=0.05)
        assert (transcript.provider, transcript.model) == (stt.name, stt.model)
    assert voice.language == "en"  # detected; Groq says "English", OpenAI "english"
    assert video.language == "de"
    assert untimed.text.lower().rstrip(".") == "tone4"
    assert untimed.segments == ()


async def test_gpt_4o_transcribe_answers_text_only(
    server: EmulatorServer, audio: dict[str, Path]
) -> None:
    async with provider(server, "openai", model="gpt-4o-transcribe") as stt:
        assert not stt.timed
        assert stt.formats == {"json", "text"}
        transcript = await stt.transcribe(audio["voice"])
    assert transcript.text == "tone12 tone8"
    assert not transcript.timed


def test_upload_names_follow_what_each_provider_accepts() -> None:
    voice, video = Path("/x/file_7.oga"), Path("/x/note.mp4")
    groq, together, openai = (provider(None, kind) for kind in ("groq", "together", "openai"))
    local = provider(None, "local", base_url="http://localhost:8000/v1")
    assert groq.upload_name(voice) == "file_7.ogg"  # Groq refuses .oga
    assert together.upload_name(video) == "note.m4a"  # the same MP4 container
    assert openai.upload_name(voice) == "file_7.oga"
    assert local.upload_name(Path("clip.weird")) == "clip.weird"
    assert groq.upload_name(Path("clip.weird")) == "clip.weird"  # Groq will say what it takes
    assert audio_content_type("file_7.ogg") == "audio/ogg"
    assert audio_content_type("clip") == "application/octet-stream"


@pytest.mark.parametrize("kind", KINDS)
async def test_each_failure_maps_to_its_error(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], kind: str
) -> None:
    await script(
        http,
        kind,
        {"status": 429, "retry_after": 7},
        {"status": 500},
        {"status": 502},
        {"status": 503},
        {"status": 413},
    )
    async with provider(server, kind) as stt:
        with pytest.raises(RateLimited) as limited:
            await stt.transcribe(audio["short"])
        assert limited.value.retry_after == 7
        assert limited.value.provider == stt.name
        assert "429" in str(limited.value)
        for status in (500, 502, 503):
            with pytest.raises(Unavailable, match=str(status)):
                await stt.transcribe(audio["short"])
        with pytest.raises(TooLarge) as too_large:
            await stt.transcribe(audio["short"])
        assert too_large.value.max_bytes == stt.max_bytes
        with pytest.raises(Refused, match="400"):
            await stt.transcribe(audio["corrupt"])
    assert (await stats(http, kind))["requests"] == 6


@pytest.mark.parametrize("kind", KINDS)
async def test_settings_problems_are_unauthorized_and_never_show_the_key(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], kind: str
) -> None:
    wrong = "sk-wrong-key-5d1e88a0c3b2f9"
    async with provider(server, kind, key=wrong) as stt:
        with pytest.raises(Unauthorized) as raised:
            await stt.transcribe(audio["short"])
        assert "401" in str(raised.value)
        assert wrong not in str(raised.value)
        assert wrong not in repr(stt)
    presets = ("groq", "together", "openai")  # the generic endpoint takes any model name
    if kind in presets:
        async with provider(server, kind, model="whisper-9") as stt:
            with pytest.raises(Unauthorized, match=r"404.*check the model"):
                await stt.transcribe(audio["short"])
    async with provider(server, kind, max_bytes=1000) as stt:
        with pytest.raises(TooLarge, match=r"over .* cap of 1000"):
            await stt.transcribe(audio["voice"])  # refused before it is sent
    assert (await stats(http, kind))["requests"] == (2 if kind in presets else 1)


async def test_a_file_type_the_provider_refuses_is_refused(
    server: EmulatorServer, audio: dict[str, Path], tmp_path: Path
) -> None:
    odd = tmp_path / "voice.xyz"
    odd.write_bytes(audio["short"].read_bytes())
    async with provider(server, "groq") as stt:
        with pytest.raises(Refused, match="file must be one of"):
            await stt.transcribe(odd)


@pytest.mark.parametrize("kind", KINDS)
async def test_no_server_is_unavailable(audio: dict[str, Path], kind: str) -> None:
    base = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there
    async with provider(None, kind, base_url=base) as stt:
        with pytest.raises(Unavailable, match="could not be reached"):
            await stt.transcribe(audio["short"])


@pytest.mark.parametrize("kind", ["groq", "deepgram"])
async def test_a_timeout_is_unavailable(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], kind: str
) -> None:
    body = {"provider": EMULATED[kind], "latency_ms": 300}
    assert (await http.post("/_sim/stt/faults", json=body)).status_code == 200
    async with provider(server, kind, timeout=0.1) as stt:
        with pytest.raises(Unavailable, match=r"did not answer within 0\.1 s"):
            await stt.transcribe(audio["short"])


async def test_deepgram_streams_the_file_as_the_body(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path]
) -> None:
    async with provider(server, "deepgram") as stt:
        await stt.transcribe(audio["voice"])
    assert (await stats(http, "deepgram"))["bytes_received"] == audio["voice"].stat().st_size


async def test_the_rate_window_waits_when_short_and_refuses_when_long(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path]
) -> None:
    clock = FakeClock()
    limit = RateLimit(2, 60.0)
    hasty = provider(server, "groq", rate_limit=limit, clock=clock, sleep=clock.sleep)
    patient = provider(
        server, "groq", rate_limit=limit, clock=clock, sleep=clock.sleep, max_wait=60.0
    )
    async with hasty, patient:
        for stt in (hasty, patient):
            await stt.transcribe(audio["short"])
            await stt.transcribe(audio["short"])
            assert stt.ready_in(clock()) == pytest.approx(60.0)
            assert stt.requests_in_window(clock()) == 2
        with pytest.raises(RateLimited) as raised:
            await hasty.transcribe(audio["short"])  # 60 s is past its max_wait of 5 s
        assert raised.value.retry_after == pytest.approx(60.0)
        assert clock.slept == []
        await patient.transcribe(audio["short"])  # waits out the window
        assert clock.slept == [pytest.approx(60.0)]
    assert (await stats(http, "groq"))["requests"] == 5


def test_rate_limits_parse_and_print() -> None:
    assert RateLimit.parse("20/min") == RateLimit(20, 60.0)
    assert RateLimit.parse(" 5 / s ") == RateLimit(5, 1.0)
    assert RateLimit.parse("100/60s") == RateLimit(100, 60.0)
    assert RateLimit.parse("1000/h") == RateLimit(1000, 3600.0)
    assert RateLimit.parse("20/60") == RateLimit(20, 60.0)
    assert [str(RateLimit.parse(t)) for t in ("20/min", "5/s", "3/2.5s")] == [
        "20/min",
        "5/s",
        "3/2.5s",
    ]
    for bad in ("", "20", "20/", "x/min", "0/min", "20/0", "20/fortnight", "-1/s"):
        with pytest.raises(SluiceError, match="is not a rate limit"):
            RateLimit.parse(bad)


def test_retry_after_is_read_from_every_header_providers_use() -> None:
    assert parse_retry_after({"Retry-After": "7"}) == 7.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"x-ratelimit-reset-requests": "1m30s"}) == 90.0
    assert parse_retry_after({"x-ratelimit-reset": "2.5"}) == 2.5
    date = {"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}
    assert parse_retry_after(date, wall_clock=lambda: 1445412480.0) == 30.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "nan"}) is None
    assert parse_retry_after({}) is None


def test_whisper_language_names_become_codes() -> None:
    assert [language_code(x) for x in ("english", "English", "en", "haitian creole")] == [
        "en",
        "en",
        "en",
        "ht",
    ]
    assert language_code("") is None
    assert language_code("klingon") == "klingon"


def test_errors_are_sluice_errors_and_hide_registered_secrets() -> None:
    register_secret(KEY)
    error = RateLimited(f"groq echoed {KEY}", provider="groq", retry_after=3.0)
    assert isinstance(error, ProviderError)
    assert isinstance(error, SluiceError)
    assert KEY not in str(error)
    assert str(error) == "groq echoed ***"
