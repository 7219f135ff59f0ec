"""User accounts signing in with the code the emulator reveals; API apps."""

from __future__ import annotations

import pytest
from telethon import errors, functions

from mtproto_accounts import signed_in_user
from mtproto_support import connected
from sluice.emulator import EmulatorServer, Sim

PHONE = "+15550001"


async def test_a_user_signs_in_with_the_revealed_code(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.account(PHONE, "Ana", username="ana")
    assert user["phone"] == "15550001"
    async with connected(server) as client:
        assert not await client.is_user_authorized()
        sent = await client.send_code_request(PHONE)
        code = await sim.login_code(PHONE)
        assert len(code) == 5
        assert code.isdigit()
        assert sent.type.length == 5
        me = await client.sign_in(PHONE, code)
        assert (me.id, bool(me.bot), me.phone) == (user["id"], False, "15550001")
        again = await client.get_me()
    assert (again.id, again.username, again.is_self) == (user["id"], "ana", True)


async def test_client_start_with_a_code_callback(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.account(PHONE)
    async with connected(server) as client:

        async def code() -> str:
            return await sim.login_code(PHONE)

        await client.start(phone=PHONE, code_callback=code)
        assert (await client.get_me()).id == user["id"]


async def test_a_wrong_code_then_the_right_one(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.account(PHONE)
    async with connected(server) as client:
        await client.send_code_request(PHONE)
        code = await sim.login_code(PHONE)
        wrong = f"{(int(code) + 1) % 100_000:05d}"
        with pytest.raises(errors.PhoneCodeInvalidError):
            await client.sign_in(PHONE, wrong)
        assert not await client.is_user_authorized()
        assert (await client.sign_in(PHONE, code)).id == user["id"]


async def test_a_code_is_used_once_and_empty_codes_are_refused(
    server: EmulatorServer, sim: Sim
) -> None:
    await sim.account(PHONE)
    async with connected(server) as first:
        sent = await first.send_code_request(PHONE)
        code = await sim.login_code(PHONE)
        with pytest.raises(errors.PhoneCodeEmptyError):
            await first(functions.auth.SignInRequest(PHONE, sent.phone_code_hash, ""))
        await first.sign_in(PHONE, code)
    async with connected(server) as second:
        with pytest.raises(errors.PhoneCodeExpiredError):
            await second(functions.auth.SignInRequest(PHONE, sent.phone_code_hash, code))


async def test_phone_errors(server: EmulatorServer, sim: Sim) -> None:
    async with connected(server) as client:
        with pytest.raises(errors.PhoneNumberInvalidError):
            await client.send_code_request("+123")
        await client.send_code_request("+15559999")  # nobody has it: sign-up is not emulated
        code = await sim.login_code("+15559999")
        with pytest.raises(errors.PhoneNumberUnoccupiedError):
            await client.sign_in("+15559999", code)


async def test_signing_in_on_dc2_is_sent_to_dc1(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.account(PHONE)
    async with connected(server, dc=2) as client:
        assert client.session.dc_id == 2
        await client.send_code_request(PHONE)  # PHONE_MIGRATE_1: Telethon moves to DC 1
        assert client.session.dc_id == 1
        me = await client.sign_in(PHONE, await sim.login_code(PHONE))
        assert me.id == user["id"]


async def test_log_out_ends_the_authorization(server: EmulatorServer, sim: Sim) -> None:
    await sim.account(PHONE)
    async with signed_in_user(server, sim, PHONE) as client:
        assert await client.is_user_authorized()
        assert await client.log_out()
    async with connected(server) as client:
        assert not await client.is_user_authorized()


async def test_registered_apps_only(server: EmulatorServer, sim: Sim) -> None:
    other_hash = "ab" * 16
    answer = await sim.register_app(777, other_hash, restricted=True)
    assert answer == {"api_ids": [777], "restricted": True}
    assert other_hash not in str(answer)
    await sim.account(PHONE)
    async with connected(server) as client:  # API_ID was never registered
        with pytest.raises(errors.ApiIdInvalidError):
            await client.send_code_request(PHONE)
    async with connected(server, api_id=777, api_hash="cd" * 16) as client:
        with pytest.raises(errors.ApiIdInvalidError):
            await client.send_code_request(PHONE)
    async with signed_in_user(server, sim, PHONE, api_id=777, api_hash=other_hash) as client:
        assert await client.is_user_authorized()
