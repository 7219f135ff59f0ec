"""The result cache, keyed by Telegram ``file_unique_id`` and by content SHA-256."""

from __future__ import annotations

from sluice.cache._base import Cache, CacheStats, content_key, file_key

__all__ = ["Cache", "CacheStats", "content_key", "file_key"]
