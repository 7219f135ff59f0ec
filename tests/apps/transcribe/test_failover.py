"""The failover chain: cooldowns, circuit breakers, pacing, against the emulated providers."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from sluice.apps.transcribe._circuit import FailoverConfig
from sluice.apps.transcribe._deepgram import DeepgramProvider
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._model import Transcript
from sluice.apps.transcribe._openai_compat import OpenAICompatibleProvider
from sluice.apps.transcribe._provider_errors import (
    AllProvidersFailed,
    ProviderError,
    Refused,
    TooLarge,
    Unavailable,
)
from sluice.apps.transcribe._providers import Provider, RateLimit
from sluice.emulator import (
    EmulatorConfig,
    EmulatorServer,
    SttConfig,
    SttProvider,
    make_tone_audio,
)

GROQ_KEY = "gsk-failover-test-2b7c4d9e1f"
DEEPGRAM_KEY = "dg-failover-test-8e3f0a6b5c"
MiB = 1024 * 1024


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
    return EmulatorConfig(
        seed=1,
        stt=SttConfig(
            groq=SttProvider(25 * MiB, api_keys=(GROQ_KEY,)),
            deepgram=SttProvider(2048 * MiB, api_keys=(DEEPGRAM_KEY,)),
        ),
    )


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    files = {"short": asyncio.run(make_tone_audio(folder / "short.wav", [(0.4, 0.8)], 1.2, "wav"))}
    files["corrupt"] = folder / "corrupt.ogg"
    files["corrupt"].write_bytes(b"OggS" + b"\x00not a recording at all" * 40)
    return files


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def groq(server: EmulatorServer, clock: FakeClock, **options: Any) -> Provider:
    key = options.pop("key", GROQ_KEY)
    url = server.stt_url("groq")
    return OpenAICompatibleProvider.groq(
        key, base_url=url, clock=clock, sleep=clock.sleep, **options
    )


def deepgram(server: EmulatorServer, clock: FakeClock, **options: Any) -> Provider:
    url = server.stt_url("deepgram")
    return DeepgramProvider(DEEPGRAM_KEY, base_url=url, clock=clock, sleep=clock.sleep, **options)


def chain(clock: FakeClock, *providers: Provider, **config: Any) -> Providers:
    return Providers(providers, config=FailoverConfig(**config), clock=clock, sleep=clock.sleep)


async def script(http: httpx.AsyncClient, provider: str, *faults: dict[str, int]) -> None:
    body = {"provider": provider, "script": list(faults)}
    assert (await http.post("/_sim/stt/faults", json=body)).status_code == 200


async def requests(http: httpx.AsyncClient) -> dict[str, int]:
    stats = (await http.get("/_sim/stt/stats")).json()
    return {name: stats[name]["requests"] for name in ("groq", "deepgram")}


def state(providers: Providers, name: str) -> str:
    return next(h.state for h in providers.health() if h.name == name)


async def test_a_429_cools_the_first_provider_and_the_next_one_serves(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 429, "retry_after": 30})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        first = await providers.transcribe(audio["short"])
        assert first.provider == "deepgram"
        assert await requests(http) == {"groq": 1, "deepgram": 1}
        health = providers.health()[0]
        assert (health.state, health.usable_in, health.failures) == ("cooling", 30.0, 1)
        assert health.last_error is not None
        assert "429" in health.last_error

        clock.now += 29.9
        assert (await providers.transcribe(audio["short"])).provider == "deepgram"
        assert await requests(http) == {"groq": 1, "deepgram": 2}  # groq left alone

        clock.now += 0.1
        assert (await providers.transcribe(audio["short"])).provider == "groq"
        assert state(providers, "groq") == "closed"


async def test_three_server_errors_open_the_circuit_and_a_probe_closes_it(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 500}, {"status": 502}, {"status": 503})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        for failures in (1, 2, 3):
            assert (await providers.transcribe(audio["short"])).provider == "deepgram"
            assert providers.health()[0].consecutive_failures == failures
        health = providers.health()[0]
        assert (health.state, health.usable_in) == ("open", 60.0)
        assert health.last_error is not None
        assert "503" in health.last_error

        clock.now += 59
        await providers.transcribe(audio["short"])
        assert await requests(http) == {"groq": 3, "deepgram": 4}  # open: not asked

        clock.now += 1
        assert state(providers, "groq") == "half-open"
        probe = await providers.transcribe(audio["short"])
        assert probe.provider == "groq"
        health = providers.health()[0]
        assert (health.state, health.consecutive_failures, health.successes) == ("closed", 0, 1)


async def test_a_failed_probe_opens_the_circuit_twice_as_long_up_to_the_cap(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 503, "count": 5})
    providers = chain(clock, groq(server, clock), deepgram(server, clock), max_open_for=200)
    async with providers:
        for _ in range(3):
            await providers.transcribe(audio["short"])
        for open_for in (120.0, 200.0):  # 60 doubled, then capped at 200
            clock.now += providers.health()[0].usable_in or 0
            assert (await providers.transcribe(audio["short"])).provider == "deepgram"
            assert providers.health()[0].usable_in == open_for
        assert (await requests(http))["groq"] == 5


async def test_413_raises_too_large_without_trying_the_others(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 413})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        with pytest.raises(TooLarge) as raised:
            await providers.transcribe(audio["short"])
        assert raised.value.provider == "groq"
        assert await requests(http) == {"groq": 1, "deepgram": 0}
        assert state(providers, "groq") == "closed"  # the provider works; the chunk was big


async def test_a_file_goes_to_a_provider_whose_cap_it_fits(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    size = audio["short"].stat().st_size
    small, large = groq(server, clock, max_bytes=size - 1), deepgram(server, clock)
    async with chain(clock, small, large) as providers:
        assert providers.max_bytes == size - 1  # the size to cut chunks to
        assert (await providers.transcribe(audio["short"])).provider == "deepgram"
    tiny = chain(clock, groq(server, clock, max_bytes=10), deepgram(server, clock, max_bytes=20))
    async with tiny:
        with pytest.raises(TooLarge) as raised:
            await tiny.transcribe(audio["short"])
        assert raised.value.max_bytes == 20
    assert await requests(http) == {"groq": 0, "deepgram": 1}


async def test_when_every_provider_is_down_the_error_says_when_to_retry(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 429, "retry_after": 30})
    await script(http, "deepgram", {"status": 429, "retry_after": 12})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        with pytest.raises(AllProvidersFailed) as raised:
            await providers.transcribe(audio["short"])
        assert raised.value.retry_after == 12.0
        assert set(raised.value.errors) == {"groq", "deepgram"}
        assert all("429" in text for text in raised.value.errors.values())

        clock.now += 2
        with pytest.raises(AllProvidersFailed) as again:
            await providers.transcribe(audio["short"])  # nobody is asked while cooling
        assert again.value.retry_after == 10.0
        assert "cooling for 10 s more" in again.value.errors["deepgram"]
        assert await requests(http) == {"groq": 1, "deepgram": 1}

        clock.now += 10
        assert (await providers.transcribe(audio["short"])).provider == "deepgram"


async def test_circuits_open_everywhere_give_the_earliest_reopening(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "groq", {"status": 500, "count": 3})
    await script(http, "deepgram", {"status": 502, "count": 3})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        for _ in range(2):
            with pytest.raises(AllProvidersFailed) as raised:
                await providers.transcribe(audio["short"])
            assert raised.value.retry_after == 1.0  # both still closed: the floor
            clock.now += 1
        with pytest.raises(AllProvidersFailed) as raised:
            await providers.transcribe(audio["short"])
        assert raised.value.retry_after == 60.0
        assert [h.state for h in providers.health()] == ["open", "open"]


async def test_groq_paces_itself_to_20_requests_a_minute(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    free_tier, other = groq(server, clock), deepgram(server, clock)
    async with free_tier, other:
        providers = chain(clock, free_tier, other)
        served = [(await providers.transcribe(audio["short"])).provider for _ in range(21)]
        assert served == ["groq"] * 20 + ["deepgram"]  # the 21st within the minute
        assert providers.health()[0].requests_in_window == 20
        assert clock.slept == []

        alone = chain(clock, free_tier, max_wait=60)
        clock.now += 15
        assert (await alone.transcribe(audio["short"])).provider == "groq"
        assert clock.slept == [pytest.approx(45.0)]  # waited for the window, then went
    assert await requests(http) == {"groq": 21, "deepgram": 1}


async def test_a_full_window_past_max_wait_fails_with_its_reopening(
    server: EmulatorServer, audio: dict[str, Path], clock: FakeClock
) -> None:
    limited = groq(server, clock, rate_limit=RateLimit(2, 60.0))
    async with chain(clock, limited) as providers:
        for _ in range(2):
            await providers.transcribe(audio["short"])
        with pytest.raises(AllProvidersFailed) as raised:
            await providers.transcribe(audio["short"])
        assert raised.value.retry_after == pytest.approx(60.0)
        assert "rate window (2/min) is full" in raised.value.errors["groq"]


async def test_a_wrong_key_sets_the_provider_aside_for_long_without_showing_it(
    server: EmulatorServer,
    http: httpx.AsyncClient,
    audio: dict[str, Path],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "gsk-this-key-was-revoked-4a4a"
    caplog.set_level(logging.WARNING, logger="sluice.transcribe")
    async with chain(clock, groq(server, clock, key=wrong), deepgram(server, clock)) as providers:
        assert (await providers.transcribe(audio["short"])).provider == "deepgram"
        health = providers.health()[0]
        assert (health.state, health.usable_in) == ("open", 3600.0)
        clock.now += 3599
        await providers.transcribe(audio["short"])
        assert await requests(http) == {"groq": 1, "deepgram": 2}
        assert wrong not in repr(providers)
        assert wrong not in str(providers.health())
    assert "groq refused the key" in caplog.text
    assert wrong not in caplog.text


async def test_audio_every_provider_refuses_raises_refused(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        with pytest.raises(Refused):
            await providers.transcribe(audio["corrupt"])
        assert await requests(http) == {"groq": 1, "deepgram": 1}
        assert [h.state for h in providers.health()] == ["closed", "closed"]
    strict = chain(clock, groq(server, clock), deepgram(server, clock), refused_tries_next=False)
    async with strict:
        with pytest.raises(Refused) as raised:
            await strict.transcribe(audio["corrupt"])
        assert raised.value.provider == "groq"
    assert await requests(http) == {"groq": 2, "deepgram": 1}


async def test_a_refusal_and_an_outage_is_retried_later(
    server: EmulatorServer, http: httpx.AsyncClient, audio: dict[str, Path], clock: FakeClock
) -> None:
    await script(http, "deepgram", {"status": 503})
    async with chain(clock, groq(server, clock), deepgram(server, clock)) as providers:
        with pytest.raises(AllProvidersFailed) as raised:
            await providers.transcribe(audio["corrupt"])
        assert raised.value.retry_after == 1.0
        assert "400" in raised.value.errors["groq"]
        assert "503" in raised.value.errors["deepgram"]


class Gated(Provider):
    """A provider whose answers a test scripts and releases: for what the emulator
    cannot time exactly (two requests racing for one probe, a cancelled request)."""

    def __init__(self, name: str, clock: FakeClock) -> None:
        super().__init__(
            name=name,
            model="test-model",
            max_bytes=MiB,
            formats=frozenset({"json"}),
            rate_limit=RateLimit(100, 60.0),
            clock=clock,
            sleep=clock.sleep,
        )
        self.outcomes: list[ProviderError | None] = []
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()

    async def _request(
        self, path: Path, size: int, language: str | None, timestamps: bool
    ) -> Transcript:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        return Transcript(text="ok", provider=self.name, model=self.model)


async def test_half_open_lets_exactly_one_probe_through(
    audio: dict[str, Path], clock: FakeClock
) -> None:
    first, second = Gated("first", clock), Gated("second", clock)
    first.outcomes = [Unavailable("down", provider="first")] * 3
    providers = chain(clock, first, second)
    for _ in range(3):
        await providers.transcribe(audio["short"])
    clock.now += 60
    first.gate.clear()
    first.entered.clear()
    probe = asyncio.create_task(providers.transcribe(audio["short"]))
    await first.entered.wait()  # the probe is in flight
    assert (await providers.transcribe(audio["short"])).provider == "second"
    assert providers.health()[0].usable_in is None  # decided when the probe answers
    first.gate.set()
    assert (await probe).provider == "first"
    assert state(providers, "first") == "closed"


async def test_a_cancelled_probe_lets_the_next_request_probe(
    audio: dict[str, Path], clock: FakeClock
) -> None:
    first, second = Gated("first", clock), Gated("second", clock)
    first.outcomes = [Unavailable("down", provider="first")] * 3
    providers = chain(clock, first, second)
    for _ in range(3):
        await providers.transcribe(audio["short"])
    clock.now += 60
    first.gate.clear()
    first.entered.clear()
    probe = asyncio.create_task(providers.transcribe(audio["short"]))
    await first.entered.wait()
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert first.window.in_flight == 0  # the slot was given back
    first.gate.set()
    assert (await providers.transcribe(audio["short"])).provider == "first"


async def test_health_reports_what_status_pages_show(
    audio: dict[str, Path], clock: FakeClock
) -> None:
    first, second = Gated("first", clock), Gated("second", clock)
    first.outcomes = [Unavailable("first failed (502 Bad Gateway)", provider="first")]
    providers = chain(clock, first, second)
    await providers.transcribe(audio["short"])
    await providers.transcribe(audio["short"])
    assert [h.to_json() for h in providers.health()] == [
        {
            "name": "first",
            "model": "test-model",
            "state": "closed",
            "successes": 1,
            "failures": 1,
            "consecutive_failures": 0,
            "last_error": "first failed (502 Bad Gateway)",
            "requests_in_window": 2,
            "rate_limit": "100/min",
            "usable_in": 0.0,
        },
        {
            "name": "second",
            "model": "test-model",
            "state": "closed",
            "successes": 1,
            "failures": 0,
            "consecutive_failures": 0,
            "last_error": None,
            "requests_in_window": 1,
            "rate_limit": "100/min",
            "usable_in": 0.0,
        },
    ]
    assert providers.names == ("first", "second")
    assert providers.default is first
    assert providers["second"] is second
    with pytest.raises(ValueError, match="names must differ"):
        Providers([first, Gated("first", clock)])
