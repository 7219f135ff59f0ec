"""The result cache in the SQL store's ``cache_entries`` table (SQLite or PostgreSQL).

Each entry keeps its JSON text, its size in bytes, when it expires and when
it was last used. A hit updates ``last_used`` in the same statement that
reads the value; a put stores the entry, drops the expired ones, and evicts
the least recently used until the total size is within ``max_bytes``, all in
one transaction. Puts are serialised (SQLite: the write lock; PostgreSQL: the
advisory lock ``cache``), so that two of them cannot both see room that only
one of them has. The total is summed over the table on each put: puts follow
work that took seconds (a transcription), so that scan is not what counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from sluice.cache._base import Cache
from sluice.store import Store, cache_entries_table

__all__ = ["SqlCache"]

_t = cache_entries_table.c
_EVICT_PAGE = 100  # least recently used entries looked at a time while evicting


class SqlCache(Cache):
    """A :class:`~sluice.cache.Cache` in a :class:`~sluice.store.Store`.

    Parameters:
        store: the store; :meth:`setup` migrates it. :meth:`close` closes it
            only if this cache opened it (:meth:`from_url`).
        max_bytes, default_ttl, clock: as for every :class:`~sluice.cache.Cache`.
    """

    def __init__(
        self,
        store: Store,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
        owns_store: bool = False,
    ) -> None:
        super().__init__(max_bytes=max_bytes, default_ttl=default_ttl, clock=clock)
        self.store = store
        self._owns_store = owns_store

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str | None = None,
        max_bytes: int = 512 * 1024 * 1024,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> SqlCache:
        """A cache on its own store: see :meth:`sluice.store.Store.open`."""
        return cls(
            Store.open(url, namespace=namespace),
            max_bytes=max_bytes,
            default_ttl=default_ttl,
            clock=clock,
            owns_store=True,
        )

    def __repr__(self) -> str:
        return f"SqlCache({self.store!r}, max_bytes={self.max_bytes})"

    async def setup(self) -> None:
        await self.store.setup()

    async def close(self) -> None:
        if self._owns_store:
            await self.store.close()

    async def drop(self) -> None:
        """Remove every table of the store's namespace (tests, uninstalling)."""
        await self.store.drop()

    async def _get(self, kind: str, key: str) -> Any | None:
        now = self.clock()
        touch = (
            sa.update(cache_entries_table)
            .where(_t.kind == kind, _t.key == key, _live(now))
            .values(last_used=now)
            .returning(_t.value)
        )
        async with self.store.write() as conn:
            data = await conn.scalar(touch)
        return None if data is None else json.loads(data)

    async def _put(self, kind: str, key: str, data: str, ttl: float | None) -> None:
        now = self.clock()
        entry = {
            "value": data,
            "size": len(data.encode()),
            "created_at": now,
            "expires_at": None if ttl is None else now + ttl,
            "last_used": now,
        }
        upsert = (
            self.store.insert(cache_entries_table)
            .values(kind=kind, key=key, **entry)
            .on_conflict_do_update(index_elements=[_t.kind, _t.key], set_=entry)
        )
        async with self.store.write("cache") as conn:
            await conn.execute(upsert)
            await conn.execute(sa.delete(cache_entries_table).where(sa.not_(_live(now))))
            total = await conn.scalar(sa.select(sa.func.coalesce(sa.func.sum(_t.size), 0)))
            excess = int(total or 0) - self.max_bytes
            while excess > 0:
                # The entry just put is the most recent one; it goes last (never,
                # since a value larger than the whole cap is not stored).
                oldest = (
                    await conn.execute(
                        sa.select(_t.kind, _t.key, _t.size)
                        .where(sa.tuple_(_t.kind, _t.key) != sa.tuple_(kind, key))
                        .order_by(_t.last_used, _t.created_at, _t.kind, _t.key)
                        .limit(_EVICT_PAGE)
                    )
                ).all()
                if not oldest:
                    break
                evicted = []
                for row in oldest:
                    evicted.append((row.kind, row.key))
                    excess -= row.size
                    if excess <= 0:
                        break
                await conn.execute(
                    sa.delete(cache_entries_table).where(sa.tuple_(_t.kind, _t.key).in_(evicted))
                )

    async def delete(self, kind: str, key: str) -> None:
        await self._ready()
        async with self.store.write() as conn:
            await conn.execute(sa.delete(cache_entries_table).where(_t.kind == kind, _t.key == key))

    async def clear(self) -> None:
        await self._ready()
        async with self.store.write("cache") as conn:
            await conn.execute(sa.delete(cache_entries_table))

    async def size(self) -> tuple[int, int]:
        await self._ready()
        now = self.clock()
        async with self.store.read() as conn:
            row = (
                await conn.execute(
                    sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(_t.size), 0)).where(
                        _live(now)
                    )
                )
            ).one()
        return int(row[0]), int(row[1])


def _live(now: float) -> sa.ColumnElement[bool]:
    return sa.or_(_t.expires_at.is_(None), _t.expires_at > now)
