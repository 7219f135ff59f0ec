"""The store's tables, as SQLAlchemy Core: the one description of the schema.

The Alembic migrations in ``migrations/versions`` build exactly this (a test
compares them). Times are epoch seconds (floats) everywhere, as the rest of
sluice counts them, so that a clock can be injected and SQLite and
PostgreSQL store the same thing. Tables carry no schema name: on PostgreSQL
the store's namespace is a schema, chosen per connection (``search_path``).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
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

# Deterministic constraint names: migrations can name what they create and drop.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments a column typed exactly INTEGER PRIMARY KEY;
# PostgreSQL gets a 64-bit identity so that ids never run out.
_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_EMPTY_JSON = sa.text("'{}'")

users_table = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),  # Telegram's user id
    sa.Column("language_code", sa.String, nullable=True),  # as Telegram reports it
    sa.Column("chosen_language", sa.String, nullable=True),  # as the user picked it
    sa.Column("banned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("settings", sa.JSON, nullable=False, server_default=_EMPTY_JSON),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

jobs_table = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("user_id", sa.BigInteger, nullable=True),
    sa.Column("priority", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("timeout", sa.Float, nullable=False),
    sa.Column("dedupe_key", sa.String, nullable=True),
    sa.Column("run_after", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_until", sa.Float, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("progress", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.Column("progress_text", sa.String, nullable=False, server_default=sa.text("''")),
    # none_as_null: a result of None is SQL NULL, like a job that has none yet.
    sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    # NULLs are distinct in a unique constraint: jobs without a key never collide.
    sa.UniqueConstraint("kind", "dedupe_key"),
    # The line, per kind in claim order: claim, position and the queued count walk it.
    sa.Index(None, "state", "kind", "priority", "id"),
    # A user's jobs: running caps, queued caps, cancel_user, list_jobs(user_id=...).
    sa.Index(None, "user_id", "kind", "state"),
    sqlite_autoincrement=True,  # never reuse the id of a deleted job
)

# The job workers that are alive, by the kinds they run: a worker renews its
# rows every few seconds. Counting them splits the work fairly; a worker whose
# rows lapsed is dead, and its running jobs are taken over before their leases end.
job_workers_table = sa.Table(
    "job_workers",
    metadata,
    sa.Column("worker", sa.String, primary_key=True),
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("alive_until", sa.Float, nullable=False),
)

cache_entries_table = sa.Table(
    "cache_entries",
    metadata,
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # the JSON text, as Cache encodes it
    sa.Column("size", sa.Integer, nullable=False),  # UTF-8 bytes of value
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("last_used", sa.Float, nullable=False),
    sa.Index(None, "last_used"),
    sa.Index(None, "expires_at"),
)

broadcasts_table = sa.Table(
    "broadcasts",
    metadata,
    sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
    # A job id of whichever job backend runs the broadcast (it may be Redis): no foreign key.
    sa.Column("job_id", sa.String, nullable=True),
    sa.Column("bot_id", sa.BigInteger, nullable=False),
    sa.Column("message", sa.JSON, nullable=False),  # what to send
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
    sqlite_autoincrement=True,
)

broadcast_recipients_table = sa.Table(
    "broadcast_recipients",
    metadata,
    sa.Column(
        "broadcast_id",
        _SERIAL,
        sa.ForeignKey("broadcasts.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("chat_id", sa.BigInteger, nullable=False),
    sa.Column("outcome", sa.String, nullable=True),  # NULL: not delivered yet
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("sent_at", sa.Float, nullable=True),
    # Resuming after a crash starts from the first recipient with no outcome.
    sa.Index(None, "broadcast_id", "outcome", "position"),
)

# The file-to-link bot: one row per file kept in its storage channel (one per
# file_unique_id), and one link per owner of it.
filelink_files_table = sa.Table(
    "filelink_files",
    metadata,
    sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
    sa.Column("unique_id", sa.String, nullable=False, unique=True),  # Telegram's file_unique_id
    sa.Column("file_id", sa.String, nullable=False),  # of the stored copy, for the Bot API
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("mime", sa.String, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("chat_id", sa.BigInteger, nullable=False),  # the storage channel
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sqlite_autoincrement=True,  # a link signed for a deleted id never serves another file
)

filelink_links_table = sa.Table(
    "filelink_links",
    metadata,
    sa.Column("id", _SERIAL, primary_key=True, autoincrement=True),
    sa.Column(
        "file_id",
        _SERIAL,
        sa.ForeignKey("filelink_files.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("owner_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String, nullable=False),  # the name the owner sent it under
    sa.Column("epoch", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("file_id", "owner_id"),
    sa.Index(None, "owner_id", "revoked", "id"),  # /files: an owner's links, newest first
    sqlite_autoincrement=True,
)
