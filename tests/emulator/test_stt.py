"""The emulated speech-to-text providers, driven by the real openai SDK and by httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx
import openai
import pytest

from sluice import redact
from sluice.emulator import (
    EmulatorConfig,
    EmulatorServer,
    SttConfig,
    SttFaults,
    SttProvider,
    make_tone_audio,
)

SPANS = [(0.5, 1.7), (2.5, 3.3)]
TOTAL = 4.0
WORDS = ["tone12", "tone8"]
KEY = "obviously-fake-key"
OPENAI_COMPATIBLE = {
    "openai": "whisper-1",
    "groq": "whisper-large-v3",
    "together": "openai/whisper-large-v3",
    "generic": "any-model-at-all",
}
FORMATS: dict[str, set[str]] = {
    "openai": {"json", "text", "verbose_json", "srt", "vtt"},
    "groq": {"json", "text", "verbose_json"},
    "together": {"json", "verbose_json"},
    "generic": {"json", "text", "verbose_json", "srt", "vtt"},
}
SRT = "1\n00:00:00,500 --> 00:00:01,700\ntone12\n\n2\n00:00:02,500 --> 00:00:03,300\ntone8\n\n"
VTT = "WEBVTT\n\n00:00:00.500 --> 00:00:01.700\ntone12\n\n00:00:02.500 --> 00:00:03.300\ntone8\n\n"
Format = Literal["json", "text", "srt", "verbose_json", "vtt"]


class Clip(NamedTuple):
    name: str
    data: bytes


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    folder = tmp_path_factory.mktemp("audio")

    async def make() -> dict[str, Path]:
        return {
            "wav": await make_tone_audio(folder / "voice.wav", SPANS, TOTAL, "wav"),
            "ogg": await make_tone_audio(folder / "voice.ogg", SPANS, TOTAL, "ogg"),
            "mp4": await make_tone_audio(folder / "note.mp4", SPANS, TOTAL, "mp4"),
            "silent": await make_tone_audio(folder / "silent.wav", [], 1.5, "wav"),
            "cut": await make_tone_audio(folder / "cut.wav", [(0.5, 1.0)], 1.0, "wav"),
            "short": await make_tone_audio(folder / "short.wav", [(0.4, 0.7)], 1.1, "wav"),
        }

    clips = {key: Clip(path.name, path.read_bytes()) for key, path in asyncio.run(make()).items()}
    clips["corrupt"] = Clip("corrupt.ogg", b"OggS" + b"\x00garbage, not a recording" * 40)
    return clips


def sdk(server: EmulatorServer, provider: str, key: str = KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.stt_url(provider),
        api_key=key,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )


@asynccontextmanager
async def emulator(stt: SttConfig | None = None, seed: int = 1) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(EmulatorConfig(seed=seed, stt=stt or SttConfig())) as server:
        yield server


async def transcribe(
    client: openai.AsyncOpenAI, clip: Clip, model: str, fmt: Format = "json", **extra: Any
) -> Any:
    return await client.audio.transcriptions.create(
        file=(clip.name, clip.data), model=model, response_format=fmt, **extra
    )


def said(error: openai.APIStatusError) -> str:
    """The provider's own message (the SDK's ``message`` prefixes the status)."""
    assert isinstance(error.body, dict)
    return str(error.body["message"])


def assert_spans(items: list[Any], spans: list[tuple[float, float]] = SPANS) -> None:
    assert len(items) == len(spans)
    for item, (start, end) in zip(items, spans, strict=True):
        assert abs(item.start - start) <= 0.1
        assert abs(item.end - end) <= 0.1


@pytest.mark.parametrize("provider", list(OPENAI_COMPATIBLE))
async def test_each_provider_answers_its_formats(
    server: EmulatorServer, audio: dict[str, Clip], provider: str
) -> None:
    model = OPENAI_COMPATIBLE[provider]
    async with sdk(server, provider) as client:
        result = await transcribe(client, audio["ogg"], model, "json")
        assert result.text == " ".join(WORDS)

        verbose = await transcribe(
            client, audio["ogg"], model, "verbose_json", timestamp_granularities=["segment", "word"]
        )
        assert verbose.text == "tone12 tone8"
        assert verbose.duration == pytest.approx(TOTAL, abs=0.05)
        assert_spans(verbose.segments)
        assert [s.text.strip() for s in verbose.segments] == WORDS
        assert [w.word for w in verbose.words] == WORDS
        assert_spans(verbose.words)

        plain: list[tuple[Format, str]] = [("text", "tone12 tone8\n"), ("srt", SRT), ("vtt", VTT)]
        for fmt, expected in plain:
            if fmt in FORMATS[provider]:
                # The wav edges are exact to the sample, so the cues are exact too.
                assert await transcribe(client, audio["wav"], model, fmt) == expected
            else:
                with pytest.raises(openai.BadRequestError) as refused:
                    await transcribe(client, audio["wav"], model, fmt)
                assert refused.value.param == "response_format" or provider == "groq"
                assert "response_format" in said(refused.value)


async def test_verbose_json_follows_each_providers_shape(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    languages = {"openai": "english", "groq": "English", "together": "en", "generic": "en"}
    async with httpx.AsyncClient(trust_env=False) as http:
        for provider, model in OPENAI_COMPATIBLE.items():
            response = await http.post(
                server.stt_url(provider) + "/audio/transcriptions",
                headers={"Authorization": f"Bearer {KEY}"},
                data={"model": model, "response_format": "verbose_json"},
                files={"file": ("voice.wav", audio["wav"].data, "audio/wav")},
            )
            body = response.json()
            assert (body["task"], body["language"]) == ("transcribe", languages[provider])
            assert "words" not in body  # only with timestamp_granularities[]=word
            segment = body["segments"][0]
            assert segment["text"] == " tone12"  # Whisper's segments start with a space
            whisper = {"seek", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"}
            assert whisper <= set(segment) or provider == "together"
            assert ("x_groq" in body) == (provider == "groq")
            assert response.headers["x-request-id"].startswith("req_")


async def test_gpt_4o_transcribe_answers_json_and_text_only(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    async with sdk(server, "openai") as client:
        result = await transcribe(client, audio["wav"], "gpt-4o-transcribe", "json")
        assert result.text == "tone12 tone8"
        assert result.usage is not None
        assert result.usage.type == "tokens"
        assert await transcribe(client, audio["wav"], "gpt-4o-transcribe", "text") == (
            "tone12 tone8\n"
        )
        refused_formats: list[Format] = ["srt", "vtt", "verbose_json"]
        for fmt in refused_formats:
            with pytest.raises(openai.BadRequestError) as refused:
                await transcribe(client, audio["wav"], "gpt-4o-transcribe", fmt)
            assert (refused.value.param, refused.value.code) == (
                "response_format",
                "unsupported_value",
            )
            assert said(refused.value) == (
                f"response_format '{fmt}' is not compatible with model 'gpt-4o-transcribe'. "
                "Use 'json' or 'text' instead."
            )


async def test_the_sdk_raises_its_typed_errors(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    async with sdk(server, "openai") as client:
        with pytest.raises(openai.AuthenticationError) as unauthorised:
            await transcribe(client, audio["wav"], "whisper-1", extra_headers={"Authorization": ""})
        assert "You didn't provide an API key" in said(unauthorised.value)
        with pytest.raises(openai.NotFoundError) as unknown:
            await transcribe(client, audio["wav"], "whisper-2")
        assert unknown.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as corrupt:
            await transcribe(client, audio["corrupt"], "whisper-1")
        assert said(corrupt.value) == "Audio file might be corrupted or unsupported"
        assert (corrupt.value.param, corrupt.value.code) == ("file", "invalid_value")
        with pytest.raises(openai.BadRequestError) as nameless:
            await client.audio.transcriptions.create(file=audio["wav"].data, model="whisper-1")
        assert said(nameless.value).startswith("Invalid file format. Supported formats: [")

        sim = httpx.AsyncClient(base_url=server.url, trust_env=False)
        script = [
            {"status": 429, "retry_after": 7},
            {"status": 500},
            {"status": 502},
            {"status": 503},
            {"status": 413},
        ]
        answer = await sim.post("/_sim/stt/faults", json={"provider": "openai", "script": script})
        assert answer.status_code == 200
        assert [f["status"] for f in answer.json()["script"]] == [429, 500, 502, 503, 413]
        with pytest.raises(openai.RateLimitError) as limited:
            await transcribe(client, audio["wav"], "whisper-1")
        headers = limited.value.response.headers
        assert headers["retry-after"] == "7"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert limited.value.code == "rate_limit_exceeded"
        for status in (500, 502, 503):
            with pytest.raises(openai.InternalServerError) as failed:
                await transcribe(client, audio["wav"], "whisper-1")
            assert failed.value.status_code == status
        with pytest.raises(openai.APIStatusError) as too_large:
            await transcribe(client, audio["wav"], "whisper-1")
        assert too_large.value.status_code == 413
        assert "Maximum content size limit (26214400) exceeded" in said(too_large.value)
        assert (await transcribe(client, audio["wav"], "whisper-1")).text == "tone12 tone8"
        await sim.aclose()


@pytest.mark.parametrize(
    ("provider", "status", "message"),
    [
        ("groq", 401, "Invalid API Key"),
        ("together", 401, "Invalid API key provided."),
        ("groq", 404, "The model `whisper-1` does not exist or you do not have access to it."),
        ("together", 404, "Unable to access model whisper-1."),
        ("groq", 400, "could not process file - is it a valid media file?"),
        ("groq", 400, "file must be one of the following types: [flac mp3 mp4 mpeg mpga m4a"),
    ],
)
async def test_each_provider_words_its_errors(
    server: EmulatorServer, audio: dict[str, Clip], provider: str, status: int, message: str
) -> None:
    model, clip, headers = OPENAI_COMPATIBLE[provider], audio["wav"], {}
    if status == 401:
        headers = {"Authorization": ""}
    elif status == 404:
        model = "whisper-1"
    elif message.startswith("could not"):
        clip = audio["corrupt"]
    elif message.startswith("file must"):
        clip = Clip("voice.oga", clip.data)
    async with sdk(server, provider) as client:
        with pytest.raises(openai.APIStatusError) as refused:
            await transcribe(client, clip, model, extra_headers=headers)
    assert refused.value.status_code == status
    assert said(refused.value).startswith(message)
    if provider == "groq":  # Groq's errors carry no "param"
        assert isinstance(refused.value.body, dict)
        assert "param" not in refused.value.body


async def test_a_telegram_voice_file_name_is_refused_by_groq_only(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    # Telegram names voice notes file_N.oga; Groq's list of extensions has no .oga.
    voice = Clip("file_7.oga", audio["ogg"].data)
    async with sdk(server, "openai") as client:
        assert (await transcribe(client, voice, "whisper-1")).text == "tone12 tone8"
    async with sdk(server, "groq") as client:
        with pytest.raises(openai.BadRequestError):
            await transcribe(client, voice, "whisper-large-v3")


async def test_oversized_uploads_are_413_while_they_stream_in(audio: dict[str, Clip]) -> None:
    limit = 40_000
    small = SttProvider(max_upload=limit)
    stt = SttConfig(openai=small, groq=small, deepgram=small)
    big = audio["wav"].data + bytes(200_000)  # about 330 KB
    async with emulator(stt) as server:
        async with sdk(server, "openai") as client:
            with pytest.raises(openai.APIStatusError) as refused:
                await transcribe(client, Clip("big.wav", big), "whisper-1")
        assert refused.value.status_code == 413
        assert said(refused.value).startswith(f"Maximum content size limit ({limit}) exceeded")
        async with sdk(server, "groq") as client:
            with pytest.raises(openai.APIStatusError) as refused:
                await transcribe(client, Clip("big.wav", big), "whisper-large-v3")
        assert (refused.value.status_code, refused.value.code) == (413, "request_too_large")

        boundary = "sluice-test-boundary"
        form = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="file"; filename="big.wav"\r\n'
                "Content-Type: audio/wav\r\n\r\n"
            ).encode()
            + big
            + f"\r\n--{boundary}--\r\n".encode()
        )

        def chunked(body: bytes) -> AsyncIterator[bytes]:  # no Content-Length
            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(body), 16_384):
                    yield body[start : start + 16_384]

            return chunks()

        async with httpx.AsyncClient(trust_env=False) as http:
            multipart = await http.post(
                server.stt_url("openai") + "/audio/transcriptions",
                content=chunked(form),
                headers={
                    "Authorization": f"Bearer {KEY}",
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
            )
            raw = await http.post(
                server.stt_url("deepgram") + "/listen",
                content=chunked(big),
                headers={"Authorization": f"Token {KEY}", "Content-Type": "audio/wav"},
            )
            stats = (await http.get(server.url + "/_sim/stt/stats")).json()
        assert "content-length" not in multipart.request.headers
        assert multipart.status_code == 413
        # The SDK's upload declared its length and was refused unread; this one was cut short.
        read = stats["openai"]["bytes_received"]
        assert read < len(form)
        assert multipart.json()["error"]["message"] == (
            f"Maximum content size limit ({limit}) exceeded ({read} bytes read)"
        )
        assert raw.status_code == 413
        assert raw.json()["err_code"] == "PAYLOAD_TOO_LARGE"
        # Refused as soon as the cap was passed, not after reading the whole body.
        assert limit < stats["deepgram"]["bytes_received"] < limit + 65_536 < len(big)
        assert stats["openai"]["answered"] == {"413": 2}
        assert stats["openai"]["audio_seconds"] == 0


async def test_deepgram_listens_with_every_flag(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    url = server.stt_url("deepgram") + "/listen"
    headers = {"Authorization": f"Token {KEY}", "Content-Type": "audio/ogg"}
    flags = {
        "smart_format": "true",
        "punctuate": "true",
        "utterances": "true",
        "detect_language": "true",
    }
    async with httpx.AsyncClient(trust_env=False) as http:
        full = await http.post(
            url, params={"model": "nova-3", "language": "en", **flags}, content=audio["ogg"].data,
            headers=headers,
        )  # fmt: skip
        plain = await http.post(
            url, params={"model": "nova-3"}, content=audio["ogg"].data, headers=headers
        )
        only_punctuate = await http.post(
            url, params={"punctuate": "true"}, content=audio["wav"].data, headers=headers
        )
    assert full.status_code == 200, full.text
    body = full.json()
    assert body["metadata"]["request_id"] == full.headers["dg-request-id"]
    assert body["metadata"]["duration"] == pytest.approx(TOTAL, abs=0.05)
    assert body["metadata"]["channels"] == 1
    assert len(body["metadata"]["sha256"]) == 64
    model_id = body["metadata"]["models"][0]
    assert body["metadata"]["model_info"][model_id]["name"] == "nova-3"
    channel = body["results"]["channels"][0]
    assert channel["detected_language"] == "en"
    best = channel["alternatives"][0]
    assert best["transcript"] == "Tone12. Tone8."
    assert [w["word"] for w in best["words"]] == WORDS
    assert [w["punctuated_word"] for w in best["words"]] == ["Tone12.", "Tone8."]
    for word, (start, end) in zip(best["words"], SPANS, strict=True):
        assert abs(word["start"] - start) <= 0.1
        assert abs(word["end"] - end) <= 0.1
    utterances = body["results"]["utterances"]
    assert [u["transcript"] for u in utterances] == ["Tone12.", "Tone8."]
    assert [u["channel"] for u in utterances] == [0, 0]

    plain_best = plain.json()["results"]["channels"][0]
    assert plain_best["alternatives"][0]["transcript"] == "tone12 tone8"
    assert "punctuated_word" not in plain_best["alternatives"][0]["words"][0]
    assert "detected_language" not in plain_best
    assert "utterances" not in plain.json()["results"]
    punctuated = only_punctuate.json()
    assert punctuated["results"]["channels"][0]["alternatives"][0]["transcript"] == "Tone12. Tone8."
    assert (
        punctuated["metadata"]["model_info"][punctuated["metadata"]["models"][0]]["name"] == "base"
    )


async def test_deepgram_errors_have_its_shape(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    url = server.stt_url("deepgram") + "/listen"
    ok = {"Authorization": f"Token {KEY}", "Content-Type": "audio/wav"}
    bad, wav = "Bad Request", audio["wav"].data
    async with httpx.AsyncClient(trust_env=False) as http:
        no_key = await http.post(url, content=wav, headers={"Content-Type": "audio/wav"})
        no_model = await http.post(url, params={"model": "nova-9"}, content=wav, headers=ok)
        corrupt = await http.post(url, content=audio["corrupt"].data, headers=ok)
        empty = await http.post(url, content=b"", headers=ok)
        remote = await http.post(
            url,
            json={"url": "https://example.com/a.wav"},
            headers={"Authorization": ok["Authorization"]},
        )
        cases = [(no_key, 401, "INVALID_AUTH"), (no_model, 400, bad), (corrupt, 400, bad),
                 (empty, 400, bad), (remote, 400, bad)]  # fmt: skip
        await http.post(
            server.url + "/_sim/stt/faults",
            json={
                "provider": "deepgram",
                "script": [{"status": 429, "retry_after": 2}, {"status": 503}],
            },
        )
        limited = await http.post(url, content=wav, headers=ok)
        unavailable = await http.post(url, content=wav, headers=ok)
    for response, status, code in cases:
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"err_code", "err_msg", "request_id"}
        assert body["err_code"] == code
        assert body["request_id"] == response.headers["dg-request-id"]
    assert corrupt.json()["err_msg"] == (
        "Bad Request: failed to process audio: corrupt or unsupported data"
    )
    assert no_model.json()["err_msg"].startswith("No such model/language/tier combination")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json()["err_code"] == "TOO_MANY_REQUESTS"
    assert unavailable.status_code == 503


async def test_silent_audio_has_an_empty_transcript(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    async with sdk(server, "openai") as client:
        verbose = await transcribe(client, audio["silent"], "whisper-1", "verbose_json")
        assert (verbose.text, verbose.segments) == ("", [])
        assert verbose.duration == pytest.approx(1.5, abs=0.05)
        assert await transcribe(client, audio["silent"], "whisper-1", "srt") == ""
        assert await transcribe(client, audio["silent"], "whisper-1", "vtt") == "WEBVTT\n\n"
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            server.stt_url("deepgram") + "/listen",
            params={"utterances": "true"},
            content=audio["silent"].data,
            headers={"Authorization": f"Token {KEY}", "Content-Type": "audio/wav"},
        )
    results = response.json()["results"]
    assert results["channels"][0]["alternatives"][0] == {
        "transcript": "",
        "confidence": 0.0,
        "words": [],
    }
    assert results["utterances"] == []


async def test_a_sound_cut_by_a_chunk_boundary_is_named_by_what_remains(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    async with sdk(server, "generic") as client:
        cut = await transcribe(client, audio["cut"], "m", "verbose_json")
        assert cut.text == "tone5"
        assert_spans(cut.segments, [(0.5, 1.0)])
        assert (await transcribe(client, audio["short"], "m")).text == "tone3"
        video = await transcribe(client, audio["mp4"], "m", "verbose_json")
        assert video.text == "tone12 tone8"
        assert_spans(video.segments)


async def test_probabilistic_faults_repeat_under_a_seed(audio: dict[str, Clip]) -> None:
    faults = SttFaults(p429=0.3, p5xx=0.2, p413=0.1, retry_after_min=1, retry_after_max=9)
    stt = SttConfig(groq=SttProvider(25 * 1024 * 1024, faults=faults))

    async def outcomes(seed: int, noise: bool) -> list[str]:
        seen: list[str] = []
        async with emulator(stt, seed) as server, sdk(server, "groq") as client:
            for _ in range(16):
                if noise:  # traffic to another provider draws nothing from Groq's faults
                    async with sdk(server, "openai") as other:
                        await transcribe(other, audio["short"], "whisper-1")
                try:
                    await transcribe(client, audio["short"], "whisper-large-v3")
                    seen.append("200")
                except openai.APIStatusError as exc:
                    retry = exc.response.headers.get("retry-after")
                    seen.append(f"{exc.status_code}:{retry}" if retry else str(exc.status_code))
        return seen

    first = await outcomes(7, noise=False)
    assert first == await outcomes(7, noise=True)
    assert {o.split(":")[0] for o in first} >= {"200", "429"}
    assert first != await outcomes(8, noise=False)


async def test_faults_change_at_run_time_and_reset(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
        sdk(server, "together") as client,
    ):
        answer = await http.post("/_sim/stt/faults", json={"provider": "together", "p5xx": 1.0})
        assert answer.json()["p5xx"] == 1.0
        with pytest.raises(openai.InternalServerError):
            await transcribe(client, audio["short"], "openai/whisper-large-v3")
        await http.post(
            "/_sim/stt/faults", json={"provider": "together", "p5xx": 0, "latency_ms": 150}
        )
        started = time.monotonic()
        assert (await transcribe(client, audio["short"], "openai/whisper-large-v3")).text == "tone3"
        assert time.monotonic() - started >= 0.15
        config = (await http.get("/_sim/config")).json()["stt"]["together"]
        assert (config["faults"]["latency_ms"], config["max_upload"]) == (150, 500 * 1024 * 1024)

        scripted = {
            "provider": "together",
            "latency_ms": 0,
            "script": [{"status": 502, "count": 2}],
        }
        answer = await http.post("/_sim/stt/faults", json=scripted)
        assert answer.json()["script"] == [{"status": 502, "count": 2, "retry_after": 0}]
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await transcribe(client, audio["short"], "openai/whisper-large-v3")
        assert (await transcribe(client, audio["short"], "openai/whisper-large-v3")).text == "tone3"
        await http.post("/_sim/stt/faults", json={**scripted, "script": [{"status": 503}]})

        await http.post("/_sim/stt/reset")
        config = (await http.get("/_sim/config")).json()["stt"]["together"]
        assert config["faults"]["latency_ms"] == 0
        assert (await http.get("/_sim/stt/stats")).json()["together"]["requests"] == 0
        assert config["faults"]["script"] == []

        for bad in (
            {"provider": "whisperer"},
            {"provider": "groq", "p429": 0.7, "p5xx": 0.7},
            {"provider": "groq", "p429": "often"},
            {"provider": "groq", "script": [{"status": 418}]},
            {"provider": "groq", "latency": 5},
        ):
            refused = await http.post("/_sim/stt/faults", json=bad)
            assert refused.status_code == 400, bad
            assert refused.json()["ok"] is False


async def test_stats_count_what_happened(server: EmulatorServer, audio: dict[str, Clip]) -> None:
    async with (
        httpx.AsyncClient(base_url=server.url, trust_env=False) as http,
        sdk(server, "openai") as client,
    ):
        await transcribe(client, audio["wav"], "whisper-1")
        await transcribe(client, audio["ogg"], "gpt-4o-transcribe")
        with pytest.raises(openai.BadRequestError):
            await transcribe(client, audio["corrupt"], "whisper-1")
        await http.post(
            "/_sim/stt/faults", json={"provider": "openai", "script": [{"status": 429}]}
        )
        with pytest.raises(openai.RateLimitError):
            await transcribe(client, audio["wav"], "whisper-1")
        stats = (await http.get("/_sim/stt/stats")).json()
        sent = 2 * len(audio["wav"].data) + len(audio["ogg"].data) + len(audio["corrupt"].data)
        openai_stats = stats["openai"]
        assert openai_stats["requests"] == 4
        assert openai_stats["answered"] == {"200": 2, "400": 1, "429": 1}
        assert openai_stats["bytes_received"] > sent  # the files and the multipart framing
        assert openai_stats["audio_seconds"] == pytest.approx(2 * TOTAL, abs=0.1)
        assert openai_stats["models"] == {"gpt-4o-transcribe": 1, "whisper-1": 1}
        assert stats["groq"] == {
            "requests": 0, "answered": {}, "bytes_received": 0, "audio_seconds": 0, "models": {}
        }  # fmt: skip
        await http.post("/_sim/reset")
        assert (await http.get("/_sim/stt/stats")).json()["openai"]["requests"] == 0


async def test_requests_that_are_not_transcriptions_are_refused(
    server: EmulatorServer, audio: dict[str, Clip]
) -> None:
    url = server.stt_url("openai") + "/audio/transcriptions"
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(trust_env=False) as http:
        as_json = await http.post(url, json={"model": "whisper-1"}, headers=auth)
        assert as_json.status_code == 400
        assert as_json.json()["error"]["message"].startswith("Invalid Content-Type header")
        assert (await http.get(url, headers=auth)).status_code == 405
        no_file = await http.post(
            url, data={"model": "whisper-1"}, files={"x": ("a", b"")}, headers=auth
        )
        assert no_file.json()["error"]["param"] == "file"
        no_model = await http.post(url, files={"file": ("a.wav", audio["wav"].data)}, headers=auth)
        assert no_model.json()["error"]["message"] == "you must provide a model parameter"
        hot = await http.post(
            url, data={"model": "whisper-1", "temperature": "7"},
            files={"file": ("a.wav", audio["wav"].data)}, headers=auth,
        )  # fmt: skip
        assert hot.json()["error"]["param"] == "temperature"


async def test_configured_keys_are_the_only_ones_accepted_and_stay_secret(
    audio: dict[str, Clip],
) -> None:
    secret = "sk-emulated-secret-0123456789"
    stt = SttConfig(openai=SttProvider(25 * 1024 * 1024, api_keys=(secret,)))
    async with emulator(stt) as server:
        async with sdk(server, "openai", key=secret) as client:
            assert (await transcribe(client, audio["short"], "whisper-1")).text == "tone3"
        async with sdk(server, "openai", key="sk-wrong-but-long-enough") as client:
            with pytest.raises(openai.AuthenticationError) as refused:
                await transcribe(client, audio["short"], "whisper-1")
        assert refused.value.code == "invalid_api_key"
        assert "sk-wrong-but-long-enough" not in said(refused.value)
    assert redact(f"key {secret}") == "key ***"


async def test_uploads_are_spooled_to_files_that_are_removed(audio: dict[str, Clip]) -> None:
    async with emulator() as server:
        async with sdk(server, "openai") as client:
            await transcribe(client, audio["wav"], "whisper-1")
            with pytest.raises(openai.BadRequestError):
                await transcribe(client, audio["corrupt"], "whisper-1")
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.post(
                server.stt_url("deepgram") + "/listen",
                content=audio["wav"].data,
                headers={"Authorization": f"Token {KEY}"},
            )
        spool = server.emulator.stt._tmpdir
        assert spooled(spool) == []
    assert spooled(spool) is None


def spooled(folder: Path | None) -> list[str] | None:
    """The files in the emulator's spool folder; None once the folder is gone."""
    return sorted(p.name for p in folder.iterdir()) if folder and folder.exists() else None
