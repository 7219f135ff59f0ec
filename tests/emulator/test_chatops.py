"""Pins, reactions, several messages at once, forum topics and users' messages in context,
through aiogram 3 and python-telegram-bot 22, unmodified."""

from __future__ import annotations

import asyncio
import base64
import datetime as dtm
from collections.abc import AsyncIterator
from typing import Any

import pytest
import telegram
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    MessageReactionUpdated,
    ReactionTypeEmoji,
    ReactionTypeUnion,
    Update,
)
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    filters,
)

from sluice import EmulatorError
from sluice.emulator import EmulatorConfig, EmulatorServer, Limits
from sluice.emulator._world import ChatAdmin
from support import BOT_A, TOKEN_A, Sim

WAIT = 10.0  # the bound on every wait for an update
Event = tuple[Any, ...]


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # Room for a dozen sends into one private chat: these tests are about what the
    # calls do, the limits have their own tests.
    return EmulatorConfig(seed=1, limits=Limits(private_burst=50))


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on reading durations as int; opt in to timedelta, its future default.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    api = TelegramAPIServer.from_base(server.url)
    bot = Bot(TOKEN_A, session=AiohttpSession(api=api))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def ptb(server: EmulatorServer) -> AsyncIterator[telegram.Bot]:
    base = server.url
    async with telegram.Bot(
        TOKEN_A, base_url=base + "/bot", base_file_url=base + "/file/bot"
    ) as ptb_bot:
        yield ptb_bot


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A, first_name="Ana"))["id"])


async def next_update(
    bot: Bot, kind: str, allowed: list[str] | None = None, *, field: str | None = None
) -> Update:
    """Long-poll (confirming what it skips) until an update carrying ``kind`` (whose
    ``field`` is set, if given) arrives."""
    offset: int | None = None
    async with asyncio.timeout(WAIT):
        while True:
            for update in await bot.get_updates(offset, timeout=2, allowed_updates=allowed):
                offset = update.update_id + 1
                found = getattr(update, kind)
                if found is not None and (field is None or getattr(found, field) is not None):
                    await bot.get_updates(offset, timeout=0)
                    return update


