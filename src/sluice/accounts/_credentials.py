"""The secrets an account is reached with: bot tokens and MTProto credentials.

Both are immutable value objects that never show their secret: ``repr``,
``str``, f-strings, logging and a pydantic ``model_dump`` all print
``***`` in its place. The secret comes out only through an explicit
``reveal...()`` call, made where a library needs it. The checks here are as
strict as Telegram, so a mistyped secret fails at start, not as a 401 later.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from sluice._exceptions import ConfigError
from sluice._redact import register_secret

__all__ = [
    "API_HASH_SHAPE",
    "API_ID_SHAPE",
    "BOT_TOKEN_SHAPE",
    "SESSION_SHAPE",
    "BotToken",
    "MTProtoCredential",
    "is_api_hash",
    "is_bot_token",
    "is_telethon_session",
    "parse_api_id",
]

BOT_TOKEN_SHAPE = "'<digits>:<35 characters of A-Z, a-z, 0-9, _ or ->'"  # noqa: S105 - a shape
API_ID_SHAPE = "a positive whole number (the api_id my.telegram.org shows)"
API_HASH_SHAPE = "32 hexadecimal characters, 0-9 and a-f (the api_hash my.telegram.org shows)"
SESSION_SHAPE = "the text Telethon's StringSession.save() returns"

# [0-9], not \d: \d also matches other scripts' digits, which Telegram rejects.
_BOT_TOKEN = re.compile(r"([1-9][0-9]{0,19}):[A-Za-z0-9_-]{35}")
_API_ID = re.compile(r"[1-9][0-9]{0,9}")
_API_ID_MAX = 2**31 - 1  # api_id is a signed 32-bit int in MTProto
_API_HASH = re.compile(r"[0-9a-fA-F]{32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
# Telethon's StringSession: "1", then urlsafe base64 of dc id (1 byte),
# IPv4 or IPv6 address (4 or 16), port (2) and auth key (256).
_SESSION_BYTES = {352: 263, 368: 275}


def is_bot_token(value: str) -> bool:
    """True when ``value`` has the shape of a token @BotFather issues."""
    return _BOT_TOKEN.fullmatch(value) is not None


def parse_api_id(value: str) -> int | None:
    """The api_id ``value`` spells, or None when it is not one."""
    if _API_ID.fullmatch(value) is None or int(value) > _API_ID_MAX:
        return None
    return int(value)


def is_api_hash(value: str) -> bool:
    """True when ``value`` is 32 hexadecimal characters."""
    return _API_HASH.fullmatch(value) is not None


def is_telethon_session(value: str) -> bool:
    """True when Telethon's ``StringSession(value)`` would load ``value``."""
    body = value[1:]
    if value[:1] != "1" or len(body) not in _SESSION_BYTES or not _BASE64URL.fullmatch(body):
        return False
    try:
        return len(base64.urlsafe_b64decode(body)) == _SESSION_BYTES[len(body)]
    except (binascii.Error, ValueError):
        return False


class _Frozen:
    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")


