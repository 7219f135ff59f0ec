"""Reading over MTProto with real Telethon clients: entities, messages by id, history
and who may read what."""

from __future__ import annotations

import pytest
from telethon import errors, functions, types, utils

from mtproto_accounts import signed_in_user
from mtproto_support import admin_channel, signed_in_bot
from sluice.emulator import EmulatorServer, Sim
from sluice.emulator.mtproto._convert import access_hash
from support import BOT_A, TOKEN_A

PHONE = "+15550002"


async def test_get_entity_of_a_channel_by_username_then_by_id(
    server: EmulatorServer, sim: Sim
) -> None:
    channel_id, _ = await admin_channel(sim)
    async with signed_in_bot(server, TOKEN_A) as client:
        channel = await client.get_entity("news")
        assert isinstance(channel, types.Channel)
        assert (utils.get_peer_id(channel), channel.title, channel.broadcast) == (
            channel_id,
            "News",
            True,
        )
        again = await client.get_entity(types.PeerChannel(channel.id))  # channels.getChannels
        assert (again.id, again.access_hash) == (channel.id, channel.access_hash)
        bot = await client.get_entity(f"emu{BOT_A}_bot")
        assert isinstance(bot, types.User)
        assert (bot.id, bot.bot, bot.is_self) == (BOT_A, True, True)
        full = await client(functions.channels.GetFullChannelRequest(channel))
        assert full.full_chat.participants_count == 2  # the owner and the bot