def by_id(messages: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {m["message_id"]: m for m in messages}


async def forum(sim: Sim, member: int, *, admin: bool = True) -> tuple[int, int]:
    """A forum supergroup with the member and BOT_A in it, and a topic there: (chat, thread)."""
    bots = {"bot_ids": [BOT_A], "admin_bot_ids": [BOT_A] if admin else []}
    chat = await sim.chat("supergroup", is_forum=True, member_user_ids=[member], **bots)
    assert chat["is_forum"] is True
    topic = await sim.topic(chat["id"], "Ideas", from_user_id=member)
    assert topic["message_thread_id"] == topic["message_id"]
    assert topic["forum_topic_created"] == {"name": "Ideas", "icon_color": 7322096}
    return int(chat["id"]), int(topic["message_thread_id"])


# -- pins ------------------------------------------------------------------------------


async def test_pins_through_aiogram(bot: Bot, user_id: int, sim: Sim) -> None:
    first = await bot.send_message(user_id, "one")
    second = await bot.send_message(user_id, "two")
    assert await bot.pin_chat_message(user_id, first.message_id) is True
    service = (await next_update(bot, "message", field="pinned_message")).message
    assert service is not None
    assert service.from_user is not None
    assert service.from_user.id == BOT_A  # the bot receives its own pin's service message
    assert isinstance(service.pinned_message, Message)
    assert service.pinned_message.message_id == first.message_id
    assert service.pinned_message.text == "one"
    assert await bot.pin_chat_message(user_id, second.message_id, disable_notification=True)

    # Without a message id: the most recently pinned.
    assert await bot.unpin_chat_message(user_id) is True
    log = by_id(await sim.messages(user_id))
    assert (log[first.message_id]["pinned"], log[second.message_id]["pinned"]) == (True, False)
    assert [m["pinned_message"]["message_id"] for m in log.values() if "pinned_message" in m] == [
        first.message_id,
        second.message_id,
    ]
    assert await bot.unpin_all_chat_messages(user_id) is True
    assert not any(m["pinned"] for m in await sim.messages(user_id))

    with pytest.raises(TelegramBadRequest) as missing:
        await bot.pin_chat_message(user_id, 999)
    assert missing.value.message == "Bad Request: message to pin not found"
    with pytest.raises(TelegramBadRequest) as none_pinned:
        await bot.unpin_chat_message(user_id)
    assert none_pinned.value.message == "Bad Request: message to unpin not found"

    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    mine = await bot.send_message(group["id"], "pin me")
    with pytest.raises(TelegramBadRequest) as rights:
        await bot.pin_chat_message(group["id"], mine.message_id)
    assert rights.value.message == (
        "Bad Request: not enough rights to manage pinned messages in the chat"
    )
    with pytest.raises(TelegramBadRequest):
        await bot.unpin_all_chat_messages(group["id"])


async def test_pins_through_ptb(ptb: telegram.Bot, server: EmulatorServer, sim: Sim) -> None:
    member = await sim.user("Bea")
    group = await sim.chat(
        "supergroup", bot_ids=[BOT_A], admin_bot_ids=[BOT_A], member_user_ids=[member["id"]]
    )
    said = await sim.send(group["id"], "remember this", from_user_id=member["id"])
    assert await ptb.pin_chat_message(group["id"], said["message_id"]) is True
    async with asyncio.timeout(WAIT):
        updates: tuple[telegram.Update, ...] = ()
        while not any(u.message and u.message.pinned_message for u in updates):
            updates = await ptb.get_updates(timeout=dtm.timedelta(seconds=2))
    service = next(u.message for u in updates if u.message and u.message.pinned_message)
    assert service.from_user is not None
    assert service.from_user.id == BOT_A
    pinned = service.pinned_message
    assert isinstance(pinned, telegram.Message)
    assert (pinned.message_id, pinned.text) == (said["message_id"], "remember this")
    log = by_id(await sim.messages(group["id"]))
    assert log[said["message_id"]]["pinned"] is True
    assert log[service.message_id]["sender"] == {"type": "bot", "id": BOT_A}
    assert await ptb.unpin_chat_message(group["id"], said["message_id"]) is True
    assert by_id(await sim.messages(group["id"]))[said["message_id"]]["pinned"] is False

    # An administrator without the right to pin is refused; so is a bot that is no admin.
    server.emulator.world.chats[group["id"]].admins[BOT_A] = ChatAdmin(
        rights={"can_pin_messages": False}
    )
    with pytest.raises(BadRequest) as rights:
        await ptb.pin_chat_message(group["id"], said["message_id"])
    assert rights.value.message == "Not enough rights to manage pinned messages in the chat"
    with pytest.raises(BadRequest) as missing:
        await ptb.unpin_chat_message(group["id"], 12345)
    assert missing.value.message == "Message to unpin not found"

    # In a channel, an administrator bot pins its post; the service message is a post too.
    channel = await sim.chat("channel", admin_bot_ids=[BOT_A])
    post = await ptb.send_message(channel["id"], "news")
    assert await ptb.pin_chat_message(channel["id"], post.message_id)
    async with asyncio.timeout(WAIT):
        posts: tuple[telegram.Update, ...] = ()
        while not any(update.channel_post for update in posts):
            posts = await ptb.get_updates(timeout=dtm.timedelta(seconds=2))
    announced = next(u.channel_post for u in posts if u.channel_post)
    assert announced.sender_chat is not None
    assert announced.sender_chat.id == channel["id"]
    assert isinstance(announced.pinned_message, telegram.Message)
    assert announced.pinned_message.text == "news"


# -- reactions -------------------------------------------------------------------------


async def test_set_message_reaction_through_aiogram(bot: Bot, user_id: int, sim: Sim) -> None:
    sent = await bot.send_message(user_id, "rate me")
    thumbs: list[ReactionTypeUnion] = [ReactionTypeEmoji(emoji="👍")]
    assert await bot.set_message_reaction(user_id, sent.message_id, thumbs) is True
    log = by_id(await sim.messages(user_id))
    assert log[sent.message_id]["reactions"] == [
        {"user_id": BOT_A, "reaction": [{"type": "emoji", "emoji": "👍"}]}
    ]
    # The emoji variation selector is the same reaction; Telegram's form is stored.
    heart: list[ReactionTypeUnion] = [ReactionTypeEmoji(emoji="❤️")]
    assert await bot.set_message_reaction(user_id, sent.message_id, heart, is_big=True)
    log = by_id(await sim.messages(user_id))
    assert log[sent.message_id]["reactions"][0]["reaction"] == [{"type": "emoji", "emoji": "❤"}]

    with pytest.raises(TelegramBadRequest) as invalid:
        await bot.set_message_reaction(user_id, sent.message_id, [ReactionTypeEmoji(emoji="🦖")])
    assert invalid.value.message == "Bad Request: REACTION_INVALID"
    two: list[ReactionTypeUnion] = [ReactionTypeEmoji(emoji="👍"), ReactionTypeEmoji(emoji="🔥")]
    with pytest.raises(TelegramBadRequest) as too_many:
        await bot.set_message_reaction(user_id, sent.message_id, two)
    assert too_many.value.message == "Bad Request: REACTIONS_TOO_MANY"
    with pytest.raises(TelegramBadRequest) as missing:
        await bot.set_message_reaction(user_id, 999, thumbs)
    assert missing.value.message == "Bad Request: message to react not found"

    assert await bot.set_message_reaction(user_id, sent.message_id, [])
    assert "reactions" not in by_id(await sim.messages(user_id))[sent.message_id]


async def test_set_message_reaction_through_ptb(ptb: telegram.Bot, sim: Sim) -> None:
    member = await sim.user("Bea")
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[member["id"]])
    said = await sim.send(group["id"], "idea", from_user_id=member["id"])
    assert await ptb.set_message_reaction(group["id"], said["message_id"], "🔥", is_big=True)
    log = by_id(await sim.messages(group["id"]))
    assert log[said["message_id"]]["reactions"] == [
        {"user_id": BOT_A, "reaction": [{"type": "emoji", "emoji": "🔥"}]}
    ]
    with pytest.raises(BadRequest) as invalid:
        await ptb.set_message_reaction(group["id"], said["message_id"], "🦖")
    assert invalid.value.message == "Reaction_invalid"  # PTB capitalizes the description
    with pytest.raises(BadRequest) as too_many:
        await ptb.set_message_reaction(group["id"], said["message_id"], ["👍", "👎"])
    assert too_many.value.message == "Reactions_too_many"
    with pytest.raises(BadRequest) as missing:
        await ptb.set_message_reaction(group["id"], 777, "👍")
    assert missing.value.message == "Message to react not found"


