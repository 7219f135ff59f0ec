"""The store: one SQL database (SQLite by default, PostgreSQL by URL) and its transactions.

SQLite. One file in WAL mode (readers never wait for the writer), with
``synchronous=NORMAL`` (a commit is durable once the WAL is synced at the
next checkpoint; a power cut may lose the last commits but never corrupts
the file, and a killed process loses nothing), foreign keys on, and a busy
timeout for the other processes that share the file. The driver's own
transaction handling is switched off (SQLAlchemy's "pysqlite serializable"
recipe): the store emits ``BEGIN`` itself, ``BEGIN IMMEDIATE`` for writes,
so that a write transaction holds the database's write lock from its first
statement and two of them can never both read, then both write. Within a
process, write transactions also queue on an asyncio lock: waiting there is
cheap, while SQLite's busy handler would sleep in growing steps.

PostgreSQL. The namespace is a schema, created by :meth:`Store.setup`,
made every connection's ``search_path`` so that the same unqualified SQL
(and the same migrations) work in every namespace. Write transactions that
must not interleave (claiming jobs, filling the cache) name a lock, held
with ``pg_advisory_xact_lock`` until they end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import AdaptedConnection, Connection
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from sluice._exceptions import StoreUnavailable
from sluice._redact import redact
from sluice.store._migrate import VERSION_TABLE, upgrade
from sluice.store._tables import metadata
from sluice.store._url import check_namespace, database_url, safe_url

if TYPE_CHECKING:
    from sluice.store._users import Users

__all__ = ["Store", "StoreUnavailable"]

log = logging.getLogger("sluice.store")

BUSY_TIMEOUT = 30.0  # seconds another process may hold SQLite's write lock before we give up
_IMMEDIATE = "sluice_immediate"  # execution option: open the transaction with BEGIN IMMEDIATE
# Alembic's own table, only to drop it: it is not part of the models.
_VERSION_TABLE = sa.Table(VERSION_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32)))


class Store:
    """sluice's SQL database.

    Open one with :meth:`open`, then :meth:`setup` it (creates or migrates
    the tables; safe to call again, also from several processes at once).

    Parameters:
        url: a SQLAlchemy URL for an async driver (:meth:`open` makes one).
        namespace: PostgreSQL only: the schema that holds every table, so that
            several stores (tests, tenants) share one database without meeting.
            SQLite ignores it: use another file.
    """

    def __init__(self, url: sa.URL, *, namespace: str | None = None) -> None:
        self.url = url
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
        )
        self.namespace = check_namespace(namespace) if self.dialect == "postgresql" else None
        self._write_lock = asyncio.Lock()
        self._users: Users | None = None
        self.engine = self._create_engine()

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        data_dir: Path | None = None,
        namespace: str | None = None,
    ) -> Store:
        """A store for ``url``: ``sqlite:///path``, ``postgresql://...`` (also
        ``postgres://``, ``postgresql+asyncpg://``); None: the SQLite file
        ``sluice.db`` in ``data_dir`` (``.sluice`` by default), created if needed.

        Nothing is connected yet; :meth:`setup` does. Raises
        :class:`~sluice.ConfigError` for a URL of another database.
        """
        return cls(database_url(url, data_dir), namespace=namespace)

    def __repr__(self) -> str:
        namespace = f", namespace={self.namespace!r}" if self.namespace else ""
        return f"Store({safe_url(self.url)!r}{namespace})"

    @property
    def users(self) -> Users:
        """The users table, through typed helpers."""
        if self._users is None:
            from sluice.store._users import Users

            self._users = Users(self)
        return self._users

    # -- engine --------------------------------------------------------------

    def _create_engine(self) -> AsyncEngine:
        if self.dialect == "sqlite":
            engine = create_async_engine(self.url, connect_args={"timeout": BUSY_TIMEOUT})
            event.listen(engine.sync_engine, "connect", _sqlite_connected)
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
            return engine
        connect_args: dict[str, Any] = {}
        if self.namespace is not None:
            connect_args["server_settings"] = {"search_path": f'"{self.namespace}"'}
        return create_async_engine(self.url, connect_args=connect_args)

    def insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        """An INSERT of this database's dialect: it has ``on_conflict_do_*``."""
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        return postgresql.insert(table)

    # -- transactions --------------------------------------------------------

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for reading; it sees one snapshot of the database."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.asynccontextmanager
    async def write(self, *serialize: str) -> AsyncIterator[AsyncConnection]:
        """A transaction for writing, committed when the block ends without error.

        ``serialize`` names locks: write transactions naming a same lock run
        one at a time, across every process using this database. (On SQLite
        every write transaction already does: it holds the write lock.)
        """
        if self.dialect == "sqlite":
            async with self._write_lock, self.engine.connect() as conn:
                await conn.execution_options(**{_IMMEDIATE: True})
                async with conn.begin():
                    yield conn
            return
        async with self.engine.connect() as conn, conn.begin():
            # Always in one order, so two transactions wanting the same locks
            # cannot each hold one and wait for the other.
            for key in sorted({self.lock_key(name) for name in serialize}):
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield conn

    def lock_key(self, name: str) -> int:
        """The PostgreSQL advisory lock named ``name`` in this namespace (a signed 64-bit int)."""
        scope = f"sluice:{self.namespace or ''}:{name}".encode()
        return int.from_bytes(hashlib.sha256(scope).digest()[:8], "big", signed=True)

    # -- life cycle ----------------------------------------------------------

    async def setup(self) -> None:
        """Create the namespace and the tables, or migrate them to this version.

        Raises :class:`StoreUnavailable` when the database cannot be reached.
        """
        try:
            if self.dialect == "sqlite":
                await self._use_wal()
            await self.migrate()
        except (OSError, OperationalError, InterfaceError) as exc:
            why = getattr(exc, "orig", None) or exc
            raise StoreUnavailable(
                f"cannot reach the database {safe_url(self.url)}: {redact(str(why))}"
            ) from exc

    async def _use_wal(self) -> None:
        # Several processes setting up a new file at once: one switches it to
        # WAL, the others are refused until it has (no busy wait applies), then
        # find it done. Outside a transaction: SQLite cannot switch inside one.
        delay = 0.005
        async with asyncio.timeout(BUSY_TIMEOUT), self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            while True:
                try:
                    cursor = await driver.execute("PRAGMA journal_mode=WAL")
                    row = await cursor.fetchone()
                    await cursor.close()
                    break
                except sqlite3.OperationalError:
                    await asyncio.sleep(delay)  # the other process is switching it now
                    delay = min(0.1, delay * 2)
        mode = row[0] if row else None
        if mode != "wal":
            log.warning(
                "SQLite file %s cannot use WAL (journal mode %r): readers will wait for "
                "writers; put it on a local disk",
                self.url.database,
                mode,
            )

    async def migrate(self) -> None:
        """Upgrade the database to the newest migration (Alembic's ``head``)."""
        await self.run_migration(upgrade)

    async def run_migration(self, migrate: Callable[[Connection], None]) -> None:
        """Run ``migrate`` on a connection in a transaction that no other
        migration of this namespace runs alongside, the schema created first."""
        if self.namespace is not None:
            await self._create_schema()
        async with self.write("migrate") as conn:
            await conn.run_sync(migrate)

    async def _create_schema(self) -> None:
        # Not through self.engine: its connections look for tables in the schema,
        # and the first one also records that schema as the default for reflection,
        # which must not happen before the schema exists.
        assert self.namespace is not None
        bootstrap = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with bootstrap.begin() as conn:
                # Two processes setting up at once must not both try to create it.
                await conn.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(self.lock_key("schema")))
                )
                await conn.execute(sa.schema.CreateSchema(self.namespace, if_not_exists=True))
        finally:
            await bootstrap.dispose()

    async def drop(self) -> None:
        """Remove every table of this store (on PostgreSQL with a namespace: its schema)."""
        async with self.write("migrate") as conn:
            if self.namespace is not None:
                await conn.execute(
                    sa.schema.DropSchema(self.namespace, cascade=True, if_exists=True)
                )
            else:
                await conn.run_sync(metadata.drop_all)
                await conn.execute(sa.schema.DropTable(_VERSION_TABLE, if_exists=True))

    async def close(self) -> None:
        """Close every connection; the store cannot be used afterwards."""
        await self.engine.dispose()


def _sqlite_connected(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver must not open transactions on its own: _sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL is a property of the file, set once: switching a new file needs it
        # to itself, and a connection opened while another writes cannot, nor
        # wait for it (SQLite refuses at once). Store.setup() makes sure of it.
        with contextlib.suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN"
    # Straight to the driver (SQLAlchemy's documented run_async): one hop to
    # aiosqlite's thread, where exec_driver_sql takes four (cursor, execute, close).
    dbapi_connection = conn.connection.dbapi_connection
    assert isinstance(dbapi_connection, AdaptedConnection)
    dbapi_connection.run_async(lambda driver: driver.execute(statement))
