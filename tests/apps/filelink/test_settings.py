"""The bot's settings: no default secret, every problem named at once, no value shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice._exceptions import ConfigError
from sluice._redact import redact
from sluice.apps.filelink._settings import load_filelink_settings

SECRET = "settings-link-secret-0123456789abcdefgh"
GOOD = {
    "LINK_SECRET": SECRET,
    "STORAGE_CHANNEL": "-1001234567890",
    "PUBLIC_URL": "https://files.example.com/",
}


def _load(**env: str) -> object:
    return load_filelink_settings({**GOOD, **env}, env_file=None)


def test_a_complete_environment_loads_with_safe_defaults() -> None:
    settings = load_filelink_settings(GOOD, env_file=None)
    assert settings.storage_channel == -1001234567890
    assert settings.public_url == "https://files.example.com"
    assert (settings.host, settings.port, settings.streams_per_ip) == ("127.0.0.1", 8080, 4)
    assert settings.trusted_proxies == ()  # forwarded headers are believed from no one
    assert settings.link_ttl is None
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in redact(f"secret={SECRET}")


def test_without_a_secret_it_refuses_to_start_and_says_how_to_make_one() -> None:
    with pytest.raises(ConfigError) as caught:
        load_filelink_settings({"PUBLIC_URL": "ftp://x"}, env_file=None)
    text = str(caught.value)
    assert "LINK_SECRET is not set" in text
    assert "secrets.token_urlsafe(32)" in text
    assert "STORAGE_CHANNEL is not set" in text
    assert "PUBLIC_URL is not a base URL" in text


def test_a_short_secret_is_refused_without_being_shown() -> None:
    with pytest.raises(ConfigError, match="LINK_SECRET is too short") as caught:
        _load(LINK_SECRET="hunter2-hunter2")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("name", ["BIN_CHANNEL", "LOG_CHANNEL"])
def test_the_names_other_bots_use_for_the_storage_channel_are_accepted(name: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != "STORAGE_CHANNEL"}
    settings = load_filelink_settings({**env, name: "-1009876543210"}, env_file=None)
    assert settings.storage_channel == -1009876543210
    with pytest.raises(ConfigError, match=f"{name} is not a channel id"):
        load_filelink_settings({**env, name: "@mychannel"}, env_file=None)


def test_two_names_for_two_channels_are_refused() -> None:
    with pytest.raises(ConfigError, match="STORAGE_CHANNEL and BIN_CHANNEL name different"):
        _load(BIN_CHANNEL="-1009876543210")


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"AUTH_CHANNEL": "-1001234567890"}, "AUTH_CHANNEL and STORAGE_CHANNEL must be two"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8,nginx"}, "FORWARDED_ALLOW_IPS is not a list"),
        ({"MTPROTO_DC": "9,127.0.0.1,443"}, "MTPROTO_DC is not a data centre"),
        ({"MTPROTO_PUBLIC_KEY": "/nonexistent/key.pem"}, "MTPROTO_PUBLIC_KEY is not a file"),
        ({"PORT": "70000"}, "PORT"),
        ({"MAX_STREAMS_PER_IP": "0"}, "MAX_STREAMS_PER_IP"),
    ],
)
def test_bad_values_are_named(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _load(**env)


def test_optional_values_are_read(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN RSA PUBLIC KEY-----\n")
    settings = load_filelink_settings(
        {
            **GOOD, "AUTH_CHANNEL": "-1005555555555", "FORWARDED_ALLOW_IPS": "127.0.0.1, ::1",
            "MTPROTO_DC": "2,127.0.0.1,4430", "MTPROTO_PUBLIC_KEY": str(key), "LINK_TTL": "86400",
        },
        env_file=None,
    )  # fmt: skip
    assert settings.auth_channel == -1005555555555
    assert settings.trusted_proxies == ("127.0.0.1", "::1")
    assert settings.mtproto_dc == (2, "127.0.0.1", 4430)
    assert settings.mtproto_public_key == key
    assert settings.link_ttl == 86400
