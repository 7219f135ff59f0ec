"""Every job backend, for the suites that run on each: SQLite, PostgreSQL and Redis.

PostgreSQL and Redis tests need a reachable server; they skip without one,
except under CI, where they fail (see tests/conftest.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sluice.jobs import JobBackend, open_backend

BACKENDS = ["sqlite", "postgres", "redis"]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sluice.db'}"
    fixture = "postgres_url" if request.param == "postgres" else "redis_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def backend(backend_url: str, namespace: str) -> AsyncIterator[JobBackend]:
    opened = open_backend(backend_url, namespace=namespace)
    await opened.setup()
    try:
        yield opened
    finally:
        await _drop(opened)
        await opened.close()


async def _drop(backend: JobBackend) -> None:
    # Test data never outlives its test on a shared server.
    drop = getattr(backend, "drop", None)
    if drop is not None:
        await drop()
