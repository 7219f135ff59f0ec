"""What the Redis backends share: connecting without leaking the password,
removing a namespace's keys, and coalescing concurrent calls into one."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import redis.asyncio as aioredis

from sluice._exceptions import ConfigError
from sluice._redact import redact, register_secret

__all__ = ["Coalescer", "connect", "delete_prefixed", "shown_url"]

_SCHEMES = ("redis://", "rediss://", "unix://")

A = TypeVar("A")
R = TypeVar("R")


def shown_url(url: str) -> str:
    """``url`` as it may appear in reprs and errors: any password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return redact(url)
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def connect(url: str) -> aioredis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://`` or ``unix://``), answering in str.

    The URL's password, if any, is registered as a secret first, so that no
    log record or redacted error shows it.
    """
    if not url.startswith(_SCHEMES):
        raise ConfigError(
            f"{shown_url(url)!r} is not a Redis URL: expected redis://, rediss:// or unix://..."
        )
    password = urllib.parse.urlsplit(url).password
    if password:
        register_secret(password)
        register_secret(urllib.parse.unquote(password))
    client: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
    return client


_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


async def delete_prefixed(client: aioredis.Redis, prefix: str) -> int:
    """Delete every key starting with ``prefix``; how many there were."""
    pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "*"
    deleted = 0
    batch: list[str] = []
    async for name in client.scan_iter(match=pattern, count=1000):
        batch.append(name)
        if len(batch) >= 500:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted


class Coalescer(Generic[A, R]):
    """Runs ``run`` once for all the calls made while the previous run was in flight.

    Many tasks finishing their jobs in the same moment then cost one round
    trip, not one each; a lone call waits no longer than its own round trip.
    """

    __slots__ = ("_flusher", "_pending", "_run")

    def __init__(self, run: Callable[[Sequence[A]], Awaitable[Sequence[R]]]) -> None:
        self._run = run
        self._pending: list[tuple[A, asyncio.Future[R]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, argument: A) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((argument, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait for the calls already made to be run."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._run([argument for argument, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._flusher = None
            # Cancelled mid-run (the loop is closing): nobody will answer these.
            for _, future in self._pending:
                future.cancel()
            self._pending.clear()
