"""The result cache in Redis, shared by every process that uses the same server.

Keys, all under ``<namespace>:cache:``: each value is a string ``v:<name>``
(``name`` = length of the kind, the kind and the key, so no two entries
collide); ``sizes`` maps names to their size in bytes and ``bytes`` holds
the total; ``lru`` orders names by last use and ``expiry`` by expiry time.

Times come from the cache's clock (tests inject one), so expiry is decided
by ``expiry``, not by Redis; each value also gets a Redis TTL a minute past
its expiry, a backstop for entries nobody reads again. A value that
vanished anyway (the backstop, or Redis evicting under ``maxmemory``) reads
as a miss and its bookkeeping is cleaned up then. Every change runs in a Lua
script, so the total stays exact under concurrent writers, and ``put``
evicts the least recently used entries until the total is within
``max_bytes``.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import redis  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("the Redis cache", "redis", error) from None

import json
import math
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from sluice._exceptions import ConfigError
from sluice._redis import connect, delete_prefixed, shown_url
from sluice.cache._base import Cache

__all__ = ["RedisCache"]

_BACKSTOP_GRACE_MS = 60_000
_CLEAR_CHUNK = 1000

_PRELUDE = """
local P = ARGV[1]
local function key(...)
  return P .. table.concat({...}, ':')
end

local function remove(name)
  local size = redis.call('HGET', key('sizes'), name)
  if not size then return 0 end
  redis.call('HDEL', key('sizes'), name)
  redis.call('DECRBY', key('bytes'), size)
  redis.call('DEL', key('v', name))
  redis.call('ZREM', key('lru'), name)
  redis.call('ZREM', key('expiry'), name)
  return 1
end

local function sweep(now, limit)
  local gone = redis.call('ZRANGEBYSCORE', key('expiry'), '-inf', now, 'LIMIT', 0, limit)
  for _, name in ipairs(gone) do remove(name) end
  return #gone
end
"""

# ARGV: prefix, name, now. The value, marked just used; nil if absent or expired.
_GET = """
local name, now = ARGV[2], ARGV[3]
if not redis.call('HGET', key('sizes'), name) then return nil end
local expires = redis.call('ZSCORE', key('expiry'), name)
if expires and tonumber(expires) <= tonumber(now) then
  remove(name)
  return nil
end
local value = redis.call('GET', key('v', name))
if not value then
  remove(name)
  return nil
end
redis.call('ZADD', key('lru'), now, name)
return value
"""

# ARGV: prefix, name, value, now, expires_at ('' never), max_bytes,
# backstop TTL in ms ('' none).
_PUT = """
local name, value, now, expires = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local max_bytes = tonumber(ARGV[6])
sweep(now, 100)
remove(name)
if ARGV[7] == '' then
  redis.call('SET', key('v', name), value)
else
  redis.call('SET', key('v', name), value, 'PX', ARGV[7])
end
redis.call('HSET', key('sizes'), name, #value)
local total = redis.call('INCRBY', key('bytes'), #value)
redis.call('ZADD', key('lru'), now, name)
if expires ~= '' then redis.call('ZADD', key('expiry'), expires, name) end
while total > max_bytes do
  local victim = nil
  for _, candidate in ipairs(redis.call('ZRANGE', key('lru'), 0, 1)) do
    if candidate ~= name then
      victim = candidate
      break
    end
  end
  if not victim then break end
  remove(victim)
  total = tonumber(redis.call('GET', key('bytes')))
end
return total
"""

# ARGV: prefix, name.
_DELETE = """
return remove(ARGV[2])
"""

# ARGV: prefix. Forgets up to a chunk of entries; how many it forgot.
_CLEAR = f"""
local names = redis.call('ZRANGE', key('lru'), 0, {_CLEAR_CHUNK - 1})
for _, name in ipairs(names) do remove(name) end
return #names
"""

# ARGV: prefix, now. Entries and bytes stored, expired ones swept first.
_SIZE = """
while sweep(ARGV[2], 1000) == 1000 do end
return {redis.call('HLEN', key('sizes')), tonumber(redis.call('GET', key('bytes'))) or 0}
"""


class RedisCache(Cache):
    """The cache in Redis.

    Parameters:
        client: a ``redis.asyncio`` client answering in ``str`` (``decode_responses=True``).
        namespace: keeps caches apart in one server; keys start with
            ``<namespace>:cache:`` ("sluice" by default).
        url: what :func:`repr` shows of the server (never a password).
        max_bytes, default_ttl, clock: as for every :class:`~sluice.cache.Cache`.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        namespace: str | None = None,
        url: str = "redis",
        max_bytes: int = 512 * 1024 * 1024,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(max_bytes=max_bytes, default_ttl=default_ttl, clock=clock)
        namespace = "sluice" if namespace is None else namespace
        if not namespace:
            raise ConfigError("the Redis namespace must not be empty: it prefixes every key")
        self.namespace = namespace
        self.prefix = f"{namespace}:cache:"
        self._client = client
        self._url = url
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(_PRELUDE + source)
            for name, source in {
                "get": _GET,
                "put": _PUT,
                "delete": _DELETE,
                "clear": _CLEAR,
                "size": _SIZE,
            }.items()
        }

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        namespace: str | None = None,
        max_bytes: int = 512 * 1024 * 1024,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> RedisCache:
        """Open ``redis://[:password@]host[:port][/db]`` (or ``rediss://``, ``unix://``)."""
        return cls(
            connect(url),
            namespace=namespace,
            url=shown_url(url),
            max_bytes=max_bytes,
            default_ttl=default_ttl,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"RedisCache({self._url!r}, namespace={self.namespace!r})"

    async def setup(self) -> None:
        for script in self._scripts.values():
            await self._client.script_load(script.script)

    async def close(self) -> None:
        await self._client.aclose()

    async def drop(self) -> None:
        """Delete every key of this namespace's cache."""
        await delete_prefixed(self._client, self.prefix)

    async def _run(self, name: str, *args: str | int) -> Any:
        return await self._scripts[name](args=[self.prefix, *args])

    async def _get(self, kind: str, key: str) -> Any | None:
        data: str | None = await self._run("get", _name(kind, key), repr(self.clock()))
        return None if data is None else json.loads(data)

    async def _put(self, kind: str, key: str, data: str, ttl: float | None) -> None:
        now = self.clock()
        expires, backstop = "", ""
        if ttl is not None:
            expires = repr(now + ttl)
            backstop = str(math.ceil(ttl * 1000) + _BACKSTOP_GRACE_MS)
        await self._run("put", _name(kind, key), data, repr(now), expires, self.max_bytes, backstop)

    async def delete(self, kind: str, key: str) -> None:
        await self._run("delete", _name(kind, key))

    async def clear(self) -> None:
        while await self._run("clear") == _CLEAR_CHUNK:
            pass

    async def size(self) -> tuple[int, int]:
        entries, stored = await self._run("size", repr(self.clock()))
        return int(entries), int(stored)


def _name(kind: str, key: str) -> str:
    return f"{len(kind)}:{kind}:{key}"