# -- several messages at once ----------------------------------------------------------


async def test_forward_and_copy_messages_through_aiogram(bot: Bot, user_id: int, sim: Sim) -> None:
    # The private chat: 1 "/start" (the user's), 2 "a", 3 protected, 4 deleted, 5 a document.
    a = await bot.send_message(user_id, "a")
    protected = await bot.send_message(user_id, "secret", protect_content=True)
    gone = await bot.send_message(user_id, "gone")
    await bot.delete_message(user_id, gone.message_id)
    doc = await sim.send(
        user_id,
        caption="the report",
        file={"kind": "document", "base64": base64.b64encode(b"%PDF").decode(), "file_name": "r"},
    )
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    ids = [1, a.message_id, protected.message_id, gone.message_id, doc["message_id"], 99]
    before = (await sim.stats())["bots"][str(BOT_A)]["sends_accepted"]

    forwarded = await bot.forward_messages(group["id"], user_id, ids)
    assert len(forwarded) == 3  # the protected, deleted and missing ones are skipped
    after = (await sim.stats())["bots"][str(BOT_A)]["sends_accepted"]
    assert after - before == 3  # counted as the messages it sends
    log = by_id(await sim.messages(group["id"]))
    start, copy_a, copy_doc = (log[m.message_id] for m in forwarded)
    assert (start["text"], copy_a["text"], copy_doc["caption"]) == ("/start", "a", "the report")
    assert start["forward_origin"]["sender_user"]["id"] == user_id
    assert copy_a["forward_origin"]["sender_user"]["id"] == BOT_A
    source_doc = by_id(await sim.messages(user_id))[doc["message_id"]]
    assert copy_doc["media"]["file_unique_id"] == source_doc["media"]["file_unique_id"]

    copied = await bot.copy_messages(
        group["id"], user_id, [a.message_id, doc["message_id"]], remove_caption=True
    )
    log = by_id(await sim.messages(group["id"]))
    plain, bare_doc = (log[m.message_id] for m in copied)
    assert plain["text"] == "a"
    assert "forward_origin" not in plain
    assert "caption" not in bare_doc
    assert bare_doc["media"]["kind"] == "document"

    with pytest.raises(TelegramBadRequest) as order:
        await bot.forward_messages(group["id"], user_id, [doc["message_id"], a.message_id])
    assert order.value.message == (
        "Bad Request: message identifiers must be in a strictly increasing order"
    )
    with pytest.raises(TelegramBadRequest) as too_many:
        await bot.copy_messages(group["id"], user_id, list(range(1, 102)))
    assert too_many.value.message == "Bad Request: too many message identifiers specified"
    with pytest.raises(TelegramBadRequest) as nothing:
        await bot.forward_messages(group["id"], user_id, [protected.message_id, 98])
    assert nothing.value.message == "Bad Request: messages can't be forwarded"
    with pytest.raises(TelegramBadRequest) as empty:
        await bot.forward_messages(group["id"], user_id, [])
    assert empty.value.message == "Bad Request: message identifiers are not specified"
    assert (await sim.stats())["bots"][str(BOT_A)]["sends_accepted"] == after + 2  # refusals: 0


