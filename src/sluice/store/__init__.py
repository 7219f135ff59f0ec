"""The SQL store: SQLite by default (one file, WAL), PostgreSQL by URL.

A :class:`Store` holds sluice's tables (users, jobs, the result cache,
broadcasts) and migrates them itself with the Alembic migrations shipped in
the package. The job backend (:mod:`sluice.jobs`) and the cache
(:mod:`sluice.cache`) use it for their SQL flavour; the apps use its
:class:`Users`.
"""

from __future__ import annotations

from sluice.store._store import Store
from sluice.store._tables import (
    broadcast_recipients_table,
    broadcasts_table,
    cache_entries_table,
    jobs_table,
    metadata,
    users_table,
)
from sluice.store._users import User, Users

__all__ = [
    "Store",
    "User",
    "Users",
    "broadcast_recipients_table",
    "broadcasts_table",
    "cache_entries_table",
    "jobs_table",
    "metadata",
    "users_table",
]
