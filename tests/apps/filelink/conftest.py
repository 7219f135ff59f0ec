"""A storage channel two pool bots administer, in an emulator with its MTProto side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mtproto_support import API_HASH, API_ID, emulator_dc
from sluice.accounts import MTProtoCredential
from sluice.emulator import EmulatorConfig, EmulatorServer, MtprotoConfig, Rate
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Quick by default: no latency, no bandwidth cap, a generous request budget.
    mtproto = MtprotoConfig(
        download_latency_ms=0, download_bytes_per_s=0, download_requests=Rate(1000, 1.0)
    )
    return EmulatorConfig(seed=1, mtproto=mtproto)


@pytest.fixture
async def storage(sim: Sim) -> int:
    """The storage channel: both bots are its admins."""
    owner = await sim.user("Owner")
    chat = await sim.chat(
        "channel", title="Storage", admin_bot_ids=[BOT_A, BOT_B], owner_user_id=owner["id"]
    )
    return int(chat["id"])


@pytest.fixture
async def pool(server: EmulatorServer, tmp_path: Path) -> AsyncIterator[TelethonPool]:
    """Bots A and B, signed in over MTProto with one app's credential."""
    telethon = TelethonPool.for_bots(
        Gate(),
        MTProtoCredential(API_ID, API_HASH),
        [TOKEN_A, TOKEN_B],
        data_dir=tmp_path / "data",
        dc=await emulator_dc(server),
    )
    try:
        await telethon.connect()
        yield telethon
    finally:
        await telethon.disconnect()