async def test_forward_and_copy_keep_albums_through_ptb(
    ptb: telegram.Bot, server: EmulatorServer, sim: Sim
) -> None:
    member = await sim.user("Bea")
    source = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[member["id"]])
    target = await sim.chat("supergroup", bot_ids=[BOT_A])
    photo = {"kind": "photo", "base64": base64.b64encode(b"\x89PNG" * 50).decode()}
    sent = [
        await sim.send(source["id"], caption=f"#{n}", file=photo, from_user_id=member["id"])
        for n in range(3)
    ]
    world = server.emulator.world
    for said in sent[:2]:  # the first two are one album
        stored = world.find_message(world.chats[source["id"]], 0, said["message_id"])
        assert stored is not None
        stored.api["media_group_id"] = "album-1"
    ids = [said["message_id"] for said in sent]

    forwarded = await ptb.forward_messages(target["id"], source["id"], ids)
    assert all(isinstance(m, telegram.MessageId) for m in forwarded)
    copied = await ptb.copy_messages(target["id"], source["id"], ids)
    log = by_id(await sim.messages(target["id"]))
    for batch in (forwarded, copied):
        albums = [log[m.message_id].get("media_group_id") for m in batch]
        assert albums[0] == albums[1]
        assert albums[0] not in (None, "album-1")
        assert albums[2] is None
    # Each batch makes its own album.
    assert (
        log[forwarded[0].message_id]["media_group_id"]
        != (log[copied[0].message_id]["media_group_id"])
    )
    assert log[forwarded[0].message_id]["forward_origin"]["sender_user"]["id"] == member["id"]

    with pytest.raises(BadRequest) as nothing:
        await ptb.forward_messages(target["id"], source["id"], [500, 501])
    assert nothing.value.message == "Messages can't be forwarded"
    with pytest.raises(BadRequest) as order:
        await ptb.copy_messages(target["id"], source["id"], [ids[1], ids[0]])
    assert order.value.message == "Message identifiers must be in a strictly increasing order"


async def test_delete_messages_through_both(
    bot: Bot, ptb: telegram.Bot, user_id: int, sim: Sim
) -> None:
    first = await bot.send_message(user_id, "1")
    second = await bot.send_message(user_id, "2")
    assert await bot.pin_chat_message(user_id, second.message_id)
    assert await bot.delete_messages(user_id, [first.message_id, second.message_id, 999])
    log = by_id(await sim.messages(user_id))
    assert log[first.message_id]["deleted"]
    assert log[second.message_id]["deleted"]
    assert log[second.message_id]["pinned"] is False  # a deleted message is no longer pinned
    with pytest.raises(TelegramBadRequest) as too_many:
        await bot.delete_messages(user_id, list(range(1, 102)))
    assert too_many.value.message == "Bad Request: too many message identifiers specified"

    # In a group where the bot is no administrator, others' messages are skipped.
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    theirs = await sim.send(group["id"], "mine", from_user_id=user_id)
    own = await ptb.send_message(group["id"], "bot's")
    assert await ptb.delete_messages(group["id"], [theirs["message_id"], own.message_id])
    log = by_id(await sim.messages(group["id"]))
    assert (log[theirs["message_id"]]["deleted"], log[own.message_id]["deleted"]) == (False, True)
    with pytest.raises(BadRequest) as empty:
        await ptb.delete_messages(group["id"], [])
    assert empty.value.message == "Message identifiers are not specified"


