"""A set-up store on each SQL database: a SQLite file, and a PostgreSQL schema of its own.

``store_url`` is a plain (not async) fixture on purpose: it asks for the async
``postgres_url`` fixture by name, which pytest-asyncio cannot do from inside
a running event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sluice.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(store_url: str, namespace: str) -> AsyncIterator[Store]:
    opened = Store.open(store_url, namespace=namespace)
    await opened.setup()
    try:
        yield opened
    finally:
        await opened.drop()  # nothing outlives its test on a shared server
        await opened.close()
