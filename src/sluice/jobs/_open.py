"""Opening a job backend by URL."""

from __future__ import annotations

from sluice.jobs._backend import JobBackend

__all__ = ["open_backend"]


def open_backend(url: str, *, namespace: str | None = None) -> JobBackend:
    """A job backend for ``url``: ``redis://`` (Redis Streams), else SQL.

    SQL URLs: ``sqlite:///path/to/sluice.db`` (the default store) or
    ``postgresql://user@host/db``. ``namespace`` keeps several sets of jobs
    apart in one server: a PostgreSQL schema, a Redis key prefix (SQLite:
    use another file).
    """
    if url.startswith(("redis://", "rediss://", "unix://")):
        from sluice.jobs._redis import RedisJobBackend

        return RedisJobBackend.from_url(url, namespace=namespace)
    from sluice.jobs._sql import SqlJobBackend

    return SqlJobBackend.from_url(url, namespace=namespace)