# -- forum topics ---------------------------------------------------------------------


async def test_send_into_a_topic_through_both(
    bot: Bot, ptb: telegram.Bot, user_id: int, sim: Sim
) -> None:
    chat_id, thread = await forum(sim, user_id)
    via_aiogram = await bot.send_message(chat_id, "in the topic", message_thread_id=thread)
    assert via_aiogram.is_topic_message is True
    assert via_aiogram.message_thread_id == thread
    assert via_aiogram.reply_to_message is not None  # Telegram answers the topic's opening
    assert via_aiogram.reply_to_message.forum_topic_created is not None
    assert via_aiogram.reply_to_message.forum_topic_created.name == "Ideas"
    assert via_aiogram.chat.is_forum is True

    via_ptb = await ptb.send_message(chat_id, "me too", message_thread_id=thread)
    assert (via_ptb.is_topic_message, via_ptb.message_thread_id) == (True, thread)
    # A reply to a message in a topic goes into that topic.
    answer = await ptb.send_message(chat_id, "answer", reply_to_message_id=via_ptb.message_id)
    assert answer.message_thread_id == thread
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.message_id == via_ptb.message_id
    forwarded = await ptb.forward_message(chat_id, user_id, 1, message_thread_id=thread)
    assert forwarded.message_thread_id == thread

    with pytest.raises(TelegramBadRequest) as unknown:
        await bot.send_message(chat_id, "lost", message_thread_id=thread + 100)
    assert unknown.value.message == "Bad Request: message thread not found"
    with pytest.raises(BadRequest) as not_a_topic:
        await ptb.send_message(chat_id, "lost", message_thread_id=via_ptb.message_id)
    assert not_a_topic.value.message == "Message thread not found"
    log = await sim.messages(chat_id)
    assert [m.get("message_thread_id") for m in log] == [thread] * 5


# -- users' messages in context, through a Dispatcher and an Application ----------------


async def act_in_context(sim: Sim, user_id: int, welcome_id: int) -> tuple[int, int]:
    """What the user does, the same for both libraries: forwards of every origin, a reply,
    a topic and a message in it, an edit, reactions. Returns (forum id, thread id)."""
    other = await sim.user("Cid")
    channel = await sim.chat("channel", title="News")
    group = await sim.chat("supergroup", title="Club")
    await sim.send(user_id, "f1", forward_from_user_id=other["id"])
    await sim.send(user_id, "f2", forward_sender_name="Ghost")
    await sim.send(user_id, "f3", forward_from_chat_id=channel["id"], forward_message_id=7)
    await sim.send(user_id, "f4", forward_from_chat_id=group["id"])
    said = await sim.send(user_id, "yes", reply_to_message_id=welcome_id)
    chat_id, thread = await forum(sim, user_id)
    await sim.send(chat_id, "topic talk", from_user_id=user_id, message_thread_id=thread)
    await sim.edit(user_id, said["message_id"], "yes!")
    await sim.react(user_id, welcome_id, ["👍"])
    return chat_id, thread


