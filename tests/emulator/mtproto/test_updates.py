"""Updates pushed to connected MTProto clients, and the differences that fill gaps."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from telethon import events, functions, types
from telethon.sessions import MemorySession

from mtproto_accounts import signed_in_user, wait_for
from mtproto_support import signed_in_bot
from sluice.emulator import EmulatorServer, Sim
from sluice.emulator.mtproto._convert import access_hash
from support import BOT_A, TOKEN_A, TOKEN_B

PHONE = "+15550010"
BOUND = 10.0  # seconds an awaited event may take


def channel(server: EmulatorServer, viewer: int, chat: dict[str, Any]) -> Any:
    chat_id = int(chat["id"])
    return types.InputPeerChannel(-chat_id - 10**12, access_hash(server.emulator, viewer, chat_id))


async def bot_api(http: httpx.AsyncClient, token: str, method: str, **params: Any) -> Any:
    answer = (await http.post(f"/bot{token}/{method}", json=params)).json()
    assert answer["ok"], answer
    return answer["result"]


async def test_a_simulated_users_message_fires_new_message_for_the_bot(
    server: EmulatorServer, sim: Sim
) -> None:
    user = await sim.started_user(BOT_A, first_name="Ana")
    async with signed_in_bot(server, TOKEN_A) as bot:
        arrived = await wait_for(bot, events.NewMessage(incoming=True))
        sent = await sim.send(user["id"], "hello bot", bot_id=BOT_A)
        event = await asyncio.wait_for(arrived, BOUND)
    assert (event.raw_text, event.sender_id, event.chat_id) == ("hello bot", user["id"], user["id"])
    assert event.id == sent["message_id"]
    assert event.is_private


async def test_a_bot_api_bots_group_message_edit_and_delete_reach_a_user_account(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user["id"]])
    async with signed_in_user(server, sim, PHONE) as me:
        arrived = await wait_for(me, events.NewMessage())
        sent = await bot_api(http, TOKEN_A, "sendMessage", chat_id=chat["id"], text="news")
        event = await asyncio.wait_for(arrived, BOUND)
        assert (event.raw_text, event.sender_id, event.chat_id) == ("news", BOT_A, chat["id"])

        edited = await wait_for(me, events.MessageEdited())
        await bot_api(
            http,
            TOKEN_A,
            "editMessageText",
            chat_id=chat["id"],
            message_id=sent["message_id"],
            text="news, corrected",
        )
        event = await asyncio.wait_for(edited, BOUND)
        assert (event.id, event.raw_text) == (sent["message_id"], "news, corrected")

        deleted = await wait_for(me, events.MessageDeleted())
        await bot_api(
            http, TOKEN_A, "deleteMessage", chat_id=chat["id"], message_id=sent["message_id"]
        )
        event = await asyncio.wait_for(deleted, BOUND)
        assert event.deleted_ids == [sent["message_id"]]
        assert event.chat_id == chat["id"]


async def test_one_account_writes_another_in_a_basic_group_and_privately(
    server: EmulatorServer, sim: Sim
) -> None:
    ana = await sim.account(PHONE, "Ana")
    bob = await sim.account("+15550011", "Bob")
    group = await sim.chat("group", member_user_ids=[ana["id"], bob["id"]])
    async with (
        signed_in_user(server, sim, PHONE) as a,
        signed_in_user(server, sim, "+15550011") as b,
    ):
        private = await wait_for(b, events.NewMessage(), where=lambda e: e.is_private)
        to_bob = types.InputPeerUser(bob["id"], access_hash(server.emulator, ana["id"], bob["id"]))
        await a.send_message(to_bob, "hi Bob")
        event = await asyncio.wait_for(private, BOUND)
        assert (event.raw_text, event.sender_id, event.chat_id) == ("hi Bob", ana["id"], ana["id"])

        in_group = await wait_for(b, events.NewMessage(), where=lambda e: e.is_group)
        sent = await a.send_message(types.InputPeerChat(-group["id"]), "hi all")
        event = await asyncio.wait_for(in_group, BOUND)
        assert (event.raw_text, event.id, event.chat_id) == ("hi all", sent.id, group["id"])
        state = await b(functions.updates.GetStateRequest())
        assert state.pts == 3  # two new messages after the first pts


async def test_get_difference_after_a_disconnect_returns_the_missed_message(
    server: EmulatorServer, sim: Sim
) -> None:
    user = await sim.started_user(BOT_A)
    session = MemorySession()
    async with signed_in_bot(server, TOKEN_A, session) as bot:
        before = await bot(functions.updates.GetStateRequest())
    missed = await sim.send(user["id"], "while you were away", bot_id=BOT_A)
    async with signed_in_bot(server, TOKEN_A, session, catch_up=True) as bot:
        difference = await bot(
            functions.updates.GetDifferenceRequest(pts=before.pts, date=before.date, qts=0)
        )
        assert isinstance(difference, types.updates.Difference)
        assert [m.message for m in difference.new_messages] == ["while you were away"]
        assert difference.new_messages[0].id == missed["message_id"]
        assert difference.state.pts == before.pts + 1
    # Telethon's own catch-up (a new client on the saved state) fires the handler.
    async with signed_in_bot(server, TOKEN_A, session) as bot:
        state = await bot(functions.updates.GetStateRequest())
    await sim.send(user["id"], "and again", bot_id=BOT_A)
    async with signed_in_bot(server, TOKEN_A, session, catch_up=True) as bot:
        arrived = await wait_for(bot, events.NewMessage())
        await bot.catch_up()
        event = await asyncio.wait_for(arrived, BOUND)
        assert event.raw_text == "and again"
        assert (await bot(functions.updates.GetStateRequest())).pts == state.pts + 1


async def test_an_old_difference_is_too_long(server: EmulatorServer, sim: Sim) -> None:
    assert server.emulator.mtproto is not None
    server.emulator.mtproto.log_limit = 3
    user = await sim.started_user(BOT_A)
    session = MemorySession()
    async with signed_in_bot(server, TOKEN_A, session) as bot:
        before = await bot(functions.updates.GetStateRequest())
    for n in range(5):
        await sim.send(user["id"], f"m{n}", bot_id=BOT_A)
    async with signed_in_bot(server, TOKEN_A, session) as bot:
        difference = await bot(
            functions.updates.GetDifferenceRequest(pts=before.pts, date=before.date, qts=0)
        )
        assert isinstance(difference, types.updates.DifferenceTooLong)
        assert difference.pts == before.pts + 5
        recent = await bot(
            functions.updates.GetDifferenceRequest(pts=before.pts + 2, date=before.date, qts=0)
        )
        assert [m.message for m in recent.new_messages] == ["m2", "m3", "m4"]


async def test_channel_difference(
    server: EmulatorServer, sim: Sim, http: httpx.AsyncClient
) -> None:
    user = await sim.account(PHONE)
    chat = await sim.chat("channel", admin_bot_ids=[BOT_A], member_user_ids=[user["id"]])
    await bot_api(http, TOKEN_B, "getMe")
    async with signed_in_user(server, sim, PHONE) as me:
        arrived = await wait_for(me, events.NewMessage())
        first = await bot_api(http, TOKEN_A, "sendMessage", chat_id=chat["id"], text="post 1")
        event = await asyncio.wait_for(arrived, BOUND)
        assert event.is_channel
        assert event.id == first["message_id"]
        pts = server.emulator.mtproto.channel_pts[chat["id"]]  # type: ignore[union-attr]
        await bot_api(http, TOKEN_A, "sendMessage", chat_id=chat["id"], text="post 2")
        request = functions.updates.GetChannelDifferenceRequest(
            channel(server, user["id"], chat), types.ChannelMessagesFilterEmpty(), pts, 100
        )
        difference = await me(request)
        assert [m.message for m in difference.new_messages] == ["post 2"]
        assert difference.final
        assert difference.pts == pts + 1
        request.pts = pts + 1
        assert isinstance(await me(request), types.updates.ChannelDifferenceEmpty)
