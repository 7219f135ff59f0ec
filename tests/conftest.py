from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import Sim


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