async def test_users_in_context_reach_an_aiogram_dispatcher(
    bot: Bot, sim: Sim, user_id: int
) -> None:
    dp = Dispatcher()
    seen: asyncio.Queue[Event] = asyncio.Queue()
    welcome: asyncio.Queue[int] = asyncio.Queue()

    @dp.message(CommandStart(deep_link=True))
    async def deep_link(message: Message, command: CommandObject) -> None:
        answer = await message.answer("welcome")
        await welcome.put(answer.message_id)
        await seen.put(("start", command.args))

    @dp.message(F.forward_origin)
    async def forward(message: Message) -> None:
        origin = message.forward_origin
        if isinstance(origin, MessageOriginUser):
            await seen.put(("forward", "user", origin.sender_user.first_name))
        elif isinstance(origin, MessageOriginHiddenUser):
            await seen.put(("forward", "hidden_user", origin.sender_user_name))
        elif isinstance(origin, MessageOriginChannel):
            await seen.put(("forward", "channel", origin.chat.title, origin.message_id))
        elif isinstance(origin, MessageOriginChat):
            await seen.put(("forward", "chat", origin.sender_chat.title))

    @dp.message(F.forum_topic_created)
    async def created(message: Message) -> None:
        assert message.forum_topic_created is not None
        await seen.put(("created", message.forum_topic_created.name, message.message_thread_id))

    @dp.message(F.is_topic_message)
    async def in_topic(message: Message) -> None:
        await message.answer("noted")  # aiogram answers in the topic
        await seen.put(("topic", message.text, message.message_thread_id))

    @dp.message(F.reply_to_message)
    async def reply(message: Message) -> None:
        assert message.reply_to_message is not None
        await seen.put(("reply", message.text, message.reply_to_message.text))

    @dp.edited_message()
    async def edited(message: Message) -> None:
        await seen.put(("edited", message.text, message.edit_date is not None))

    @dp.message_reaction()
    async def reacted(update: MessageReactionUpdated) -> None:
        assert update.user is not None
        emoji = [r.emoji for r in update.new_reaction if isinstance(r, ReactionTypeEmoji)]
        await seen.put(("reaction", update.user.id, emoji, update.old_reaction))

    polling = asyncio.create_task(
        dp.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
            handle_as_tasks=False,  # one update after the other: the events keep their order
        )
    )
    try:
        # The user clicks t.me/<bot>?start=ref-42 (the fixture's plain /start matches nothing).
        await sim.start(BOT_A, user_id, payload="ref-42")
        assert await asyncio.wait_for(seen.get(), WAIT) == ("start", "ref-42")
        welcome_id = await welcome.get()
        chat_id, thread = await act_in_context(sim, user_id, welcome_id)
        expected: list[Event] = [
            ("forward", "user", "Cid"),
            ("forward", "hidden_user", "Ghost"),
            ("forward", "channel", "News", 7),
            ("forward", "chat", "Club"),
            ("reply", "yes", "welcome"),
            ("created", "Ideas", thread),
            ("topic", "topic talk", thread),
            ("edited", "yes!", True),
            ("reaction", user_id, ["👍"], []),
        ]
        got = [await asyncio.wait_for(seen.get(), WAIT) for _ in expected]
        assert got == expected
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, WAIT)
    answers = [m for m in await sim.messages(chat_id) if m["sender"]["id"] == BOT_A]
    assert [(m["text"], m["message_thread_id"]) for m in answers] == [("noted", thread)]


def build_app(server: EmulatorServer) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token(TOKEN_A)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .build()
    )


