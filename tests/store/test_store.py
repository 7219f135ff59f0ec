"""The store: URLs, SQLite's settings, PostgreSQL namespaces, migrations, secrets."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sluice import ConfigError, redact
from sluice.store import Store, broadcast_recipients_table, broadcasts_table, metadata
from sluice.store._migrate import VERSION_TABLE, alembic_config
from support import POSTGRES_URL

PG_HOST = POSTGRES_URL.split("://", 1)[1]  # user@host:port/database


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("sqlite:///{tmp}/a.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///{tmp}/a.db", "sqlite+aiosqlite"),
        ("postgresql://u@db.example/app", "postgresql+asyncpg"),
        ("postgres://u@db.example/app", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@db.example/app", "postgresql+asyncpg"),
        ("postgresql+psycopg://u@db.example/app", "postgresql+asyncpg"),
    ],
)
def test_every_url_form_opens_with_an_async_driver(url: str, driver: str, tmp_path: Path) -> None:
    store = Store.open(url.format(tmp=tmp_path))
    assert store.url.drivername == driver
    assert store.dialect == driver.partition("+")[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@db.example/app", "unsupported database 'mysql'"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("not a url at all", "cannot be read"),
    ],
)
def test_what_cannot_be_opened_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        Store.open(url)


def test_a_namespace_must_be_able_to_name_a_schema() -> None:
    with pytest.raises(ConfigError, match="cannot name a schema"):
        Store.open("postgresql://u@db.example/app", namespace="Robert'); DROP TABLE jobs;--")


async def test_without_a_url_the_store_is_a_file_in_the_data_dir(tmp_path: Path) -> None:
    store = Store.open(data_dir=tmp_path / "data" / "here")
    try:
        await store.setup()
    finally:
        await store.close()
    assert (tmp_path / "data" / "here" / "sluice.db").is_file()


async def test_the_default_data_dir_is_dot_sluice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = Store.open()
    try:
        await store.setup()
    finally:
        await store.close()
    assert (tmp_path / ".sluice" / "sluice.db").is_file()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'sluice.db'}")
    await store.setup()
    try:
        async with store.read() as conn:
            pragma = {
                name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
        # synchronous=1 is NORMAL; the busy timeout is in milliseconds.
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 1,
            "foreign_keys": 1,
            "busy_timeout": 30_000,
        }
        with pytest.raises(IntegrityError):
            async with store.write() as conn:
                await conn.execute(
                    sa.insert(broadcast_recipients_table).values(
                        broadcast_id=404, position=0, chat_id=1
                    )
                )
    finally:
        await store.close()


async def test_deleting_a_broadcast_deletes_its_recipients(store: Store) -> None:
    async with store.write() as conn:
        broadcast = await conn.scalar(
            sa.insert(broadcasts_table)
            .values(bot_id=1, message={"text": "hi"}, created_at=1.0)
            .returning(broadcasts_table.c.id)
        )
        await conn.execute(
            sa.insert(broadcast_recipients_table),
            [{"broadcast_id": broadcast, "position": n, "chat_id": 100 + n} for n in range(3)],
        )
    async with store.write() as conn:
        await conn.execute(sa.delete(broadcasts_table))
    async with store.read() as conn:
        left = await conn.scalar(sa.select(sa.func.count()).select_from(broadcast_recipients_table))
    assert left == 0


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata))


def _revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def test_the_migrations_build_exactly_the_models(store: Store) -> None:
    async with store.read() as conn:
        assert await conn.run_sync(_differences) == []
        current = await conn.run_sync(_revision)
    assert current == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_setting_up_again_and_at_once_is_harmless(store_url: str, namespace: str) -> None:
    stores = [Store.open(store_url, namespace=namespace) for _ in range(3)]
    try:
        await asyncio.gather(*(s.setup() for s in stores))  # a fresh database, three processes
        await stores[0].setup()
        async with stores[0].read() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await stores[0].drop()
        for s in stores:
            await s.close()


async def test_drop_removes_every_table(store_url: str, namespace: str) -> None:
    store = Store.open(store_url, namespace=namespace)
    try:
        await store.setup()
        await store.drop()
        async with store.read() as conn:
            left = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
        assert left == []
        await store.setup()  # and it can start again
        assert await store.users.get(1) is None
    finally:
        await store.drop()
        await store.close()


def _fresh(postgres_url: str) -> Store:
    return Store.open(postgres_url, namespace=f"t{uuid.uuid4().hex[:12]}")


async def test_postgres_namespaces_do_not_see_each_other(postgres_url: str) -> None:
    first, second = _fresh(postgres_url), _fresh(postgres_url)
    try:
        await first.setup()
        await second.setup()
        await first.users.seen(7, "id")
        assert await first.users.get(7) is not None
        assert await second.users.get(7) is None
        async with first.read() as conn:
            schemas = await conn.scalars(
                sa.text(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs'"
                )
            )
            assert {first.namespace, second.namespace} <= set(schemas)
        await first.drop()
        await second.users.seen(8)
        assert await second.users.get(8) is not None
    finally:
        for s in (first, second):
            await s.drop()
            await s.close()


async def test_writes_naming_one_lock_run_one_at_a_time(postgres_url: str) -> None:
    # Two stores, two connection pools: as two processes would be.
    holder = _fresh(postgres_url)
    other = Store.open(postgres_url, namespace=holder.namespace)  # the lock is per namespace
    steps: list[str] = []
    holding, let_go = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with holder.write("the-lock"):
            steps.append("first in")
            holding.set()
            await let_go.wait()
            steps.append("first out")

    async def wait_for_it() -> None:
        async with other.write("the-lock"):
            steps.append("second in")

    try:
        first = asyncio.create_task(hold())
        await holding.wait()
        second = asyncio.create_task(wait_for_it())
        await _until_a_lock_is_awaited(holder)
        assert steps == ["first in"]
        let_go.set()
        await asyncio.gather(first, second)
        assert steps == ["first in", "first out", "second in"]
    finally:
        await holder.close()
        await other.close()


async def _until_a_lock_is_awaited(store: Store) -> None:
    query = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    async with asyncio.timeout(10):
        # The waiting happens in the server: asking it is the only way to see it.
        while True:
            async with store.engine.connect() as conn:
                if await conn.scalar(query):
                    return
            await asyncio.sleep(0.01)


def test_the_password_stays_out_of_reprs_and_logs() -> None:
    password = "hunter2-but-longer"
    store = Store.open(f"postgresql://app:{password}@db.example/app")
    assert password not in repr(store)
    assert "***" in repr(store)
    assert password not in redact(f"connecting with {password} failed")


def test_the_public_names_are_deliberate() -> None:
    import sluice.store

    exported = list(sluice.store.__all__)
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(sluice.store).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public <= set(exported)
