"""The result cache, keyed by Telegram ``file_unique_id`` and by content SHA-256."""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiosqlite  # noqa: F401
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.cache", "jobs", error) from None

from sluice.cache._base import Cache, CacheStats, content_key, file_key
from sluice.cache._open import open_cache

__all__ = ["Cache", "CacheStats", "content_key", "file_key", "open_cache"]
