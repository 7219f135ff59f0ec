"""Which speech-to-text providers to use, read once at start like the rest of sluice's
settings (:mod:`sluice.config`): from the environment and a ``.env`` file.

Per provider (``GROQ``, ``DEEPGRAM``, ``TOGETHER``, ``OPENAI``): ``<P>_API_KEY``,
and optionally ``<P>_BASE_URL``, ``<P>_MODEL`` and ``<P>_RATE_LIMIT`` (``20/min``).
Any other OpenAI-compatible server: ``CUSTOM_STT_BASE_URL``,
``CUSTOM_STT_MODEL``, optionally ``CUSTOM_STT_API_KEY``, ``CUSTOM_STT_NAME``
(``custom``) and ``CUSTOM_STT_RATE_LIMIT``.

Whisper on this machine (``local``, the ``local-stt`` extra; :mod:`._local`):
``LOCAL_WHISPER_MODEL`` (the bundled ``base`` when unset, a directory, or a
size name), ``LOCAL_WHISPER_DEVICE`` (``auto``, ``cpu``, ``cuda``),
``LOCAL_WHISPER_COMPUTE_TYPE`` and ``LOCAL_WHISPER_CONCURRENCY``. With no key
and no custom server, ``local`` is the provider; with keys, it is used where
``TRANSCRIPTION_PROVIDERS`` names it (``groq,local``: it takes over when Groq
is rate limiting or down), or last when ``LOCAL_WHISPER_MODEL`` is set.

``TRANSCRIPTION_PROVIDERS`` is the failover order (comma-separated);
``TRANSCRIPTION_PROVIDER`` the default, tried first. Without either, every
configured provider is used in the order above. Keys are registered with
:func:`sluice.register_secret` as they are read, and no error shows a value.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    SettingsConfigDict,
)

from sluice._exceptions import ConfigError
from sluice._redact import register_secret
from sluice.apps.transcribe._circuit import FailoverConfig
from sluice.apps.transcribe._deepgram import DeepgramProvider
from sluice.apps.transcribe._failover import Providers
from sluice.apps.transcribe._local import DEVICES, LOCAL, LocalWhisperProvider
from sluice.apps.transcribe._openai_compat import CUSTOM, PRESETS, OpenAICompatibleProvider
from sluice.apps.transcribe._providers import Clock, Provider, RateLimit, Sleep
from sluice.config import ExplicitSettings, read_environment

__all__ = ["PROVIDER_NAMES", "ProviderSettings", "build_providers", "load_provider_settings"]

# Also the default failover order when TRANSCRIPTION_PROVIDERS is not set.
_REMOTE = ("groq", "deepgram", "together", "openai")
PROVIDER_NAMES = (*_REMOTE, LOCAL)
_DEFAULT_DATA_DIR = Path(".sluice")
_CUSTOM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class ProviderSettings(ExplicitSettings):
    """The speech-to-text providers' settings, validated.

    Read them with :func:`load_provider_settings`; constructed directly it
    takes keyword arguments only (field or variable names) and reads nothing.
    ``order`` is the failover order it resolves to, the default first.
    Printing it shows no key.
    """

    model_config = SettingsConfigDict(
        frozen=True, case_sensitive=True, extra="forbid", populate_by_name=True
    )

    default_provider: str | None = Field(default=None, validation_alias="TRANSCRIPTION_PROVIDER")
    failover_order: tuple[str, ...] = Field(default=(), validation_alias="TRANSCRIPTION_PROVIDERS")
    timeout: float = Field(default=300.0, gt=0, validation_alias="TRANSCRIPTION_TIMEOUT")

    groq_api_key: SecretStr | None = Field(default=None, validation_alias="GROQ_API_KEY")
    groq_base_url: str | None = Field(default=None, validation_alias="GROQ_BASE_URL")
    groq_model: str | None = Field(default=None, validation_alias="GROQ_MODEL")
    groq_rate_limit: RateLimit | None = Field(default=None, validation_alias="GROQ_RATE_LIMIT")

    deepgram_api_key: SecretStr | None = Field(default=None, validation_alias="DEEPGRAM_API_KEY")
    deepgram_base_url: str | None = Field(default=None, validation_alias="DEEPGRAM_BASE_URL")
    deepgram_model: str | None = Field(default=None, validation_alias="DEEPGRAM_MODEL")
    deepgram_rate_limit: RateLimit | None = Field(
        default=None, validation_alias="DEEPGRAM_RATE_LIMIT"
    )

    together_api_key: SecretStr | None = Field(default=None, validation_alias="TOGETHER_API_KEY")
    together_base_url: str | None = Field(default=None, validation_alias="TOGETHER_BASE_URL")
    together_model: str | None = Field(default=None, validation_alias="TOGETHER_MODEL")
    together_rate_limit: RateLimit | None = Field(
        default=None, validation_alias="TOGETHER_RATE_LIMIT"
    )

    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    openai_model: str | None = Field(default=None, validation_alias="OPENAI_MODEL")
    openai_rate_limit: RateLimit | None = Field(default=None, validation_alias="OPENAI_RATE_LIMIT")

    custom_name: str = Field(default="custom", validation_alias="CUSTOM_STT_NAME")
    custom_api_key: SecretStr | None = Field(default=None, validation_alias="CUSTOM_STT_API_KEY")
    custom_base_url: str | None = Field(default=None, validation_alias="CUSTOM_STT_BASE_URL")
    custom_model: str | None = Field(default=None, validation_alias="CUSTOM_STT_MODEL")
    custom_rate_limit: RateLimit | None = Field(
        default=None, validation_alias="CUSTOM_STT_RATE_LIMIT"
    )

    local_model: str | None = Field(default=None, validation_alias="LOCAL_WHISPER_MODEL")
    local_device: str = Field(default="auto", validation_alias="LOCAL_WHISPER_DEVICE")
    local_compute_type: str | None = Field(
        default=None, validation_alias="LOCAL_WHISPER_COMPUTE_TYPE"
    )
    local_concurrency: int | None = Field(
        default=None, ge=1, validation_alias="LOCAL_WHISPER_CONCURRENCY"
    )

    _order: tuple[str, ...] = PrivateAttr(default=())

    @field_validator(
        "groq_api_key", "deepgram_api_key", "together_api_key", "openai_api_key", "custom_api_key"
    )
    @classmethod
    def _register_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            register_secret(value.get_secret_value())
        return value

    @field_validator(
        "groq_base_url", "deepgram_base_url", "together_base_url", "openai_base_url",
        "custom_base_url",
    )  # fmt: skip
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urllib.parse.urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(
                    "is not a base URL: expected http(s)://<host>[:<port>]/<path>, "
                    "e.g. http://localhost:8000/v1"
                )
            value = value.rstrip("/")
        return value

    @field_validator(
        "groq_rate_limit", "deepgram_rate_limit", "together_rate_limit", "openai_rate_limit",
        "custom_rate_limit", mode="before",
    )  # fmt: skip
    @classmethod
    def _rate_limit(cls, value: object) -> object:
        return RateLimit.parse(value) if isinstance(value, str) else value

    @field_validator("failover_order", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return tuple(str(item).strip().lower() for item in value if str(item).strip())
        return value

    @field_validator("default_provider")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return value.strip().lower() if value is not None else None

    @field_validator("local_device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in DEVICES:
            raise ValueError(f"is not a device: expected {', '.join(DEVICES)}")
        return value

    @field_validator("local_model", "local_compute_type")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("custom_name")
    @classmethod
    def _custom_name(cls, value: str) -> str:
        value = value.strip().lower()
        if not _CUSTOM_NAME.fullmatch(value) or value in PROVIDER_NAMES:
            raise ValueError(
                "is not a name for a custom provider: expected lowercase letters, digits, "
                f"'-' or '_', starting with a letter, other than {', '.join(PROVIDER_NAMES)}"
            )
        return value

    @model_validator(mode="after")
    def _resolve_order(self) -> ProviderSettings:
        order, problems = _resolve_order(
            self.default_provider,
            self.failover_order,
            self._remote(),
            self.custom_name,
            custom_model=self.custom_base_url is None or bool(self.custom_model),
            local_model=self.local_model is not None,
        )
        if problems:
            raise ValueError("\n".join(problems))
        self._order = order
        return self

    @property
    def order(self) -> tuple[str, ...]:
        """The failover order: the default provider first."""
        return self._order

    def _remote(self) -> tuple[str, ...]:
        names = [name for name in _REMOTE if getattr(self, f"{name}_api_key") is not None]
        if self.custom_base_url is not None:
            names.append(self.custom_name)
        return tuple(names)

    def configured(self) -> tuple[str, ...]:
        """Every provider that may be used: those with a key (a custom one: with a base
        URL), in the default order, and ``local`` (always available: it needs no key)."""
        return (*self._remote(), LOCAL)

    @property
    def local_only(self) -> bool:
        """No key and no custom server: the bot transcribes on this machine."""
        return self.order == (LOCAL,)

    def provider(
        self,
        name: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        max_wait: float = 5.0,
        data_dir: Path = _DEFAULT_DATA_DIR,
    ) -> Provider:
        """A new provider named ``name``, as these settings describe it (``data_dir``:
        where the local model's files are kept)."""
        field = "custom" if name == self.custom_name else name
        if name not in self.configured():
            raise ConfigError(f"{name} is not a configured speech-to-text provider")
        if name == LOCAL:
            return LocalWhisperProvider(
                data_dir=data_dir, model=self.local_model, device=self.local_device,
                compute_type=self.local_compute_type, concurrency=self.local_concurrency,
                clock=clock, sleep=sleep, max_wait=max_wait,
            )  # fmt: skip
        key: SecretStr | None = getattr(self, f"{field}_api_key")
        options: dict[str, Any] = {
            "base_url": getattr(self, f"{field}_base_url"),
            "model": getattr(self, f"{field}_model"),
            "rate_limit": getattr(self, f"{field}_rate_limit"),
            "timeout": self.timeout,
            "clock": clock,
            "sleep": sleep,
            "max_wait": max_wait,
        }
        secret = key.get_secret_value() if key is not None else ""
        if name == "deepgram":
            return DeepgramProvider(secret, **options)
        if field == "custom":
            return OpenAICompatibleProvider(CUSTOM, secret, name=name, **options)
        return OpenAICompatibleProvider(PRESETS[name], secret, **options)


def _resolve_order(
    default: str | None,
    failover_order: tuple[str, ...],
    remote: tuple[str, ...],
    custom_name: str,
    *,
    custom_model: bool,
    local_model: bool = False,
) -> tuple[tuple[str, ...], list[str]]:
    """The failover order, the default first, and what is wrong with the names given.

    ``remote``: the providers with a key (or a custom server). ``local`` needs none:
    it is the provider when there is no other, and last when a local model is set."""
    configured = (*remote, LOCAL)
    problems: list[str] = []
    if not custom_model:
        problems.append(
            "CUSTOM_STT_MODEL is missing: CUSTOM_STT_BASE_URL is set, and the server "
            "needs the name of the model to run"
        )
    named = [("TRANSCRIPTION_PROVIDER", default)] if default else []
    named += [("TRANSCRIPTION_PROVIDERS", name) for name in failover_order]
    for variable, name in named:
        if name not in (*PROVIDER_NAMES, custom_name):
            problems.append(
                f"{variable} names {name!r}, which is not a provider: expected "
                f"{', '.join(PROVIDER_NAMES)} or {custom_name} (CUSTOM_STT_NAME)"
            )
        elif name not in configured:
            needed = "CUSTOM_STT_BASE_URL" if name == custom_name else f"{name.upper()}_API_KEY"
            problems.append(
                f"{variable} names {name} but {needed} is not set: set it, or leave "
                f"{name} out of {variable}"
            )
    order = [default] if default else []
    order += failover_order or ((*remote, LOCAL) if local_model or not remote else remote)
    return tuple(dict.fromkeys(order)), problems  # the first mention of each counts


def _raw_order_problems(values: Mapping[str, str]) -> list[str]:
    """The order's problems from the raw variables, for when a field failed to parse."""
    custom_name = values.get("CUSTOM_STT_NAME", "custom").strip().lower()
    remote = tuple(name for name in _REMOTE if f"{name.upper()}_API_KEY" in values)
    if "CUSTOM_STT_BASE_URL" in values:
        remote += (custom_name,)
    default = values.get("TRANSCRIPTION_PROVIDER", "").strip().lower() or None
    raw = values.get("TRANSCRIPTION_PROVIDERS", "").split(",")
    order = tuple(name.strip().lower() for name in raw if name.strip())
    has_model = "CUSTOM_STT_BASE_URL" not in values or "CUSTOM_STT_MODEL" in values
    return _resolve_order(default, order, remote, custom_name, custom_model=has_model)[1]


def build_providers(
    settings: ProviderSettings,
    *,
    config: FailoverConfig | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    data_dir: Path = _DEFAULT_DATA_DIR,
) -> Providers:
    """The failover chain ``settings`` describe, every part on the same clock."""
    config = config or FailoverConfig()
    providers = [
        settings.provider(
            name, clock=clock, sleep=sleep, max_wait=config.max_wait, data_dir=data_dir
        )
        for name in settings.order
    ]
    return Providers(providers, config=config, clock=clock, sleep=sleep)


def load_provider_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> ProviderSettings:
    """Read and validate the speech-to-text providers' settings.

    Parameters:
        env: the variables to read; ``os.environ`` when None.
        env_file: a ``.env`` file read first, whose values ``env`` overrides;
            skipped when missing or None.

    Raises:
        ConfigError: every invalid or inconsistent variable, one per line,
            without their values.
    """
    problems: list[str] = []
    values = read_environment(ProviderSettings, env, env_file, problems)
    aliases = [
        field.validation_alias
        for field in ProviderSettings.model_fields.values()
        if isinstance(field.validation_alias, str)
    ]
    fields: dict[str, Any] = {alias: values[alias] for alias in aliases if alias in values}
    settings: ProviderSettings | None = None
    try:
        settings = ProviderSettings(**fields)
    except ValidationError as error:
        # Only where and why: the error's own text shows the input, maybe a key.
        details = error.errors(include_url=False, include_input=False)
        for detail in details:
            name = ".".join(str(part) for part in detail["loc"])
            reason = detail.get("ctx", {}).get("error")
            if not name:
                problems.append(str(reason) if reason else detail["msg"])
            else:
                problems.append(f"{name} {reason}" if reason else f"{name}: {detail['msg']}")
        if all(detail["loc"] for detail in details):
            # A field failed, so the order was never checked: check it now, so
            # that every problem is reported at once.
            problems.extend(_raw_order_problems(values))
    if problems or settings is None:
        # Raised outside the except block: nothing that saw a value is chained.
        raise ConfigError("\n".join(problems))
    return settings
