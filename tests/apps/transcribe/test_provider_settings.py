"""Reading the speech-to-text providers' settings, and building the chain from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice import ConfigError, redact
from sluice.apps.transcribe._deepgram import DeepgramProvider
from sluice.apps.transcribe._local import LocalWhisperProvider
from sluice.apps.transcribe._openai_compat import OpenAICompatibleProvider
from sluice.apps.transcribe._provider_settings import (
    ProviderSettings,
    build_providers,
    load_provider_settings,
)
from sluice.apps.transcribe._providers import RateLimit
from sluice.emulator import EmulatorServer, make_tone_audio

GROQ = "gsk_settings_test_61c0a7e2d94b"
DEEPGRAM = "dg-settings-test-0b55e3c1a8f2"
TOGETHER = "tgp_settings_test_93d1f7a0c6e4"
OPENAI = "sk-settings-test-4e8a2c7b19d0"
ALL_KEYS = {
    "GROQ_API_KEY": GROQ,
    "DEEPGRAM_API_KEY": DEEPGRAM,
    "TOGETHER_API_KEY": TOGETHER,
    "OPENAI_API_KEY": OPENAI,
}


def load(**env: str) -> ProviderSettings:
    return load_provider_settings(env, env_file=None)


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(**env)
    return str(raised.value).splitlines()


def test_one_key_is_enough() -> None:
    settings = load(GROQ_API_KEY=GROQ)
    assert settings.order == ("groq",)
    providers = build_providers(settings)
    groq = providers.default
    assert isinstance(groq, OpenAICompatibleProvider)
    assert (groq.name, groq.model, groq.base_url) == (
        "groq",
        "whisper-large-v3",
        "https://api.groq.com/openai/v1",
    )
    assert groq.rate_limit == RateLimit(20, 60.0)  # the free tier


def test_by_default_every_provider_with_a_key_in_the_default_order() -> None:
    assert load(**ALL_KEYS).order == ("groq", "deepgram", "together", "openai")
    assert load(**ALL_KEYS, TRANSCRIPTION_PROVIDER="OpenAI").order == (
        "openai",
        "groq",
        "deepgram",
        "together",
    )


def test_the_failover_order_is_as_given_with_the_default_first() -> None:
    assert load(**ALL_KEYS, TRANSCRIPTION_PROVIDERS=" deepgram, groq ,").order == (
        "deepgram",
        "groq",
    )
    both = load(**ALL_KEYS, TRANSCRIPTION_PROVIDERS="deepgram,groq", TRANSCRIPTION_PROVIDER="groq")
    assert both.order == ("groq", "deepgram")
    alone = load(**ALL_KEYS, TRANSCRIPTION_PROVIDERS="groq", TRANSCRIPTION_PROVIDER="openai")
    assert alone.order == ("openai", "groq")


def test_overrides_of_base_url_model_and_rate() -> None:
    settings = load(
        **ALL_KEYS,
        GROQ_BASE_URL="http://localhost:9000/groq/openai/v1/",
        GROQ_MODEL="whisper-large-v3-turbo",
        GROQ_RATE_LIMIT="300/min",
        OPENAI_MODEL="gpt-4o-transcribe",
        DEEPGRAM_MODEL="nova-2",
        DEEPGRAM_RATE_LIMIT="50/s",
        TRANSCRIPTION_TIMEOUT="45",
    )
    providers = build_providers(settings)
    groq, deepgram, openai = providers["groq"], providers["deepgram"], providers["openai"]
    assert isinstance(groq, OpenAICompatibleProvider)
    assert groq.base_url == "http://localhost:9000/groq/openai/v1"
    assert (groq.model, groq.rate_limit, groq.timeout) == (
        "whisper-large-v3-turbo",
        RateLimit(300, 60.0),
        45.0,
    )
    assert isinstance(deepgram, DeepgramProvider)
    assert (deepgram.model, deepgram.rate_limit) == ("nova-2", RateLimit(50, 1.0))
    assert openai.model == "gpt-4o-transcribe"
    assert not openai.timed  # gpt-4o models answer text only


def test_a_custom_openai_compatible_server() -> None:
    settings = load(
        CUSTOM_STT_NAME="Whisperbox",
        CUSTOM_STT_BASE_URL="http://127.0.0.1:8000/v1",
        CUSTOM_STT_MODEL="Systran/faster-whisper-small",
    )
    assert settings.order == ("whisperbox",)
    local = build_providers(settings)["whisperbox"]
    assert isinstance(local, OpenAICompatibleProvider)
    assert (local.model, local.base_url, local.extensions) == (
        "Systran/faster-whisper-small",
        "http://127.0.0.1:8000/v1",
        None,
    )
    assert local.timed
    assert problems(CUSTOM_STT_BASE_URL="http://127.0.0.1:8000/v1") == [
        "CUSTOM_STT_MODEL is missing: CUSTOM_STT_BASE_URL is set, and the server needs the "
        "name of the model to run"
    ]


def test_a_provider_named_without_its_key_is_a_clear_error() -> None:
    assert problems(GROQ_API_KEY=GROQ, TRANSCRIPTION_PROVIDERS="groq,deepgram") == [
        "TRANSCRIPTION_PROVIDERS names deepgram but DEEPGRAM_API_KEY is not set: set it, or "
        "leave deepgram out of TRANSCRIPTION_PROVIDERS"
    ]
    assert problems(GROQ_API_KEY=GROQ, TRANSCRIPTION_PROVIDER="custom") == [
        "TRANSCRIPTION_PROVIDER names custom but CUSTOM_STT_BASE_URL is not set: set it, or "
        "leave custom out of TRANSCRIPTION_PROVIDER"
    ]


def test_every_problem_is_reported_at_once_without_values() -> None:
    found = problems(
        GROQ_API_KEY=GROQ,
        GROQ_BASE_URL="ftp://example.com",
        DEEPGRAM_RATE_LIMIT=f"{GROQ}/min",
        TRANSCRIPTION_TIMEOUT="soon",
        TRANSCRIPTION_PROVIDERS="groq,whisper,openai",
    )
    assert len(found) == 5
    assert (
        "GROQ_BASE_URL is not a base URL: expected http(s)://<host>[:<port>]/<path>, "
        "e.g. http://localhost:8000/v1"
    ) in found
    assert any(
        line.startswith("DEEPGRAM_RATE_LIMIT is not a rate limit: expected") for line in found
    )
    assert any(line.startswith("TRANSCRIPTION_TIMEOUT: ") for line in found)
    assert found[-2:] == [
        "TRANSCRIPTION_PROVIDERS names 'whisper', which is not a provider: expected groq, "
        "deepgram, together, openai, local or custom (CUSTOM_STT_NAME)",
        "TRANSCRIPTION_PROVIDERS names openai but OPENAI_API_KEY is not set: set it, or leave "
        "openai out of TRANSCRIPTION_PROVIDERS",
    ]
    assert not any(GROQ in line or "ftp://" in line for line in found)


def test_with_no_key_the_local_model_is_the_provider(tmp_path: Path) -> None:
    settings = load()
    assert settings.order == ("local",)
    assert settings.local_only
    assert load(GROQ_API_KEY="   ").order == ("local",)  # blank is unset
    (local,) = build_providers(settings, data_dir=tmp_path)
    assert isinstance(local, LocalWhisperProvider)
    assert (local.name, local.model, local.device, local.data_dir) == (
        "local", "base", "auto", tmp_path,
    )  # fmt: skip
    tuned = load(
        LOCAL_WHISPER_MODEL=str(tmp_path), LOCAL_WHISPER_DEVICE="CPU",
        LOCAL_WHISPER_COMPUTE_TYPE="int8_float32", LOCAL_WHISPER_CONCURRENCY="2",
    )  # fmt: skip
    (local,) = build_providers(tuned)
    assert isinstance(local, LocalWhisperProvider)
    assert (local.spec, local.model, local.device, local.compute_type, local.concurrency) == (
        str(tmp_path), tmp_path.name, "cpu", "int8_float32", 2,
    )  # fmt: skip


def test_with_keys_local_goes_where_it_is_put() -> None:
    assert load(GROQ_API_KEY=GROQ).order == ("groq",)  # keys alone: no local model
    assert not load(GROQ_API_KEY=GROQ).local_only
    assert load(GROQ_API_KEY=GROQ, TRANSCRIPTION_PROVIDERS="groq,local").order == (
        "groq",
        "local",
    )
    assert load(GROQ_API_KEY=GROQ, TRANSCRIPTION_PROVIDER="local").order == ("local", "groq")
    # A local model set with keys: the last to take over.
    assert load(GROQ_API_KEY=GROQ, LOCAL_WHISPER_MODEL="small").order == ("groq", "local")


def test_local_settings_are_checked() -> None:
    found = problems(LOCAL_WHISPER_DEVICE="tpu", LOCAL_WHISPER_CONCURRENCY="0")
    assert any(
        line.startswith("LOCAL_WHISPER_DEVICE is not a device: expected auto, cpu, cuda")
        for line in found
    ), found
    assert any(line.startswith("LOCAL_WHISPER_CONCURRENCY") for line in found), found


def test_a_custom_name_must_not_shadow_a_provider() -> None:
    [line] = problems(
        CUSTOM_STT_NAME="groq", CUSTOM_STT_BASE_URL="http://x:1/v1", CUSTOM_STT_MODEL="m"
    )
    assert line.startswith("CUSTOM_STT_NAME is not a name for a custom provider")


def test_keys_are_secrets_everywhere() -> None:
    settings = load(
        **ALL_KEYS,
        CUSTOM_STT_BASE_URL="http://x:1/v1",
        CUSTOM_STT_MODEL="m",
        CUSTOM_STT_API_KEY="local-server-key-77c1",
    )
    keys = [*ALL_KEYS.values(), "local-server-key-77c1"]
    providers = build_providers(settings)
    shown = [repr(settings), str(settings), settings.model_dump_json(), repr(providers)]
    shown += [repr(provider) for provider in providers]
    for key in keys:
        assert redact(key) == "***"  # registered when read
        assert not any(key in text for text in shown)
    assert settings.groq_api_key is not None
    assert settings.groq_api_key.get_secret_value() == GROQ


def test_the_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"GROQ_API_KEY={GROQ}\nDEEPGRAM_API_KEY={DEEPGRAM}\nGROQ_MODEL=a\n")
    settings = load_provider_settings({"GROQ_MODEL": "whisper-large-v3-turbo"}, env_file)
    assert settings.order == ("groq", "deepgram")
    assert settings.groq_model == "whisper-large-v3-turbo"
    assert load_provider_settings({"OPENAI_API_KEY": OPENAI}, tmp_path / "missing").order == (
        "openai",
    )
    env_file.write_bytes(b"GROQ_API_KEY=\xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_provider_settings({}, env_file)


def test_constructed_directly_it_checks_itself() -> None:
    settings = ProviderSettings(DEEPGRAM_API_KEY=DEEPGRAM)
    assert settings.order == ("deepgram",)
    with pytest.raises(ValueError, match="OPENAI_API_KEY is not set"):
        ProviderSettings(DEEPGRAM_API_KEY=DEEPGRAM, TRANSCRIPTION_PROVIDER="openai")


async def test_the_chain_built_from_settings_transcribes(
    server: EmulatorServer, tmp_path: Path
) -> None:
    voice = await make_tone_audio(tmp_path / "voice.oga", [(0.5, 1.7), (2.5, 3.3)], 4.0, "ogg")
    settings = load(
        **ALL_KEYS,
        GROQ_BASE_URL=server.stt_url("groq"),
        DEEPGRAM_BASE_URL=server.stt_url("deepgram"),
        TOGETHER_BASE_URL=server.stt_url("together"),
        OPENAI_BASE_URL=server.stt_url("openai"),
        TRANSCRIPTION_PROVIDER="deepgram",
    )
    async with build_providers(settings) as providers:
        assert providers.names == ("deepgram", "groq", "together", "openai")
        for provider in providers:
            transcript = await provider.transcribe(voice)
            assert [round(s.start, 1) for s in transcript.segments] == [0.5, 2.5]
        transcript = await providers.transcribe(voice)
    assert transcript.provider == "deepgram"
    assert transcript.text == "Tone12. Tone8."
