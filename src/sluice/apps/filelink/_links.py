"""Signed links: which link, which of its lives, until when, under an HMAC.

A token is ``<payload>.<tag>`` in URL-safe base64: the payload packs the link's
id, its epoch, its owner's epoch and an expiry; the tag is HMAC-SHA256 under a
key derived from ``LINK_SECRET``, compared in constant time. Nothing in a token
is guessable or derived from Telegram's public file ids, a link dies when it
is deleted (its epoch moves on), when its owner revokes all their links (the
owner's epoch moves on), when its owner is banned, or when it expires; it
survives restarts and bot token changes, as it names only sluice's own records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from sluice._exceptions import ConfigError
from sluice._redact import register_secret
from sluice.apps.filelink._model import Link, LinkRefused, StoredFile
from sluice.apps.filelink._records import Records
from sluice.store import Users

__all__ = ["MIN_SECRET_LENGTH", "Claims", "LinkResolver", "LinkSigner", "Links", "user_epoch"]

MIN_SECRET_LENGTH = 32
_VERSION = 1
_PAYLOAD = struct.Struct(">BQIIQ")  # version, link id, link epoch, owner epoch, expiry (0: never)
_TAG_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is out of reach
_MAX_TOKEN = 96  # checked before decoding anything
EPOCH_SETTING = "filelink_epoch"


@dataclass(frozen=True, slots=True)
class Claims:
    link_id: int
    epoch: int
    owner_epoch: int
    expires_at: int | None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Signs and checks tokens with ``secret`` (``LINK_SECRET``; at least 32 characters)."""

    __slots__ = ("_key",)

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"LINK_SECRET is too short: use at least {MIN_SECRET_LENGTH} random characters "
                '(python -c "import secrets; print(secrets.token_urlsafe(32))")'
            )
        register_secret(secret)
        self._key = hmac.new(
            secret.encode(), b"sluice filelink link key v1", hashlib.sha256
        ).digest()

    def __repr__(self) -> str:
        return "LinkSigner(secret=***)"

    def sign(self, claims: Claims) -> str:
        payload = _PAYLOAD.pack(
            _VERSION, claims.link_id, claims.epoch, claims.owner_epoch, claims.expires_at or 0
        )
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def verify(self, token: str) -> Claims:
        """The claims of a genuine token, else :class:`LinkRefused` (403)."""
        tampered = LinkRefused(403, "this link is not valid")
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise tampered
        encoded, _, tag_text = token.partition(".")
        try:
            payload, tag = _unb64(encoded), _unb64(tag_text)
        except (binascii.Error, ValueError):
            raise tampered from None
        if len(payload) != _PAYLOAD.size or not hmac.compare_digest(tag, self._tag(payload)):
            raise tampered
        version, link_id, epoch, owner_epoch, expires = _PAYLOAD.unpack(payload)
        if version != _VERSION:
            raise tampered
        return Claims(link_id, epoch, owner_epoch, expires or None)

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]


def user_epoch(settings: dict[str, object]) -> int:
    value = settings.get(EPOCH_SETTING, 0)
    return value if isinstance(value, int) else 0


class LinkResolver:
    """The file a token serves, checked against the store: the
    :class:`~sluice.apps.filelink._model.Resolver` the HTTP side uses."""

    def __init__(
        self, signer: LinkSigner, records: Records, users: Users,
        *, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.signer = signer
        self.records = records
        self.users = users
        self.clock = clock

    async def resolve(self, token: str) -> StoredFile:
        claims = self.signer.verify(token)
        if claims.expires_at is not None and self.clock() >= claims.expires_at:
            raise LinkRefused(410, "this link has expired")
        link = await self.records.get_link(claims.link_id)
        if link is None:
            raise LinkRefused(404, "no such file")
        if link.revoked or link.epoch != claims.epoch:
            raise LinkRefused(410, "this link was deleted by its owner")
        owner = await self.users.get(link.owner_id)
        if owner is not None and owner.banned:
            raise LinkRefused(403, "this link is no longer served")
        if user_epoch(owner.settings if owner is not None else {}) != claims.owner_epoch:
            raise LinkRefused(410, "this link was revoked by its owner")
        return link.file


class Links:
    """Makes the download and watch URLs of a link under ``public_url``.

    ``ttl``: seconds a link lives (``LINK_TTL``); None: until deleted or revoked.
    """

    def __init__(
        self, signer: LinkSigner, users: Users, public_url: str, *, ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.signer = signer
        self.users = users
        self.public_url = public_url.rstrip("/")
        self.ttl = ttl
        self.clock = clock

    async def token(self, link: Link) -> str:
        owner = await self.users.get(link.owner_id)
        expires = None if self.ttl is None else int(self.clock() + self.ttl)
        epoch = user_epoch(owner.settings if owner is not None else {})
        return self.signer.sign(Claims(link.id, link.epoch, epoch, expires))

    async def urls(self, link: Link) -> tuple[str, str]:
        """(download URL, watch URL) of ``link``."""
        token = await self.token(link)
        name = urllib.parse.quote(link.name or link.file.name or "file", safe="")
        return f"{self.public_url}/dl/{token}/{name}", f"{self.public_url}/watch/{token}/{name}"

    async def revoke_all(self, owner_id: int) -> None:
        """Every link the owner was given so far stops serving; new ones work."""
        owner = await self.users.get(owner_id)
        epoch = user_epoch(owner.settings if owner is not None else {})
        await self.users.update_settings(owner_id, {EPOCH_SETTING: epoch + 1})