async def test_resolving_usernames_that_name_nobody(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.user("Ana", username="ana_reads")
    async with signed_in_bot(server, TOKEN_A) as client:
        with pytest.raises(errors.UsernameNotOccupiedError):
            await client(functions.contacts.ResolveUsernameRequest("nobody_here"))
        with pytest.raises(errors.UsernameInvalidError):
            await client(functions.contacts.ResolveUsernameRequest("not-a-name"))
        resolved = await client(functions.contacts.ResolveUsernameRequest("ANA_reads"))
        assert resolved.peer == types.PeerUser(user["id"])
        full = await client(functions.users.GetFullUserRequest(resolved.users[0]))
        assert full.full_user.id == user["id"]


async def test_channel_messages_by_id(server: EmulatorServer, sim: Sim) -> None:
    channel_id, owner = await admin_channel(sim)
    for text in ("one", "two", "three"):
        await sim.send(channel_id, text, from_user_id=owner)
    async with signed_in_bot(server, TOKEN_A) as client:
        channel = await client.get_entity("news")
        found = await client.get_messages(channel, ids=[3, 1, 99])
        assert [m.text if m else None for m in found] == ["three", "one", None]
        assert all(m.post for m in found if m)
        wrong = types.InputChannel(channel.id, channel.access_hash + 1)
        with pytest.raises(errors.ChannelInvalidError):
            await client(functions.channels.GetMessagesRequest(wrong, [types.InputMessageID(1)]))


async def test_a_bot_removed_from_a_channel_can_no_longer_read_it(
    server: EmulatorServer, sim: Sim
) -> None:
    channel_id, owner = await admin_channel(sim)
    await sim.send(channel_id, "before", from_user_id=owner)
    async with signed_in_bot(server, TOKEN_A) as client:
        channel = await client.get_entity("news")
        assert (await client.get_messages(channel, ids=1)).text == "before"
        await sim.remove_member(channel_id, bot_id=BOT_A, by_user_id=owner)
        with pytest.raises(errors.ChannelPrivateError):
            await client.get_messages(channel, ids=1)
        with pytest.raises(errors.ChannelPrivateError):
            await client(functions.channels.GetFullChannelRequest(channel))
        await sim.remove_member(channel_id, bot_id=BOT_A, by_user_id=owner, ban=True)
        seen = await client(functions.channels.GetChannelsRequest([channel]))
        assert isinstance(seen.chats[0], types.ChannelForbidden)


async def test_a_bots_private_chats_share_one_sequence_of_ids(
    server: EmulatorServer, sim: Sim
) -> None:
    ana = await sim.started_user(BOT_A, first_name="Ana")
    bob = await sim.started_user(BOT_A, first_name="Bob")
    first = await sim.send(ana["id"], "from ana")
    second = await sim.send(bob["id"], "from bob")
    ids = [first["message_id"], second["message_id"]]
    async with signed_in_bot(server, TOKEN_A) as client:
        found = await client.get_messages(None, ids=ids)
        assert [(m.text, m.sender_id, m.chat_id) for m in found] == [
            ("from ana", ana["id"], ana["id"]),
            ("from bob", bob["id"], bob["id"]),
        ]
        # By peer (its access hash learnt from the answer): another chat's id is None.
        in_ana = await client.get_messages(ana["id"], ids=ids)
        assert [m.text if m else None for m in in_ana] == ["from ana", None]
        with pytest.raises(errors.BotMethodInvalidError):
            await client.get_messages(ana["id"], limit=10)  # history is not for bots


async def test_a_bot_reads_a_basic_group_it_is_in(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.user("Ana")
    group = await sim.chat("group", title="Old", bot_ids=[BOT_A], member_user_ids=[user["id"]])
    sent = await sim.send(group["id"], "hello group", from_user_id=user["id"])
    outsider = await sim.chat("group", title="Other", member_user_ids=[user["id"]])
    await sim.send(outsider["id"], "not for the bot", from_user_id=user["id"])
    async with signed_in_bot(server, TOKEN_A) as client:
        [message] = await client.get_messages(
            types.PeerChat(-group["id"]), ids=[sent["message_id"]]
        )
        assert (message.text, message.sender_id, message.chat_id) == (
            "hello group",
            user["id"],
            group["id"],
        )
        chats = await client(functions.messages.GetChatsRequest([-group["id"]]))
        assert chats.chats[0].title == "Old"


async def test_history_pages_as_iter_messages_asks(server: EmulatorServer, sim: Sim) -> None:
    account = await sim.account(PHONE, "Reader")
    owner = await sim.user("Owner")
    chat = await sim.chat(
        "supergroup",
        title="Busy",
        username="busy",
        member_user_ids=[account["id"]],
        owner_user_id=owner["id"],
    )
    for n in range(1, 131):
        await sim.send(chat["id"], f"m{n}", from_user_id=owner["id"])
    async with signed_in_user(server, sim, PHONE) as client:
        group = await client.get_entity("busy")
        every = [m.id async for m in client.iter_messages(group)]  # two pages of 100
        assert every == list(range(130, 0, -1))
        oldest = [m.id async for m in client.iter_messages(group, reverse=True, limit=105)]
        assert oldest == list(range(1, 106))
        below = [m.id async for m in client.iter_messages(group, offset_id=10)]
        assert below == list(range(9, 0, -1))
        window = [m.id async for m in client.iter_messages(group, min_id=5, max_id=12)]
        assert window == list(range(11, 5, -1))
        around = await client(functions.messages.GetHistoryRequest(group, 10, None, -3, 6, 0, 0, 0))
        assert isinstance(around, types.messages.ChannelMessages)
        assert [m.id for m in around.messages] == [12, 11, 10, 9, 8, 7]
        assert around.count == 130
        assert (await client.get_messages(group, limit=1))[0].text == "m130"


async def test_a_user_account_reads_its_private_chat_with_a_bot(
    server: EmulatorServer, sim: Sim
) -> None:
    account = await sim.account(PHONE, "Reader")
    await sim.start(BOT_A, account["id"])
    await sim.send(account["id"], "hi bot", bot_id=BOT_A)
    async with signed_in_user(server, sim, PHONE) as client:
        bot = await client.get_entity(f"emu{BOT_A}_bot")
        history = await client.get_messages(bot, limit=10)
        assert [m.text for m in history] == ["hi bot", "/start"]
        assert all(m.out for m in history)
        assert history.total == 2


async def test_a_user_account_reads_public_channels_but_not_private_ones_it_left(
    server: EmulatorServer, sim: Sim
) -> None:
    account = await sim.account(PHONE, "Reader")
    channel_id, owner = await admin_channel(sim, username="public_news")
    await sim.send(channel_id, "for everyone", from_user_id=owner)
    secret = await sim.chat(
        "supergroup", title="Secret", member_user_ids=[account["id"]], owner_user_id=owner
    )
    await sim.send(secret["id"], "members only", from_user_id=owner)
    # The access hash the account knows the supergroup by (from its dialogs, on Telegram).
    known = types.InputPeerChannel(
        utils.resolve_id(secret["id"])[0], access_hash(server.emulator, account["id"], secret["id"])
    )
    async with signed_in_user(server, sim, PHONE) as client:
        public = await client.get_entity("public_news")
        assert public.left  # never joined, and still reads it
        assert (await client.get_messages(public, limit=5))[0].text == "for everyone"
        assert (await client.get_messages(known, ids=1)).text == "members only"
        await sim.leave(secret["id"], account["id"])
        with pytest.raises(errors.ChannelPrivateError):
            await client.get_messages(known, ids=1)
        with pytest.raises(errors.ChannelPrivateError):
            await client.get_messages(known, limit=1)


async def test_a_fresh_bot_session_reads_by_the_ids_the_bot_api_gave_it(
    server: EmulatorServer, sim: Sim
) -> None:
    # A bot knows chats by their Bot API ids only; Telethon asks with access_hash 0, which
    # Telegram accepts from a bot for chats it is in and users who started it.
    channel_id, owner = await admin_channel(sim, username=None)
    post = await sim.send(channel_id, "in the channel", from_user_id=owner)
    user = await sim.started_user(BOT_A)
    said = await sim.send(user["id"], "in private")
    stranger = await sim.user("Stranger")
    async with signed_in_bot(server, TOKEN_A) as client:
        in_channel = await client.get_messages(channel_id, ids=post["message_id"])
        in_private = await client.get_messages(user["id"], ids=said["message_id"])
        with pytest.raises(errors.ChannelInvalidError):
            await client(functions.channels.GetChannelsRequest([types.InputChannel(1, 0)]))
        with pytest.raises(ValueError, match="Could not find the input entity"):
            await client.get_messages(stranger["id"], ids=1)
    assert in_channel.message == "in the channel"
    assert in_private.message == "in private"