async def test_users_in_context_reach_a_ptb_application(
    server: EmulatorServer, sim: Sim, user_id: int
) -> None:
    app = build_app(server)
    seen: asyncio.Queue[Event] = asyncio.Queue()
    welcome: asyncio.Queue[int] = asyncio.Queue()

    async def on_start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        if context.args:
            answer = await update.effective_message.reply_text("welcome", do_quote=False)
            await welcome.put(answer.message_id)
            await seen.put(("start", context.args))

    async def on_forward(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        origin = update.message.forward_origin
        assert origin is not None
        await seen.put(("forward", origin.type))

    async def on_created(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        assert update.message.forum_topic_created is not None
        await seen.put(("created", update.message.forum_topic_created.name))

    async def on_topic(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("noted", do_quote=False)  # into the topic
        await seen.put(("topic", update.message.text, update.message.message_thread_id))

    async def on_reply(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        assert update.message.reply_to_message is not None
        await seen.put(("reply", update.message.text, update.message.reply_to_message.text))

    async def on_edit(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.edited_message is not None
        await seen.put(("edited", update.edited_message.text))

    async def on_reaction(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        reaction = update.message_reaction
        assert reaction is not None
        assert reaction.user is not None
        emoji = [
            r.emoji for r in reaction.new_reaction if isinstance(r, telegram.ReactionTypeEmoji)
        ]
        await seen.put(("reaction", reaction.user.id, emoji))

    # Edits first: PTB's message filters look at edited messages too.
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE, on_edit))
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.FORWARDED, on_forward))
    app.add_handler(MessageHandler(filters.StatusUpdate.FORUM_TOPIC_CREATED, on_created))
    app.add_handler(MessageHandler(filters.IS_TOPIC_MESSAGE & filters.TEXT, on_topic))
    app.add_handler(MessageHandler(filters.REPLY & filters.TEXT, on_reply))
    app.add_handler(MessageReactionHandler(on_reaction))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=dtm.timedelta(seconds=1), allowed_updates=telegram.Update.ALL_TYPES
        )
        try:
            await sim.start(BOT_A, user_id, payload="ref-42")
            assert await asyncio.wait_for(seen.get(), WAIT) == ("start", ["ref-42"])
            chat_id, thread = await act_in_context(sim, user_id, await welcome.get())
            expected: list[Event] = [
                ("forward", "user"),
                ("forward", "hidden_user"),
                ("forward", "channel"),
                ("forward", "chat"),
                ("reply", "yes", "welcome"),
                ("created", "Ideas"),
                ("topic", "topic talk", thread),
                ("edited", "yes!"),
                ("reaction", user_id, ["👍"]),
            ]
            got = [await asyncio.wait_for(seen.get(), WAIT) for _ in expected]
            assert got == expected
        finally:
            await app.updater.stop()
            await app.stop()
    answers = [m for m in await sim.messages(chat_id) if m["sender"]["id"] == BOT_A]
    assert [(m["text"], m["message_thread_id"]) for m in answers] == [("noted", thread)]


# -- the /_sim/ side's rules --------------------------------------------------------------


async def test_reactions_reach_only_bots_that_may_see_them(
    bot: Bot, user_id: int, sim: Sim
) -> None:
    sent = await bot.send_message(user_id, "hi")
    # Not named in allowed_updates: Telegram does not keep the update.
    await sim.react(user_id, sent.message_id, ["🔥"])
    assert [u.message_reaction for u in await bot.get_updates(timeout=0)] == [None]
    allowed = ["message", "message_reaction", "message_reaction_count"]
    await bot.get_updates(-1, timeout=0, allowed_updates=allowed)
    answer = await sim.react(user_id, sent.message_id, ["👍", "🎉"])
    assert answer["old_reaction"] == [{"type": "emoji", "emoji": "🔥"}]
    update = (await next_update(bot, "message_reaction", allowed)).message_reaction
    assert update is not None
    assert [r.emoji for r in update.old_reaction if isinstance(r, ReactionTypeEmoji)] == ["🔥"]
    assert [r.emoji for r in update.new_reaction if isinstance(r, ReactionTypeEmoji)] == [
        "👍",
        "🎉",
    ]
    assert update.user is not None
    assert update.user.first_name == "Ana"
    await sim.react(user_id, sent.message_id, [])  # cleared
    cleared = (await next_update(bot, "message_reaction", allowed)).message_reaction
    assert cleared is not None
    assert cleared.new_reaction == []
    log = by_id(await sim.messages(user_id))
    assert "reactions" not in log[sent.message_id]

    # A group's reactions go to its administrator bots only.
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    said = await sim.send(group["id"], "vote", from_user_id=user_id)
    await sim.react(group["id"], said["message_id"], ["👍"], from_user_id=user_id)
    updates = await bot.get_updates(timeout=0, allowed_updates=allowed)
    assert [u.message.text for u in updates if u.message] == ["vote"]
    assert not any(u.message_reaction for u in updates)

    # A channel's reactions are anonymous: its admin bots get the counts.
    channel = await sim.chat("channel", admin_bot_ids=[BOT_A], member_user_ids=[user_id])
    post = await bot.send_message(channel["id"], "poll")
    await sim.react(channel["id"], post.message_id, ["👍"], from_user_id=user_id)
    counted = (await next_update(bot, "message_reaction_count", allowed)).message_reaction_count
    assert counted is not None
    assert counted.chat.id == channel["id"]
    counts = [(r.type.model_dump(), r.total_count) for r in counted.reactions]
    assert counts == [({"type": "emoji", "emoji": "👍"}, 1)]


async def test_user_edits_keep_a_history_and_reach_channels_as_posts(
    bot: Bot, user_id: int, sim: Sim
) -> None:
    said = await sim.send(user_id, "draft")
    await sim.edit(user_id, said["message_id"], "second")
    await sim.edit(user_id, said["message_id"], "final")
    message = by_id(await sim.messages(user_id))[said["message_id"]]
    assert message["text"] == "final"
    assert [h["text"] for h in message["edit_history"]] == ["draft", "second"]
    updates = await bot.get_updates(timeout=0)
    assert [u.message.text for u in updates if u.message] == ["/start", "draft"]  # as sent
    assert [u.edited_message.text for u in updates if u.edited_message] == ["second", "final"]

    channel = await sim.chat("channel", admin_bot_ids=[BOT_A], member_user_ids=[user_id])
    post = await sim.send(channel["id"], "breaking", from_user_id=user_id)
    await sim.edit(channel["id"], post["message_id"], "breaking news", from_user_id=user_id)
    edited = (await next_update(bot, "edited_channel_post")).edited_channel_post
    assert edited is not None
    assert (edited.text, edited.edit_date is not None) == ("breaking news", True)
    assert edited.sender_chat is not None
    assert edited.sender_chat.id == channel["id"]

    photo = {"kind": "photo", "base64": base64.b64encode(b"\x89PNG" * 10).decode()}
    shot = await sim.send(user_id, caption="before", file=photo)
    await sim.edit(user_id, shot["message_id"], caption="after")
    assert by_id(await sim.messages(user_id))[shot["message_id"]]["caption"] == "after"


async def test_simulated_context_is_refused_as_telegram_would(
    bot: Bot, user_id: int, sim: Sim
) -> None:
    async def refused(call: Any) -> str:
        with pytest.raises(EmulatorError) as error:
            await call
        return str(error.value)

    assert "payload" in await refused(sim.start(BOT_A, user_id, payload="no spaces"))
    assert "payload" in await refused(sim.start(BOT_A, user_id, payload="x" * 65))
    deep = await sim.start(BOT_A, user_id, payload="A-z_0" * 12 + "abcd")
    assert deep["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert "message to be replied not found" in await refused(
        sim.send(user_id, "?", reply_to_message_id=999)
    )
    assert "one origin" in await refused(
        sim.send(user_id, "?", forward_sender_name="X", forward_from_user_id=user_id)
    )
    assert "not found" in await refused(sim.send(user_id, "?", forward_from_user_id=1))
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    assert "not a forum" in await refused(sim.topic(group["id"], "T", from_user_id=user_id))
    assert "message thread not found" in await refused(
        sim.send(group["id"], "?", from_user_id=user_id, message_thread_id=1)
    )
    assert "supergroup" in await refused(sim.chat("group", is_forum=True))
    chat_id, thread = await forum(sim, user_id)
    assert "1-128" in await refused(sim.topic(chat_id, "n" * 129, from_user_id=user_id))

    sent = await bot.send_message(user_id, "bot's")
    assert "did not send it" in await refused(sim.edit(user_id, sent.message_id, "mine now"))
    mine = await sim.send(user_id, "same")
    assert "not modified" in await refused(sim.edit(user_id, mine["message_id"], "same"))
    assert "REACTION_INVALID" in await refused(sim.react(user_id, sent.message_id, ["🦖"]))
    assert "REACTIONS_TOO_MANY" in await refused(
        sim.react(user_id, sent.message_id, ["👍", "👎", "🔥", "🎉"])
    )
    assert thread > 0


async def test_a_channel_admin_edits_the_markup_of_another_admins_post(
    bot: Bot, sim: Sim, server: EmulatorServer
) -> None:
    owner = await sim.user("Owner")
    channel = await sim.chat("channel", admin_bot_ids=[BOT_A], owner_user_id=owner["id"])
    post = await sim.send(channel["id"], "new episode", from_user_id=owner["id"])
    buttons = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Download", url="https://example.com/x")]]
    )
    edited = await bot.edit_message_reply_markup(
        chat_id=channel["id"], message_id=post["message_id"], reply_markup=buttons
    )
    assert isinstance(edited, Message)
    assert edited.reply_markup is not None
    (button,) = edited.reply_markup.inline_keyboard[0]
    assert (button.text, button.url) == ("Download", "https://example.com/x")
    # Without the right to edit messages, another's post stays as it is.
    server.emulator.world.chats[channel["id"]].admins[BOT_A] = ChatAdmin(
        rights={"can_post_messages": True, "can_edit_messages": False}
    )
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_reply_markup(
            chat_id=channel["id"], message_id=post["message_id"], reply_markup=None
        )
