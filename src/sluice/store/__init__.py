"""The SQL store: SQLite by default (one file, WAL), PostgreSQL by URL.

A :class:`Store` holds sluice's tables (users, jobs, the result cache,
broadcasts) and migrates them itself with the Alembic migrations shipped in
the package. The job backend (:mod:`sluice.jobs`) and the cache
(:mod:`sluice.cache`) use it for their SQL flavour; the apps use its
:class:`Users`.
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiosqlite  # noqa: F401
    import alembic  # noqa: F401
    import sqlalchemy  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.store", "jobs", error) from None

from sluice.store._store import Store, StoreUnavailable
from sluice.store._tables import (
    broadcast_recipients_table,
    broadcasts_table,
    cache_entries_table,
    filelink_files_table,
    filelink_links_table,
    job_workers_table,
    jobs_table,
    metadata,
    users_table,
)
from sluice.store._users import User, Users

__all__ = [
    "Store",
    "StoreUnavailable",
    "User",
    "Users",
    "broadcast_recipients_table",
    "broadcasts_table",
    "cache_entries_table",
    "filelink_files_table",
    "filelink_links_table",
    "job_workers_table",
    "jobs_table",
    "metadata",
    "users_table",
]
