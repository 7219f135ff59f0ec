"""What only the Redis cache does: an exact byte total under concurrent writers,
values Redis itself dropped, its backstop TTL, its keys, and a hidden password."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from sluice.cache._redis import RedisCache
from sluice.jobs import JobPolicy, NewJob
from sluice.jobs._redis import RedisJobBackend


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def make_cache(redis_url: str, namespace: str) -> AsyncIterator[Callable[..., RedisCache]]:
    opened: list[RedisCache] = []

    def make(**options: object) -> RedisCache:
        cache = RedisCache.from_url(redis_url, namespace=namespace, **options)  # type: ignore[arg-type]
        opened.append(cache)
        return cache

    yield make
    for cache in opened:
        await cache.drop()
        await cache.close()


async def test_concurrent_writers_keep_the_total_exact_and_within_the_cap(
    make_cache: Callable[..., RedisCache], raw: aioredis.Redis
) -> None:
    writers = [make_cache(max_bytes=1000) for _ in range(4)]
    for cache in writers:
        await cache.setup()
    await asyncio.gather(
        *(
            writers[n % 4].put("k", f"e{n % 30}", "é" * (n % 17 + 1))  # 2 bytes a character
            for n in range(200)
        )
    )
    entries, stored = await writers[0].size()
    sizes: dict[str, str] = await raw.hgetall(f"{writers[0].prefix}sizes")  # type: ignore[assignment]
    assert entries == len(sizes) == await raw.zcard(f"{writers[0].prefix}lru")
    assert stored == sum(int(size) for size in sizes.values()) <= 1000
    for name, size in sizes.items():
        value = await raw.get(f"{writers[0].prefix}v:{name}")
        assert isinstance(value, str)
        assert len(value.encode()) == int(size)


async def test_a_value_redis_dropped_reads_as_a_miss_and_frees_its_size(
    make_cache: Callable[..., RedisCache], raw: aioredis.Redis
) -> None:
    cache = make_cache(clock=Clock())
    await cache.setup()
    await cache.put("k", "kept", "x" * 8)
    await cache.put("k", "dropped", "y" * 8)
    # As if evicted by Redis under maxmemory, or expired by the backstop TTL.
    await raw.delete(f"{cache.prefix}v:1:k:dropped")
    assert await cache.get("k", "dropped") is None
    assert await cache.size() == (1, 10)


async def test_an_expiring_value_gets_a_backstop_ttl(
    make_cache: Callable[..., RedisCache], raw: aioredis.Redis
) -> None:
    cache = make_cache(clock=Clock())
    await cache.setup()
    await cache.put("k", "short", 1, ttl=30.0)
    await cache.put("k", "forever", 2)
    backstop = await raw.pttl(f"{cache.prefix}v:1:k:short")
    assert 30_000 < backstop <= 90_000  # its TTL plus a minute of grace
    assert await raw.pttl(f"{cache.prefix}v:1:k:forever") == -1


async def test_kinds_and_keys_never_collide(make_cache: Callable[..., RedisCache]) -> None:
    cache = make_cache()
    await cache.setup()
    await cache.put("a:b", "c", "first")
    await cache.put("a", "b:c", "second")
    assert await cache.get("a:b", "c") == "first"
    assert await cache.get("a", "b:c") == "second"


async def test_keys_stay_in_the_namespace_and_drop_removes_them(
    make_cache: Callable[..., RedisCache], redis_url: str, namespace: str, raw: aioredis.Redis
) -> None:
    cache = make_cache(clock=Clock(), max_bytes=30)
    await cache.setup()
    jobs = RedisJobBackend.from_url(redis_url, namespace=namespace)
    try:
        await jobs.setup()
        for n in range(5):
            await cache.put("k", str(n), "z" * 8, ttl=60.0 if n % 2 else None)
        await cache.delete("k", "4")
        # The jobs of the same namespace are other keys: dropping them keeps the cache.
        await jobs.enqueue_many([NewJob("k", {})], {"k": JobPolicy()}, 1_700_000_000.0)
        await jobs.drop()
        assert await cache.get("k", "3") == "z" * 8
        keys = [key async for key in raw.scan_iter(match=f"*{namespace}*")]
        assert keys
        assert all(key.startswith(f"{namespace}:cache:") for key in keys)
        await cache.clear()
        assert await cache.size() == (0, 0)
        await cache.put("k", "again", 1)
        await cache.drop()
        assert [key async for key in raw.scan_iter(match=f"*{namespace}*")] == []
    finally:
        await jobs.close()


async def test_the_password_never_shows() -> None:
    password = "n0t-a-real-passw0rd"
    cache = RedisCache.from_url(f"redis://user:{password}@127.0.0.1:1/0", namespace="x")
    try:
        assert password not in repr(cache)
        assert "user:***@127.0.0.1:1" in repr(cache)
        with pytest.raises(aioredis.ConnectionError) as info:
            await cache.get("k", "a")
        assert password not in str(info.value)
    finally:
        await cache.close()
