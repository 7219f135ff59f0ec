"""What the file-to-link bot's parts hand each other: a stored file, a link, a refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ByteSource", "Link", "LinkRefused", "Resolver", "StoredFile"]


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file kept in the storage channel (one per ``file_unique_id``).

    ``chat_id``/``message_id`` locate the stored copy: the durable reference every
    bot of the pool fetches the file (and a fresh file reference) through.
    """

    id: int
    unique_id: str
    file_id: str  # the Bot API file_id of the stored copy (for the Bot API source)
    kind: str  # document, video, audio, voice, photo, animation
    name: str
    mime: str
    size: int
    chat_id: int
    message_id: int
    created_at: float  # epoch seconds: the Last-Modified of its links


@dataclass(frozen=True, slots=True)
class Link:
    """One owner's link to a stored file."""

    id: int
    file: StoredFile
    owner_id: int
    name: str  # the name the owner sent it under
    epoch: int  # bumped when the link is deleted and made again: old tokens stay dead
    revoked: bool
    created_at: float


class LinkRefused(Exception):
    """A link that must not serve: ``status`` 403 (tampered, banned owner), 404
    (unknown) or 410 (expired, revoked, deleted); ``reason`` is safe to show."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Resolver(Protocol):
    async def resolve(self, token: str) -> StoredFile:
        """The file a link token serves, or :class:`LinkRefused`."""
        ...


class ByteSource(Protocol):
    def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of ``file`` in order; closing the iterator stops fetching."""
        ...
