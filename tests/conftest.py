from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import settings

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import POSTGRES_URL, REDIS_URL, Sim, service_unavailable

# Property tests check what comes out, not how fast: on a busy 2-core CI box a
# single example may take longer than Hypothesis's default 200 ms deadline.
settings.register_profile("sluice", deadline=None)
settings.load_profile("sluice")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(seed=1)


@pytest.fixture
async def server(emulator_config: EmulatorConfig) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(emulator_config) as srv:
        yield srv


@pytest.fixture
async def http(server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
        yield client


@pytest.fixture
def sim(http: httpx.AsyncClient) -> Sim:
    return Sim(http)


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis (database 15 by default), or skip (fail under CI)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (OSError, redis.RedisError):
        service_unavailable(f"Redis at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    """A reachable PostgreSQL (database ``test`` by default), or skip (fail under CI).

    Plain (not async) on purpose: parametrised fixtures pick a backend with
    ``request.getfixturevalue``, which cannot drive an async fixture.
    """
    import asyncio

    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(POSTGRES_URL, timeout=2)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError):
        service_unavailable(f"PostgreSQL at {POSTGRES_URL}")
    return POSTGRES_URL
