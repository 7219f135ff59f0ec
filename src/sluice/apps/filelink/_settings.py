"""The file-to-link bot's own settings, read once at start beside sluice's
(:mod:`sluice.config` reads the tokens, MTProto credentials and store).

``LINK_SECRET`` has no default: the bot refuses to start without one.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from sluice._exceptions import ConfigError
from sluice._redact import register_secret
from sluice.apps.filelink._links import MIN_SECRET_LENGTH
from sluice.config import ExplicitSettings, read_environment

__all__ = ["FilelinkSettings", "load_filelink_settings"]

_CHANNEL_NAMES = ("STORAGE_CHANNEL", "BIN_CHANNEL", "LOG_CHANNEL")
_DC = re.compile(r"([1-5]),([^,\s]+),([0-9]{1,5})")


class FilelinkSettings(ExplicitSettings):
    """What ``sluice run filelink`` needs besides the tokens and the store.

    Printing it shows no secret.
    """

    model_config = SettingsConfigDict(
        frozen=True, case_sensitive=True, extra="forbid", populate_by_name=True
    )

    link_secret: SecretStr = Field(validation_alias="LINK_SECRET")
    storage_channel: int = Field(validation_alias="STORAGE_CHANNEL")
    auth_channel: int | None = Field(default=None, validation_alias="AUTH_CHANNEL")
    public_url: str = Field(validation_alias="PUBLIC_URL")
    host: str = Field(default="127.0.0.1", validation_alias="HOST")
    port: int = Field(default=8080, ge=0, le=65535, validation_alias="PORT")
    link_ttl: float | None = Field(default=None, gt=0, validation_alias="LINK_TTL")
    # Proxies whose X-Forwarded-For / -Proto are believed (uvicorn's forwarded_allow_ips).
    trusted_proxies: tuple[str, ...] = Field(default=(), validation_alias="FORWARDED_ALLOW_IPS")
    streams_per_ip: int = Field(default=4, ge=1, validation_alias="MAX_STREAMS_PER_IP")
    request_timeout: float = Field(default=300.0, gt=0, validation_alias="REQUEST_TIMEOUT")
    # Where a pool session that knows no data centre yet connects: "2,127.0.0.1,4430"
    # (the emulator, Telegram's test servers); Telegram's own when unset.
    mtproto_dc: tuple[int, str, int] | None = Field(default=None, validation_alias="MTPROTO_DC")
    # A PEM file of one more server key to trust (the emulator's; Telegram's are built in).
    mtproto_public_key: Path | None = Field(default=None, validation_alias="MTPROTO_PUBLIC_KEY")

    @field_validator("link_secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        register_secret(secret)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"is too short: use at least {MIN_SECRET_LENGTH} random characters "
                '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        return value

    @field_validator("storage_channel", "auth_channel", mode="before")
    @classmethod
    def _channel(cls, value: object) -> object:
        if isinstance(value, str) and not re.fullmatch(r"-100[0-9]{5,15}", value.strip()):
            raise ValueError("is not a channel id: expected -100 followed by digits")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("is not a base URL: expected https://files.example.com")
        return value.rstrip("/")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        items = tuple(item.strip() for item in value.split(",") if item.strip())
        for item in items:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    "is not a list of proxy addresses: expected 127.0.0.1,10.0.0.0/8 or *"
                ) from None
        return items

    @field_validator("mtproto_dc", mode="before")
    @classmethod
    def _dc(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        match = _DC.fullmatch(value.strip())
        if match is None:
            raise ValueError("is not a data centre: expected <dc id>,<host>,<port>")
        return (int(match[1]), match[2], int(match[3]))

    @field_validator("mtproto_public_key")
    @classmethod
    def _public_key(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("is not a file: expected the path of a PEM public key")
        return value

    @model_validator(mode="after")
    def _channels_differ(self) -> FilelinkSettings:
        if self.auth_channel is not None and self.auth_channel == self.storage_channel:
            raise ValueError("AUTH_CHANNEL and STORAGE_CHANNEL must be two channels")
        return self


def load_filelink_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> FilelinkSettings:
    """Read and validate the bot's settings; :class:`~sluice.ConfigError` lists every
    problem, one per line, without any value."""
    problems: list[str] = []
    values = read_environment(FilelinkSettings, env, env_file, problems)
    # The names other file-stream bots use for the storage channel are accepted too.
    given = [name for name in _CHANNEL_NAMES if name in values]
    if len({values[name] for name in given}) > 1:
        problems.append(f"{' and '.join(given)} name different channels: set only STORAGE_CHANNEL")
    elif given:
        values["STORAGE_CHANNEL"] = values[given[0]]
    storage_name = given[0] if given else "STORAGE_CHANNEL"
    fields: dict[str, Any] = {
        alias: values[alias]
        for field in FilelinkSettings.model_fields.values()
        if isinstance(alias := field.validation_alias, str) and alias in values
    }
    settings: FilelinkSettings | None = None
    try:
        settings = FilelinkSettings(**fields)
    except ValidationError as error:
        for detail in error.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in detail["loc"]) or "settings"
            name = storage_name if name == "STORAGE_CHANNEL" else name
            reason = detail.get("ctx", {}).get("error")
            if detail["type"] == "missing":
                problems.append(f"{name} is not set: {_NEEDED.get(name, 'it is required')}")
            else:
                problems.append(f"{name} {reason}" if reason else f"{name}: {detail['msg']}")
    if problems or settings is None:
        raise ConfigError("\n".join(problems))
    return settings


_NEEDED = {
    "LINK_SECRET": "links are signed with it and there is no default; generate one with "
    'python -c "import secrets; print(secrets.token_urlsafe(32))"',
    "STORAGE_CHANNEL": "the channel (-100...) where the bot keeps one copy of every file; "
    "add every bot of the pool to it as an admin",
    "PUBLIC_URL": "the address users reach the links at, e.g. https://files.example.com",
}
