"""Running the store's Alembic migrations, from code and from the ``alembic`` command.

The migrations ship inside the package (``sluice/store/migrations``), so an
installed sluice migrates its database itself: :meth:`Store.setup` runs
:func:`upgrade` on a connection it holds, with no ``alembic.ini``. The
``env.py`` there calls :func:`run_env`, which also serves the ``alembic``
command (``alembic.ini`` at the repository root), for maintainers writing a
new revision: ``alembic -x url=sqlite:///dev.db revision --autogenerate -m ...``.
Without ``-x url=``, the command uses ``SLUICE_DATABASE_URL``, else the
SQLite file in ``SLUICE_DATA_DIR``; ``-x namespace=`` picks a PostgreSQL schema.

Alembic records the revision in ``sluice_alembic_version``, not in the usual
``alembic_version``, so that a database shared with an application that has
migrations of its own keeps both.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from sluice.store._tables import metadata

if TYPE_CHECKING:
    from alembic.runtime.environment import EnvironmentContext

__all__ = ["SCRIPT_LOCATION", "VERSION_TABLE", "alembic_config", "run_env", "upgrade"]

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "sluice_alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database of ``connection`` to ``revision``, inside its transaction."""
    command.upgrade(alembic_config(connection), revision)


def configure(context: EnvironmentContext, connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things: later revisions copy the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
    )


def _run(context: EnvironmentContext, connection: Connection) -> None:
    configure(context, connection)
    # Inside the caller's transaction when there is one: the whole upgrade
    # commits or rolls back as one, and holds the caller's lock throughout.
    with context.begin_transaction():
        context.run_migrations()


def run_env(context: EnvironmentContext) -> None:
    """What ``migrations/env.py`` does: migrate the connection given, or the configured database."""
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(context, connection)
        return
    arguments = context.get_x_argument(as_dictionary=True)
    url = arguments.get("url") or context.config.get_main_option("sqlalchemy.url")
    namespace = arguments.get("namespace")
    if context.is_offline_mode():
        _run_offline(context, url)
    else:
        asyncio.run(_run_online(context, url, namespace))


def _configured_url(url: str | None) -> tuple[str | None, Path | None]:
    if url:
        return url, None
    from sluice.config import load_settings  # the command's only reader of the environment

    settings = load_settings()
    return settings.database_url, settings.data_dir


def _run_offline(context: EnvironmentContext, url: str | None) -> None:
    from sluice.store._url import database_url

    given, data_dir = _configured_url(url)
    context.configure(
        url=database_url(given, data_dir),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(context: EnvironmentContext, url: str | None, namespace: str | None) -> None:
    from sluice.store._store import Store

    given, data_dir = _configured_url(url)
    store = Store.open(given, data_dir=data_dir, namespace=namespace)
    try:
        await store.run_migration(lambda connection: _run(context, connection))
    finally:
        await store.close()
