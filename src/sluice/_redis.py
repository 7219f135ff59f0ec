"""What every Redis user in sluice shares (limits, jobs, cache): connecting without
leaking the password, removing a namespace's keys, and naming an outage.

Needs the ``redis`` extra; imported only by the modules that talk to Redis.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import redis
except ImportError as error:
    raise _extras.missing_extra("sluice's Redis connections", "redis", error) from None

import contextlib
import re
import urllib.parse
from collections.abc import Callable, Iterator

import redis.asyncio as aioredis
import redis.exceptions

from sluice._exceptions import ConfigError, ServiceUnavailable
from sluice._redact import redact, register_secret

__all__ = ["connect", "delete_prefixed", "reachable", "shown_url"]

_SCHEMES = ("redis://", "rediss://", "unix://")


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


_OUTAGE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    OSError,
)


@contextlib.contextmanager
def reachable(what: str, error: Callable[[str], ServiceUnavailable]) -> Iterator[None]:
    """Redis down, restarting or unreachable, said in sluice's terms: ``error`` of a
    message naming ``what`` could not be reached (the callers wait or report it)."""
    try:
        yield
    except _OUTAGE as exc:
        raise error(f"{what} unreachable: {type(exc).__name__}") from exc
