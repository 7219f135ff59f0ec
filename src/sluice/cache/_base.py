"""The result cache: what was computed once for a file is never computed again.

Entries are keyed by a kind (``"transcript"``) and a key: the Telegram
``file_unique_id`` of the file (:func:`file_key`, the same for every bot and
over time, known before downloading) or the SHA-256 of its content
(:func:`content_key`, known after). Values are JSON. Each entry may expire
(TTL); the whole cache is capped in bytes, the least recently used entries
going first. Backends: SQL (the store's database) and Redis, under one
contract test suite.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluice._exceptions import ConfigError

__all__ = ["Cache", "CacheStats", "content_key", "file_key"]


def file_key(file_unique_id: str) -> str:
    return f"fu:{file_unique_id}"


def content_key(sha256_hex: str) -> str:
    return f"sha:{sha256_hex.lower()}"


@dataclass(slots=True)
class CacheStats:
    """Lookups answered and missed since the cache was opened (this process)."""

    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def encode(value: Any) -> str:
    """The stored form of a value, whose length counts against the size cap."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Cache(ABC):
    """Parameters (every backend): ``max_bytes`` caps the total size of the stored
    values (LRU eviction); ``default_ttl`` applies to entries put without a TTL
    (None: they never expire); ``clock`` gives epoch seconds (tests inject one)."""

    def __init__(
        self,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        default_ttl: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1:
            raise ConfigError(f"max_bytes must be positive, got {max_bytes!r}")
        if default_ttl is not None and not (default_ttl > 0 and math.isfinite(default_ttl)):
            raise ConfigError(f"default_ttl must be a positive number, got {default_ttl!r}")
        self.max_bytes = max_bytes
        self.default_ttl = default_ttl
        self.clock = clock
        self.stats = CacheStats()
        self._set_up = False

    async def _ready(self) -> None:
        # setup() runs once before first use; calling it yourself first is fine too.
        if not self._set_up:
            await self.setup()
            self._set_up = True

    async def setup(self) -> None:  # noqa: B027 - optional for backends with nothing to set up
        """Create what the backend needs; safe to call again."""

    async def close(self) -> None:  # noqa: B027
        """Release connections."""

    async def get(self, kind: str, key: str) -> Any | None:
        """The value, or None if absent or expired; counts a hit or a miss."""
        await self._ready()
        value = await self._get(kind, key)
        if value is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return value

    async def put(self, kind: str, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Store ``value`` (JSON-serialisable, not None); evict LRU entries past the cap.

        A value larger than the whole cap is not stored.
        """
        if value is None:
            raise ConfigError("None cannot be cached: it means 'absent'")
        ttl = self.default_ttl if ttl is None else ttl
        if ttl is not None and not ttl > 0:
            raise ConfigError(f"ttl must be positive, got {ttl!r}")
        data = encode(value)
        if len(data.encode()) > self.max_bytes:
            return
        await self._ready()
        await self._put(kind, key, data, ttl)

    @abstractmethod
    async def _get(self, kind: str, key: str) -> Any | None:
        """The decoded value if present and not expired, marking it just used."""

    @abstractmethod
    async def _put(self, kind: str, key: str, data: str, ttl: float | None) -> None:
        """Store the encoded value (replacing any), then evict the least recently
        used entries until the total size is within ``max_bytes``."""

    @abstractmethod
    async def delete(self, kind: str, key: str) -> None: ...

    @abstractmethod
    async def clear(self) -> None:
        """Forget every entry."""

    @abstractmethod
    async def size(self) -> tuple[int, int]:
        """(entries, bytes) stored now, expired entries not counted."""
