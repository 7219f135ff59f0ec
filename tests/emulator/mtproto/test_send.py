"""Sending as an MTProto account: bots and user accounts, their limits and errors."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telethon import errors, functions, types

from mtproto_accounts import signed_in_user
from mtproto_support import signed_in_bot
from sluice.emulator import Emulator, EmulatorConfig, EmulatorServer, Limits, Rate, Sim
from sluice.emulator._config import MtprotoConfig
from sluice.emulator.mtproto._convert import access_hash
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B
from vclock import ManualClock

PHONE = "+15550002"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(
        seed=1, limits=Limits(group=Rate(3, 60.0)), mtproto=MtprotoConfig(peer_flood=2)
    )
    async with EmulatorServer(emulator=Emulator(config, clock=clock)) as srv:
        yield srv


def peer(server: EmulatorServer, viewer: int, user_id: int) -> Any:
    return types.InputPeerUser(user_id, access_hash(server.emulator, viewer, user_id))


def channel(server: EmulatorServer, viewer: int, chat: dict[str, Any]) -> Any:
    """The InputPeerChannel ``viewer`` knows a supergroup or channel by."""
    chat_id = int(chat["id"])
    return types.InputPeerChannel(-chat_id - 10**12, access_hash(server.emulator, viewer, chat_id))


async def bot_api(http: httpx.AsyncClient, token: str, method: str, **params: Any) -> Any:
    return (await http.post(f"/bot{token}/{method}", json=params)).json()


async def test_a_bots_group_message_is_stored_and_a_users_reaches_the_bots(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("supergroup", bot_ids=[BOT_A, BOT_B], member_user_ids=[user["id"]])
    async with signed_in_bot(server, TOKEN_A) as bot, signed_in_user(server, sim, PHONE) as me:
        group = channel(server, BOT_A, chat)
        sent = await bot.send_message(group, "from the bot, **bold**")
        assert sent.text == "from the bot, **bold**"
        assert sent.out
        mine = await me.send_message(channel(server, user["id"], chat), "from the user")
    stored = await sim.messages(chat["id"])
    assert [(m["sender"]["id"], m["text"]) for m in stored] == [
        (BOT_A, "from the bot, bold"),
        (user["id"], "from the user"),
    ]
    assert stored[0]["entities"] == [{"offset": 14, "length": 4, "type": "bold"}]
    assert (stored[0]["message_id"], stored[1]["message_id"]) == (sent.id, mine.id)
    # Bots never see other bots' messages (Bot API FAQ); a user's reaches every bot there.
    updates = (await bot_api(http, TOKEN_B, "getUpdates"))["result"]
    assert [u["message"]["text"] for u in updates] == ["from the user"]
    assert updates[0]["message"]["from"]["id"] == user["id"]


async def test_one_flood_budget_per_bot_across_both_apis(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    chat = await sim.chat("group", bot_ids=[BOT_A, BOT_B])
    for n in range(3):
        assert (await bot_api(http, TOKEN_A, "sendMessage", chat_id=chat["id"], text=f"{n}"))["ok"]
    async with signed_in_bot(server, TOKEN_A, flood_sleep_threshold=0) as bot:
        with pytest.raises(errors.FloodWaitError) as caught:
            await bot.send_message(types.PeerChat(-chat["id"]), "one too many")
        assert 1 <= caught.value.seconds <= 60
    async with signed_in_bot(server, TOKEN_B, flood_sleep_threshold=0) as other:
        for n in range(3):
            await other.send_message(types.PeerChat(-chat["id"]), f"b{n}")
    refused = await bot_api(http, TOKEN_B, "sendMessage", chat_id=chat["id"], text="b3")
    assert refused["error_code"] == 429
    assert refused["parameters"]["retry_after"] >= 1
    assert len(await sim.texts(chat["id"])) == 6


async def test_slow_mode_answers_the_seconds_left(
    server: EmulatorServer, sim: Sim, clock: ManualClock
) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("supergroup", member_user_ids=[user["id"]])
    assert await sim.slow_mode(chat["id"], 30) == {"chat_id": chat["id"], "seconds": 30}
    async with signed_in_user(server, sim, PHONE) as me:
        group = channel(server, user["id"], chat)
        await me.send_message(group, "first")
        with pytest.raises(errors.SlowModeWaitError) as caught:
            await me.send_message(group, "too soon")
        assert caught.value.seconds == 30
        clock.now += 12
        with pytest.raises(errors.SlowModeWaitError) as caught:
            await me.send_message(group, "still too soon")
        assert caught.value.seconds == 18
        clock.now += 18
        await me.send_message(group, "second")
    assert [m["text"] for m in await sim.messages(chat["id"])] == ["first", "second"]


async def test_writing_to_strangers_hits_peer_flood(server: EmulatorServer, sim: Sim) -> None:
    me = await sim.account(PHONE)
    friend = await sim.account("+15550003", "Friend")
    strangers = [(await sim.user(f"S{n}"))["id"] for n in range(3)]
    async with signed_in_user(server, sim, "+15550003") as other:
        await other.send_message(peer(server, friend["id"], me["id"]), "hi, write back")
    async with signed_in_user(server, sim, PHONE) as client:
        await client.send_message(peer(server, me["id"], friend["id"]), "they wrote first")
        for stranger in strangers[:2]:
            await client.send_message(peer(server, me["id"], stranger), "hello")
        with pytest.raises(errors.PeerFloodError):
            await client.send_message(peer(server, me["id"], strangers[2]), "hello")
        await client.send_message(peer(server, me["id"], strangers[0]), "again")
    assert [m["text"] for m in await sim.messages(strangers[2])] == []


async def test_a_users_message_to_a_bot_is_an_update_and_the_bots_answer_comes_back(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    me = await sim.account(PHONE)
    assert (await bot_api(http, TOKEN_A, "getMe"))["ok"]
    async with signed_in_user(server, sim, PHONE) as client:
        sent = await client.send_message(peer(server, me["id"], BOT_A), "/start")
        update = (await bot_api(http, TOKEN_A, "getUpdates"))["result"][0]["message"]
        assert (update["text"], update["from"]["id"], update["chat"]["id"]) == (
            "/start",
            me["id"],
            me["id"],
        )
        assert update["message_id"] == sent.id
        answer = await bot_api(http, TOKEN_A, "sendMessage", chat_id=me["id"], text="welcome")
        assert answer["ok"]
    assert (await bot_api(http, TOKEN_B, "getMe"))["ok"]
    async with signed_in_bot(server, TOKEN_A) as bot:
        with pytest.raises(errors.UserIsBotError):
            await bot.send_message(peer(server, BOT_A, BOT_B), "bots cannot write to bots")


async def test_send_file_big_upload_round_trips(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("supergroup", member_user_ids=[user["id"]], bot_ids=[BOT_A])
    data = os.urandom(10 * 1024 * 1024 + 12345)  # past 10 MB: upload.saveBigFilePart
    async with signed_in_user(server, sim, PHONE) as me:
        group = channel(server, user["id"], chat)
        upload = io.BytesIO(data)
        upload.name = "big.bin"
        sent = await me.send_file(group, upload, caption="the file", force_document=True)
        assert sent.file.size == len(data)
        assert sent.text == "the file"
        voice = await me.send_file(group, io.BytesIO(b"OggS" + bytes(1000)), voice_note=True)
        again = await me.send_file(group, sent.media.document)  # InputMediaDocument
    stored = await sim.messages(chat["id"])
    kinds = [(m["media"]["kind"], m["media"]["size"]) for m in stored]
    assert kinds == [("document", len(data)), ("voice", 1004), ("document", len(data))]
    assert stored[0]["media"]["file_name"] == "big.bin"
    assert stored[0]["caption"] == "the file"
    assert stored[2]["media"]["file_unique_id"] == stored[0]["media"]["file_unique_id"]
    assert (voice.id, again.id) == (stored[1]["message_id"], stored[2]["message_id"])
    download = await http.get(f"/_sim/files/{stored[0]['media']['file_unique_id']}")
    assert download.content == data
    bot_update = (await bot_api(http, TOKEN_A, "getUpdates"))["result"][0]["message"]
    assert bot_update["document"]["file_size"] == len(data)


async def test_edit_and_delete(server: EmulatorServer, sim: Sim, http: httpx.AsyncClient) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("supergroup", member_user_ids=[user["id"]], bot_ids=[BOT_A])
    async with signed_in_user(server, sim, PHONE) as me:
        group = channel(server, user["id"], chat)
        first = await me.send_message(group, "draft")
        edited = await me.edit_message(group, first.id, "final")
        assert edited.text == "final"
        assert edited.edit_date is not None
        with pytest.raises(errors.MessageNotModifiedError):
            await me.edit_message(group, first.id, "final")
        other = await sim.send(chat["id"], "not yours", from_user_id=user["id"])
        await sim.post("users", first_name="x")
        sent = await bot_api(http, TOKEN_A, "sendMessage", chat_id=chat["id"], text="bot's")
        with pytest.raises(errors.MessageAuthorRequiredError):
            await me.edit_message(group, sent["result"]["message_id"], "mine now")
        with pytest.raises(errors.ChatAdminRequiredError):
            await me.delete_messages(group, [sent["result"]["message_id"]])
        affected = await me.delete_messages(group, [first.id, other["message_id"]])
        assert affected[0].pts_count == 2
    stored = await sim.messages(chat["id"])
    assert [(m["text"], m["deleted"]) for m in stored] == [
        ("final", True),
        ("not yours", True),
        ("bot's", False),
    ]
    assert stored[0]["edit_history"][0]["text"] == "draft"
    kinds = [
        next(k for k in u if k != "update_id")
        for u in (await bot_api(http, TOKEN_A, "getUpdates"))["result"]
    ]
    assert kinds == ["message", "edited_message", "message"]


async def test_user_account_refusals(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.account(PHONE)
    broadcast = await sim.chat("channel", member_user_ids=[user["id"]])
    outside = await sim.chat("supergroup")
    banned = await sim.chat("supergroup", member_user_ids=[user["id"]], bot_ids=[BOT_A])
    server.emulator.world.chats[banned["id"]].banned[user["id"]] = 0
    async with signed_in_user(
        server, sim, PHONE, request_retries=1, raise_last_call_error=True
    ) as me:
        with pytest.raises(errors.ChatAdminRequiredError):
            await me.send_message(channel(server, user["id"], broadcast), "posting without rights")
        with pytest.raises(errors.ChatWriteForbiddenError):
            await me.send_message(channel(server, user["id"], outside), "not a member")
        with pytest.raises(errors.UserBannedInChannelError):
            await me.send_message(channel(server, user["id"], banned), "banned")
        request = functions.messages.SendMessageRequest(
            peer(server, user["id"], user["id"]), "saved", random_id=42
        )
        await me(request)
        with pytest.raises(errors.RandomIdDuplicateError):
            await me(request)
    assert [m["text"] for m in await sim.messages(user["id"])] == ["saved"]
