"""The Telethon pool with real clients against the emulator's MTProto side: sign-in and
saved sessions, a flood wait that moves a download to another account, a dropped
connection in the middle of a download."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telethon import TelegramClient, functions, types

from mtproto_support import API_HASH, API_ID, emulator_dc, new_client
from sluice.accounts import MTProtoCredential
from sluice.emulator import EmulatorConfig, EmulatorServer, MtprotoConfig, Rate, synthetic_bytes
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

KIB = 1024
MIB = 1024 * 1024
BUDGET = 20  # upload.getFile requests an account may make per minute, in these tests


def bot_logins(server: EmulatorServer, bot_id: int) -> int:
    mtproto = server.emulator.mtproto
    assert mtproto is not None
    return len(mtproto._bot_logins.get(bot_id, []))


async def test_from_credentials_signs_in_once_and_a_restart_reuses_the_sessions(
    server: EmulatorServer, tmp_path: Path
) -> None:
    dc1 = await emulator_dc(server)
    credentials = [MTProtoCredential(API_ID, API_HASH), MTProtoCredential(API_ID + 1, "ab" * 16)]
    gate = Gate()
    pool = TelethonPool.from_credentials(
        gate, credentials, data_dir=tmp_path, bot_token=TOKEN_A, dc=dc1
    )
    await pool.connect()
    try:
        assert pool.accounts == [BOT_A]  # two api_id pairs, one bot: one account
        assert len(pool.clients_for(BOT_A)) == 2
        assert gate.account(BOT_A).kind == "bot"
        me = await pool.call(lambda client: client.get_me(), chat_id=None, limited=False)
        assert (me.id, me.bot) == (BOT_A, True)
    finally:
        await pool.disconnect()
    assert bot_logins(server, BOT_A) == 2  # each session signed in once
    sessions = tmp_path / "sessions"
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o700
    files = sorted(p.name for p in sessions.iterdir())
    assert files == [f"{API_ID}-0.session", f"{API_ID + 1}-1.session"]
    for name in files:
        assert stat.S_IMODE((sessions / name).stat().st_mode) == 0o600

    # A restart over the same data directory: the saved sessions are logged in, and
    # keep their DC even though a new session would start on DC 2.
    dc2 = await emulator_dc(server, 2)
    again = TelethonPool.from_credentials(
        Gate(), credentials, data_dir=tmp_path, bot_token=TOKEN_A, dc=dc2
    )
    assert [client.session.dc_id for client in again.clients] == [1, 1]
    await again.connect()
    try:
        assert again.accounts == [BOT_A]
        me = await again.call(lambda client: client.get_me(), chat_id=None, limited=False)
        assert me.id == BOT_A
    finally:
        await again.disconnect()
    assert bot_logins(server, BOT_A) == 2  # no bot signed in again


async def test_dc_points_a_new_session_at_that_dc(server: EmulatorServer, tmp_path: Path) -> None:
    mtproto = server.emulator.mtproto
    assert mtproto is not None
    dc2 = await emulator_dc(server, 2)
    pool = TelethonPool.from_credentials(
        Gate(), [MTProtoCredential(API_ID, API_HASH)], data_dir=tmp_path, dc=dc2
    )
    [client] = pool.clients
    assert (client.session.dc_id, client.session.server_address, client.session.port) == dc2
    await pool.connect(TOKEN_B)
    try:
        assert pool.accounts == [BOT_B]
        # It connected to DC 2 first; the bot lives on DC 1 (USER_MIGRATE_1), so the
        # session moved there, as it would on Telegram.
        assert {record.dc for record in mtproto.keys.values()} == {1, 2}
        assert client.session.dc_id == 1
        config = await client(functions.help.GetConfigRequest())
        assert config.this_dc == 1
    finally:
        await pool.disconnect()


# -- downloads through the pool ----------------------------------------------------------


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # No latency nor bandwidth cap (fast tests), but a request budget per account.
    mtproto = MtprotoConfig(
        download_latency_ms=0, download_bytes_per_s=0, download_requests=Rate(BUDGET, 60)
    )
    return EmulatorConfig(seed=1, mtproto=mtproto)


@pytest.fixture
async def two_bots(server: EmulatorServer) -> AsyncIterator[TelethonPool]:
    """A pool of two clients, signed in as two bots: two accounts."""
    clients = []
    try:
        for token in (TOKEN_A, TOKEN_B):
            client = await new_client(server)
            clients.append(client)
            await client.connect()
            await client.sign_in(bot_token=token)
        pool = TelethonPool(Gate(), clients)
        await pool.start()
        yield pool
    finally:
        for client in clients:
            await client.disconnect()


async def _channel_post(sim: Sim, size: int, seed: int) -> tuple[int, int]:
    """A channel both bots administer, holding a synthetic file: its marked id, the
    post's id."""
    owner = await sim.user("Owner")
    chat = await sim.chat(
        "channel",
        title="Files",
        username="files",
        admin_bot_ids=[BOT_A, BOT_B],
        owner_user_id=owner["id"],
    )
    posted = await sim.synthetic(chat["id"], size, seed=seed, file_name="blob.bin")
    return int(chat["id"]), int(posted["message"]["message_id"])


