"""The result cache, keyed by Telegram ``file_unique_id`` and by content SHA-256."""

from __future__ import annotations

from sluice.cache._base import Cache, CacheStats, content_key, file_key
from sluice.cache._open import open_cache

__all__ = ["Cache", "CacheStats", "content_key", "file_key", "open_cache"]
