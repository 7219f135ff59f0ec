"""Opening a cache by URL."""

from __future__ import annotations

import time
from collections.abc import Callable

from sluice.cache._base import Cache

__all__ = ["open_cache"]


def open_cache(
    url: str,
    *,
    namespace: str | None = None,
    max_bytes: int = 512 * 1024 * 1024,
    default_ttl: float | None = None,
    clock: Callable[[], float] = time.time,
) -> Cache:
    """A cache for ``url``: ``redis://`` (Redis), else the SQL store's database.

    ``namespace`` keeps several caches apart in one server (a PostgreSQL
    schema, a Redis key prefix).
    """
    options = {"max_bytes": max_bytes, "default_ttl": default_ttl, "clock": clock}
    if url.startswith(("redis://", "rediss://", "unix://")):
        from sluice.cache._redis import RedisCache

        return RedisCache.from_url(url, namespace=namespace, **options)  # type: ignore[arg-type]
    from sluice.cache._sql import SqlCache

    return SqlCache.from_url(url, namespace=namespace, **options)  # type: ignore[arg-type]