def _fetch(message_id: int) -> Any:
    """The pool call: the client resolves the channel and the message itself (access
    hashes and file references are its account's), then downloads the file."""

    async def fetch(client: TelegramClient) -> tuple[int, bytes]:
        message = await client.get_messages("files", ids=message_id)
        data = await client.download_media(message, bytes)
        me = await client.get_me()
        return int(me.id), data

    return fetch


async def test_a_flood_wait_moves_a_download_to_another_accounts_client(
    server: EmulatorServer, sim: Sim, two_bots: TelethonPool
) -> None:
    pool = two_bots
    assert pool.accounts == [BOT_A, BOT_B]
    size = MIB + 5  # 9 requests of 128 KiB: within the other account's budget
    channel, message_id = await _channel_post(sim, size, seed=41)
    # The first account spends its budget outside the pool (another program on it, say).
    [client_a] = pool.clients_for(BOT_A)
    message = await client_a.get_messages("files", ids=message_id)
    document = message.media.document
    location = types.InputDocumentFileLocation(
        document.id, document.access_hash, document.file_reference, ""
    )
    for _ in range(BUDGET):
        await client_a(functions.upload.GetFileRequest(location, 0, 4 * KIB))

    served_by, data = await pool.call(
        _fetch(message_id), chat_id=channel, method="download", limited=False, timeout=30
    )

    assert data == synthetic_bytes(41, 0, size)
    assert served_by == BOT_B
    downloads = await sim.downloads()
    # The first account was tried and refused (FLOOD_WAIT_60); the second served it all.
    assert downloads[BOT_A] == {
        "requests": BUDGET,
        "bytes": BUDGET * 4 * KIB,
        "flood_waits": 1,
        "drops": 0,
    }
    assert downloads[BOT_B]["bytes"] == size
    assert downloads[BOT_B]["flood_waits"] == 0
    health = pool.gate.health()
    flooded = health[pool.gate.account(BOT_A).label]
    assert (flooded["r429"], flooded["account_blocks"]) == (1, 1)
    assert 50 < float(flooded["blocked_until"]) <= 60  # type: ignore[arg-type]
    assert health[pool.gate.account(BOT_B).label]["blocked_until"] == 0
    # While it is flooded, the next download goes straight to the other account.
    served_by, _ = await pool.call(
        _fetch(message_id), chat_id=channel, method="download", limited=False, timeout=30
    )
    assert served_by == BOT_B
    assert (await sim.downloads())[BOT_A]["flood_waits"] == 1


async def test_a_dropped_connection_mid_download_still_delivers_the_file(
    server: EmulatorServer, sim: Sim, two_bots: TelethonPool
) -> None:
    pool = two_bots
    size = MIB + 5
    channel, message_id = await _channel_post(sim, size, seed=43)
    scheduled = await sim.drop_mtproto(BOT_A, after_requests=2)
    assert scheduled == {"account_id": BOT_A, "after_requests": 2}

    served_by, data = await pool.call(
        _fetch(message_id),
        chat_id=channel,
        accounts=[BOT_A],
        method="download",
        limited=False,
        timeout=30,
    )

    assert served_by == BOT_A
    assert data == synthetic_bytes(43, 0, size)
    downloads = await sim.downloads()
    assert downloads[BOT_A]["drops"] == 1
    # Each of the 9 parts answered once: the one that met the drop was asked again.
    assert downloads[BOT_A]["requests"] == 9
    assert downloads[BOT_A]["bytes"] == size
