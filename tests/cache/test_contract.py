"""The cache contract, the same for the SQL store (SQLite, PostgreSQL) and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sluice import ConfigError
from sluice.cache import Cache, content_key, file_key
from sluice.cache._open import open_cache


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def cache_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sluice.db'}"
    fixture = "postgres_url" if request.param == "postgres" else "redis_url"
    url: str = request.getfixturevalue(fixture)
    return url


CacheFactory = Callable[..., Cache]


@pytest.fixture
async def make_cache(cache_url: str) -> AsyncIterator[Callable[..., Cache]]:
    opened: list[Cache] = []
    namespace = f"t{uuid.uuid4().hex[:12]}"

    def make(**options: object) -> Cache:
        cache = open_cache(cache_url, namespace=namespace, **options)  # type: ignore[arg-type]
        opened.append(cache)
        return cache

    yield make
    for cache in opened:
        drop = getattr(cache, "drop", None)
        if drop is not None:
            await drop()
        await cache.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_values_come_back_as_stored(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock)
    await cache.setup()
    value = {"text": "Halo, apa kabar?", "segments": [{"start": 0.0, "end": 1.5}], "n": None}
    await cache.put("transcript", file_key("AgADxyz"), value)
    assert await cache.get("transcript", file_key("AgADxyz")) == value
    assert await cache.get("transcript", content_key("ab" * 32)) is None
    assert await cache.get("other-kind", file_key("AgADxyz")) is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)
    assert cache.stats.hit_rate == pytest.approx(1 / 3)


async def test_both_keys_of_one_file(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock)
    await cache.setup()
    sha = "0123456789ABCDEF" * 4
    await cache.put("transcript", content_key(sha), "by content")
    await cache.put("transcript", file_key("AgADabc"), "by file")
    assert await cache.get("transcript", content_key(sha.lower())) == "by content"
    assert await cache.get("transcript", file_key("AgADabc")) == "by file"


async def test_put_replaces_and_delete_forgets(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock)
    await cache.setup()
    await cache.put("k", "a", [1])
    await cache.put("k", "a", [2])
    assert await cache.get("k", "a") == [2]
    assert (await cache.size())[0] == 1
    await cache.delete("k", "a")
    assert await cache.get("k", "a") is None
    await cache.delete("k", "never-there")


async def test_entries_expire_after_their_ttl(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock, default_ttl=100.0)
    await cache.setup()
    await cache.put("k", "default", 1)
    await cache.put("k", "short", 2, ttl=10.0)
    clock.now += 9.9
    assert await cache.get("k", "short") == 2
    clock.now += 0.2
    assert await cache.get("k", "short") is None
    assert await cache.get("k", "default") == 1
    clock.now += 90.0
    assert await cache.get("k", "default") is None
    assert (await cache.size())[0] == 0


async def test_the_size_cap_evicts_the_least_recently_used(
    make_cache: CacheFactory, clock: Clock
) -> None:
    blob = "x" * 98  # 100 bytes once JSON-encoded
    cache = make_cache(clock=clock, max_bytes=350)
    await cache.setup()
    for name in ("a", "b", "c"):
        await cache.put("k", name, blob)
        clock.now += 1
    assert await cache.get("k", "a") == blob  # "a" is now the most recently used
    clock.now += 1
    await cache.put("k", "d", blob)  # 400 bytes > 350: the LRU entry ("b") goes
    assert await cache.get("k", "b") is None
    for name in ("a", "c", "d"):
        assert await cache.get("k", name) == blob
    entries, stored = await cache.size()
    assert (entries, stored) == (3, 300)


async def test_a_value_larger_than_the_cap_is_not_stored(
    make_cache: CacheFactory, clock: Clock
) -> None:
    cache = make_cache(clock=clock, max_bytes=50)
    await cache.setup()
    await cache.put("k", "small", "ok")
    await cache.put("k", "huge", "y" * 100)
    assert await cache.get("k", "huge") is None
    assert await cache.get("k", "small") == "ok"


async def test_entries_outlive_the_cache_object(make_cache: CacheFactory, clock: Clock) -> None:
    first = make_cache(clock=clock)
    await first.setup()
    await first.put("transcript", file_key("AgADkeep"), {"text": "kept"})
    await first.close()
    again = make_cache(clock=clock)
    await again.setup()
    assert await again.get("transcript", file_key("AgADkeep")) == {"text": "kept"}


async def test_clear_forgets_everything(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock)
    await cache.setup()
    for n in range(5):
        await cache.put("k", str(n), n)
    await cache.clear()
    assert await cache.size() == (0, 0)
    assert await cache.get("k", "1") is None


async def test_none_is_not_a_value(make_cache: CacheFactory, clock: Clock) -> None:
    cache = make_cache(clock=clock)
    await cache.setup()
    with pytest.raises(ConfigError, match="None"):
        await cache.put("k", "a", None)


async def test_a_new_cache_sets_itself_up_on_first_use(
    make_cache: CacheFactory, clock: Clock
) -> None:
    cache = make_cache(clock=clock)  # no setup() call: a fresh database has no tables yet
    assert await cache.get("transcript", file_key("AgADnew")) is None
    await cache.put("transcript", file_key("AgADnew"), {"text": "hi"})
    assert await cache.get("transcript", file_key("AgADnew")) == {"text": "hi"}
    assert (await cache.size())[0] == 1
