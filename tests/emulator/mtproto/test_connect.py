"""Connecting real Telethon clients: transports, auth keys, sessions, bot sign-in."""

from __future__ import annotations

from pathlib import Path

import pytest
from telethon import errors, functions
from telethon.network import connection as transports
from telethon.sessions import SQLiteSession

from mtproto_support import API_ID, connected, mtproto_info, signed_in_bot
from sluice.emulator import EmulatorConfig, EmulatorServer
from support import BOT_A, TOKEN_A, TOKEN_B


async def test_sim_mtproto_names_two_dcs_and_the_key(server: EmulatorServer) -> None:
    info = await mtproto_info(server)
    assert [d["id"] for d in info["dcs"]] == [1, 2]
    assert len({d["port"] for d in info["dcs"]}) == 2
    assert all(d["host"] == "127.0.0.1" for d in info["dcs"])
    assert info["rsa_public_key_pem"].startswith("-----BEGIN RSA PUBLIC KEY-----")


@pytest.mark.parametrize(
    "transport",
    [
        transports.ConnectionTcpFull,
        transports.ConnectionTcpAbridged,
        transports.ConnectionTcpIntermediate,
        transports.ConnectionTcpObfuscated,
    ],
)
async def test_a_bot_signs_in_over_each_transport(server: EmulatorServer, transport: type) -> None:
    async with signed_in_bot(server, TOKEN_A, connection=transport) as client:
        me = await client.get_me()
    assert (me.id, me.bot, me.username) == (BOT_A, True, f"emu{BOT_A}_bot")


async def test_config_points_at_the_emulators_two_dcs(server: EmulatorServer) -> None:
    info = await mtproto_info(server)
    async with connected(server) as client:
        config = await client(functions.help.GetConfigRequest())
    options = {(o.id, o.ip_address, o.port) for o in config.dc_options}
    assert options == {(d["id"], d["host"], d["port"]) for d in info["dcs"]}
    assert config.this_dc == 1


async def test_a_session_file_is_reused_after_a_restart(
    server: EmulatorServer, tmp_path: Path
) -> None:
    path = str(tmp_path / "bot.session")
    async with signed_in_bot(server, TOKEN_A, SQLiteSession(path)):
        pass
    logins = server.emulator.mtproto._bot_logins[BOT_A]  # type: ignore[union-attr]
    assert len(logins) == 1
    async with connected(server, SQLiteSession(path)) as client:
        assert await client.is_user_authorized()
        me = await client.get_me()
    assert me.id == BOT_A
    assert len(server.emulator.mtproto._bot_logins[BOT_A]) == 1  # type: ignore[union-attr]


async def test_an_unknown_method_names_itself(server: EmulatorServer) -> None:
    async with signed_in_bot(server, TOKEN_A) as client:
        with pytest.raises(errors.RPCError, match=r"METHOD_NOT_EMULATED: account.getWallPapers"):
            await client(functions.account.GetWallPapersRequest(hash=0))


async def test_a_wrong_api_hash_is_api_id_invalid(server: EmulatorServer) -> None:
    async with signed_in_bot(server, TOKEN_A):
        pass
    wrong = "f" * 32
    async with connected(server, api_hash=wrong) as client:
        with pytest.raises(errors.ApiIdInvalidError):
            await client.sign_in(bot_token=TOKEN_B)


async def test_a_malformed_token_is_access_token_invalid(server: EmulatorServer) -> None:
    async with connected(server) as client:
        with pytest.raises(errors.AccessTokenInvalidError):
            await client.sign_in(bot_token="123:short")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    from sluice.emulator import Rate
    from sluice.emulator._config import MtprotoConfig

    return EmulatorConfig(seed=1, mtproto=MtprotoConfig(bot_logins=Rate(3, 3600)))


async def test_signing_a_bot_in_again_and_again_earns_a_long_flood_wait(
    server: EmulatorServer,
) -> None:
    for _ in range(3):
        async with signed_in_bot(server, TOKEN_A):
            pass
    async with connected(server) as client:
        with pytest.raises(errors.FloodWaitError) as caught:
            await client.sign_in(bot_token=TOKEN_A)
    assert 3590 <= caught.value.seconds <= 3600
    assert API_ID in server.emulator.mtproto.apps  # type: ignore[union-attr]