class BotToken(_Frozen):
    """A bot's token, ``<bot id>:<secret>``, with the secret kept out of sight.

    Parameters:
        token: the token @BotFather gave; its shape is checked as strictly as
            Telegram checks it, else :class:`~sluice.ConfigError`.
        source: where it was read from (e.g. ``"MULTITOKEN3"``), for messages.

    Prints as ``BotToken(123456:***)``; :meth:`reveal` returns the token for
    the library call that needs it. Equal when the tokens are equal.
    """

    __slots__ = ("_token", "bot_id", "source")

    bot_id: int
    source: str

    def __init__(self, token: str, source: str = "") -> None:
        match = _BOT_TOKEN.fullmatch(token) if isinstance(token, str) else None
        if match is None:
            # Never the value itself, nor any part of it: it may be a real secret.
            raise ConfigError(
                f"{source or 'the value'} is not a bot token: expected {BOT_TOKEN_SHAPE}"
            )
        object.__setattr__(self, "_token", token)
        object.__setattr__(self, "bot_id", int(match.group(1)))
        object.__setattr__(self, "source", source)
        # No register_secret(): redact() hides anything token-shaped already.

    def reveal(self) -> str:
        """The full token, for the one call that must send it (``Bot(token=...)``)."""
        token: str = self._token  # type: ignore[attr-defined]
        return token

    def __repr__(self) -> str:
        return f"BotToken({self.bot_id}:***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BotToken):
            return NotImplemented
        return self.reveal() == other.reveal()

    def __hash__(self) -> int:
        return hash(self.reveal())

    def __reduce__(self) -> tuple[Any, ...]:
        # Needed because __setattr__ refuses the default slot-by-slot restore.
        return (type(self), (self.reveal(), self.source))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(
            cls,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda token: f"{token.bot_id}:***", when_used="json"
            ),
        )


class MTProtoCredential(_Frozen):
    """An api_id/api_hash pair from my.telegram.org, and optionally a logged-in session.

    Parameters:
        api_id: the application's id (a positive integer).
        api_hash: its 32-hex-character hash, kept out of sight (and lowercased).
        session: a Telethon ``StringSession`` string, when one was saved; kept
            out of sight. Logging in again and again leads to long flood
            waits, so a saved session should be given whenever there is one.
        source: the variable the api_id was read from (e.g. ``"TELEGRAM_API_ID_2"``).

    The api_hash and session are registered with :func:`sluice.redact`'s
    registry, so logs hide them too. Equal when id, hash and session are equal.
    """

    __slots__ = ("_api_hash", "_session", "api_id", "source")

    api_id: int
    source: str

    def __init__(
        self, api_id: int, api_hash: str, session: str | None = None, source: str = ""
    ) -> None:
        where = f"{source}: " if source else ""
        if not isinstance(api_id, int) or isinstance(api_id, bool) or not 0 < api_id <= _API_ID_MAX:
            raise ConfigError(f"{where}api_id must be {API_ID_SHAPE}")
        if not isinstance(api_hash, str) or not is_api_hash(api_hash):
            raise ConfigError(f"{where}api_hash must be {API_HASH_SHAPE}")
        if session is not None and not (isinstance(session, str) and is_telethon_session(session)):
            raise ConfigError(f"{where}session must be {SESSION_SHAPE}")
        object.__setattr__(self, "api_id", api_id)
        # my.telegram.org issues lowercase hex; lowercasing makes one hash one
        # credential and gives Telegram the spelling it issued.
        object.__setattr__(self, "_api_hash", api_hash.lower())
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "source", source)
        register_secret(api_hash)  # as written, should a library echo it back
        register_secret(api_hash.lower())
        if session is not None:
            register_secret(session)

    def reveal_api_hash(self) -> str:
        """The api_hash, for the client constructor that needs it."""
        api_hash: str = self._api_hash  # type: ignore[attr-defined]
        return api_hash

    def reveal_session(self) -> str | None:
        """The session string, for ``StringSession(...)``; None when there is none."""
        session: str | None = self._session  # type: ignore[attr-defined]
        return session

    @property
    def has_session(self) -> bool:
        return self.reveal_session() is not None

    def __repr__(self) -> str:
        session = "***" if self.has_session else "None"
        return (
            f"MTProtoCredential(api_id={self.api_id}, api_hash=***, session={session}, "
            f"source={self.source!r})"
        )

    __str__ = __repr__

    def _key(self) -> tuple[int, str, str | None]:
        return (self.api_id, self.reveal_api_hash(), self.reveal_session())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MTProtoCredential):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (*self._key(), self.source))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(
            cls,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda credential: {
                    "api_id": credential.api_id,
                    "api_hash": "***",
                    "session": "***" if credential.has_session else None,
                    "source": credential.source,
                },
                when_used="json",
            ),
        )
