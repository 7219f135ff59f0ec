"""sluice's settings, read once at start from the environment and a ``.env`` file.

Bot tokens and MTProto credentials are read under the names users of Telegram
bots already have (``BOT_TOKEN``, ``MULTITOKEN1``..., ``TELEGRAM_API_ID``...),
with no upper bound on how many. Every problem found is reported at once, in
one :class:`~sluice.ConfigError`, one line each, naming the variable and
what it should hold, and never echoing a value: the value may be a secret.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_serializer, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sluice._exceptions import ConfigError
from sluice._redact import register_secret
from sluice.accounts import (
    API_HASH_SHAPE,
    API_ID_SHAPE,
    BOT_TOKEN_SHAPE,
    SESSION_SHAPE,
    Account,
    BotToken,
    MTProtoCredential,
    is_api_hash,
    is_bot_token,
    is_telethon_session,
    parse_api_id,
)

__all__ = ["ExplicitSettings", "Settings", "load_settings", "read_environment"]

_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_DATABASE_SCHEMES = frozenset({"sqlite", "postgresql", "postgres"})


def _register_url_password(url: str) -> None:
    password = urllib.parse.urlsplit(url).password
    if password:
        register_secret(password)
        register_secret(urllib.parse.unquote(password))


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class ExplicitSettings(BaseSettings):
    """Settings built only from the values given: their loader reads the environment
    and the ``.env`` file itself (:func:`read_environment`), because numbered names
    (``MULTITOKEN7``) have no fixed field and tests pass a mapping instead."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class Settings(ExplicitSettings):
    """Everything sluice reads from the environment, validated.

    Read it with :func:`load_settings`. Constructed directly it takes keyword
    arguments only (field names or variable names) and reads nothing itself,
    so what it holds never depends on hidden state.

    Parameters:
        bot_tokens: from ``TELEGRAM_BOT_TOKEN``, ``BOT_TOKEN``, ``MULTITOKEN<n>``.
        mtproto_credentials: from ``TELEGRAM_API_ID``/``TELEGRAM_API_HASH``/
            ``TELEGRAM_SESSION``, then the same names with ``_2``, ``_3``...
        data_dir: ``SLUICE_DATA_DIR``; ``.sluice`` in the working directory by
            default; a relative path is taken from the working directory at load.
        redis_url: ``SLUICE_REDIS_URL``, for sharing limits, ledger and jobs.
        database_url: ``SLUICE_DATABASE_URL``; SQLite in ``data_dir`` when unset.
        api_server: ``TELEGRAM_API_SERVER``, base URL of a local Bot API server.
        api_local: ``TELEGRAM_API_LOCAL``: whether that server runs with ``--local``
            (files up to 2 GB, handed out as paths on its disk); true by default,
            false for one that hands files out as downloads (the emulator's default).
        owner_ids: ``SLUICE_OWNER_IDS``, comma-separated Telegram user ids.

    Printing it hides every secret, including a password in a URL.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        case_sensitive=True,
        extra="forbid",  # a misspelt keyword fails loudly instead of being dropped
        # Both the field name and the variable name: populate_by_name rather than
        # validate_by_name, which needs pydantic 2.11 while we support 2.7.
        populate_by_name=True,
    )

    bot_tokens: tuple[BotToken, ...] = ()
    mtproto_credentials: tuple[MTProtoCredential, ...] = ()
    data_dir: Path = Field(
        default_factory=lambda: Path.cwd() / ".sluice", validation_alias="SLUICE_DATA_DIR"
    )
    redis_url: str | None = Field(default=None, validation_alias="SLUICE_REDIS_URL")
    database_url: str | None = Field(default=None, validation_alias="SLUICE_DATABASE_URL")
    api_server: str | None = Field(default=None, validation_alias="TELEGRAM_API_SERVER")
    api_local: bool = Field(default=True, validation_alias="TELEGRAM_API_LOCAL")
    owner_ids: tuple[int, ...] = Field(default=(), validation_alias="SLUICE_OWNER_IDS")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else Path.cwd() / value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None:
            if urllib.parse.urlsplit(value).scheme not in _REDIS_SCHEMES or "://" not in value:
                raise ValueError("is not a Redis URL: expected redis://, rediss:// or unix://...")
            _register_url_password(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            dialect = urllib.parse.urlsplit(value).scheme.partition("+")[0]
            if dialect not in _DATABASE_SCHEMES or "://" not in value:
                raise ValueError(
                    "is not a database URL: expected sqlite:///<path> or "
                    "postgresql://<user>:<password>@<host>/<database>"
                )
            _register_url_password(value)
        return value

    @field_validator("api_server")
    @classmethod
    def _api_server(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urllib.parse.urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError(
                    "is not a Bot API server URL: expected http(s)://<host>[:<port>], "
                    "e.g. http://localhost:8081"
                )
            value = value.rstrip("/")
        return value

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _owner_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not all(re.fullmatch(r"[1-9][0-9]{0,19}", item) for item in items):
            raise ValueError(
                "is not a list of user ids: expected positive whole numbers "
                "separated by commas, e.g. 12345,67890"
            )
        return tuple(int(item) for item in items)

    @field_serializer("redis_url", "database_url", when_used="json")
    def _hide_password(self, value: str | None) -> str | None:
        # As pydantic's SecretStr: JSON (the dashboard, an API) never shows it;
        # Python-mode dumps keep the real URL for the code that connects.
        return None if value is None else _without_password(value)

    def accounts(self) -> list[Account]:
        """One bot :class:`~sluice.accounts.Account` per bot token, in order."""
        return [Account(id=token.bot_id, kind="bot") for token in self.bot_tokens]

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URLs may carry a password; the tokens and credentials hide themselves.
        for name, value in super().__repr_args__():
            if name in {"redis_url", "database_url"} and isinstance(value, str):
                yield name, _without_password(value)
            else:
                yield name, value


_MULTITOKEN = re.compile(r"MULTITOKEN([0-9]+)")
_SINGLE_TOKENS = ("TELEGRAM_BOT_TOKEN", "BOT_TOKEN")
_CREDENTIAL_PART = re.compile(r"TELEGRAM_(API_ID|API_HASH|SESSION)(?:_([0-9]+))?")
_CREDENTIAL_NUMBER = re.compile(r"[2-9]|[1-9][0-9]+")


def _read_bot_tokens(values: Mapping[str, str], problems: list[str]) -> tuple[BotToken, ...]:
    numbered = sorted(
        (int(match.group(1)), name)
        for name in values
        if (match := _MULTITOKEN.fullmatch(name)) is not None
    )
    names = [name for name in _SINGLE_TOKENS if name in values] + [name for _, name in numbered]
    tokens: list[BotToken] = []
    first_by_bot: dict[int, BotToken] = {}
    for name in names:
        value = values[name]
        if not is_bot_token(value):
            problems.append(f"{name} is not a bot token: expected {BOT_TOKEN_SHAPE}")
            continue
        token = BotToken(value, name)
        first = first_by_bot.setdefault(token.bot_id, token)
        if first is token:
            tokens.append(token)
        elif first != token:
            problems.append(
                f"{first.source} and {name} hold different tokens of the same bot "
                f"{token.bot_id}: a bot has one valid token at a time, keep the current one"
            )
        # else: the same token under another name is used once
    return tuple(tokens)


def _credential_names(number: int) -> tuple[str, str, str]:
    suffix = "" if number == 1 else f"_{number}"
    return (f"TELEGRAM_API_ID{suffix}", f"TELEGRAM_API_HASH{suffix}", f"TELEGRAM_SESSION{suffix}")


def _credential_numbers(values: Mapping[str, str], problems: list[str]) -> list[int]:
    numbers: set[int] = set()
    for name in sorted(values):
        match = _CREDENTIAL_PART.fullmatch(name)
        if match is None:
            continue
        part, number = match.groups()
        if number is None:
            numbers.add(1)
        elif _CREDENTIAL_NUMBER.fullmatch(number):
            numbers.add(int(number))
        else:
            base = f"TELEGRAM_{part}"
            problems.append(
                f"{name} is not a credential name: the first has no number ({base}), "
                f"the next ones are {base}_2, {base}_3 and so on"
            )
    return sorted(numbers)


def _read_credentials(
    values: Mapping[str, str], problems: list[str]
) -> tuple[MTProtoCredential, ...]:
    credentials: list[MTProtoCredential] = []
    hash_names: dict[int, tuple[str, str]] = {}  # api_id -> (variable, api_hash) first seen
    for number in _credential_numbers(values, problems):
        id_name, hash_name, session_name = _credential_names(number)
        api_id, api_hash, session = (values.get(n) for n in (id_name, hash_name, session_name))
        if api_id is None and api_hash is None:
            problems.append(
                f"{session_name} is set but {id_name} and {hash_name} are not: "
                "a session needs the api_id and api_hash it was made with"
            )
            continue
        if api_id is None or api_hash is None:
            missing, present = (id_name, hash_name) if api_id is None else (hash_name, id_name)
            problems.append(
                f"{missing} is missing: {present} is set, and a credential needs "
                "both an api_id and an api_hash"
            )
            continue
        parsed_id = parse_api_id(api_id)
        found = len(problems)
        if parsed_id is None:
            problems.append(f"{id_name} is not an api_id: expected {API_ID_SHAPE}")
        if not is_api_hash(api_hash):
            problems.append(f"{hash_name} is not an api_hash: expected {API_HASH_SHAPE}")
        if session is not None and not is_telethon_session(session):
            problems.append(
                f"{session_name} is not a Telethon session string: expected {SESSION_SHAPE}"
            )
        if parsed_id is None or len(problems) > found:
            continue
        first_hash_name, first_hash = hash_names.setdefault(parsed_id, (hash_name, api_hash))
        if first_hash.lower() != api_hash.lower():  # hex: one hash in either case
            problems.append(
                f"{first_hash_name} and {hash_name} differ for the same api_id {parsed_id}: "
                "an api_id has exactly one api_hash"
            )
            continue
        credential = MTProtoCredential(parsed_id, api_hash, session, id_name)
        if credential not in credentials:  # the same credential twice is used once
            credentials.append(credential)
    return tuple(credentials)


def read_environment(
    settings: type[BaseSettings],
    env: Mapping[str, str] | None,
    env_file: str | Path | None,
    problems: list[str],
) -> dict[str, str]:
    """The variables to read: ``env_file``'s (if any), overridden by ``env`` (or
    ``os.environ``), stripped, empty ones dropped; unreadable files go to ``problems``."""
    values = _present(_read_env_file(settings, env_file, problems)) if env_file is not None else {}
    values.update(_present(os.environ if env is None else env))
    return values


def _read_env_file(
    settings: type[BaseSettings], env_file: str | Path, problems: list[str]
) -> dict[str, str]:
    try:
        source = DotEnvSettingsSource(settings, env_file=env_file, case_sensitive=True)
    except UnicodeDecodeError:
        # Its text quotes the undecodable bytes, which may belong to a secret.
        problems.append(f"{env_file} is not UTF-8 text: save it as UTF-8")
        return {}
    except OSError as error:
        problems.append(f"{env_file} could not be read: {error.strerror or type(error).__name__}")
        return {}
    return {name: value for name, value in source.env_vars.items() if value is not None}


def _present(values: Mapping[str, str | None]) -> dict[str, str]:
    # Surrounding blanks are copy-paste accidents; an empty value counts as
    # unset, so an exported but empty variable does not hide the .env file's.
    return {name: value.strip() for name, value in values.items() if value and value.strip()}


def _build(
    values: Mapping[str, str],
    bot_tokens: tuple[BotToken, ...],
    credentials: tuple[MTProtoCredential, ...],
) -> tuple[Settings | None, list[str]]:
    aliases = [
        field.validation_alias
        for field in Settings.model_fields.values()
        if isinstance(field.validation_alias, str)
    ]
    fields: dict[str, Any] = {alias: values[alias] for alias in aliases if alias in values}
    try:
        settings = Settings(bot_tokens=bot_tokens, mtproto_credentials=credentials, **fields)
    except ValidationError as error:
        # Only the location and the message: the error's own text shows the input.
        problems = []
        for detail in error.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in detail["loc"]) or "settings"
            reason = detail.get("ctx", {}).get("error")
            # Our validators' ValueErrors read "is not a ...: expected ...".
            problems.append(f"{name} {reason}" if reason else f"{name}: {detail['msg']}")
        return None, problems
    return settings, []


def load_settings(
    env: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Read and validate sluice's settings.

    Parameters:
        env: the variables to read; ``os.environ`` when None.
        env_file: a ``.env`` file read first, whose values ``env`` overrides
            name by name; relative to the working directory; skipped when
            missing or None.

    Raises:
        ConfigError: listing every invalid or inconsistent variable, one per
            line, without any of their values.
    """
    problems: list[str] = []
    values = read_environment(Settings, env, env_file, problems)
    bot_tokens = _read_bot_tokens(values, problems)
    credentials = _read_credentials(values, problems)
    settings, field_problems = _build(values, bot_tokens, credentials)
    problems.extend(field_problems)
    if problems or settings is None:
        # Raised here, outside every except block, so that no exception that
        # saw a value (pydantic's ValidationError shows its input) is chained.
        raise ConfigError("\n".join(problems))
    return settings
