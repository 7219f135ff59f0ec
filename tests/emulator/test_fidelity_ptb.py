"""python-telegram-bot 22, unmodified, against the emulator: objects and typed errors."""

from __future__ import annotations

import asyncio
import datetime as dtm
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

WAIT = 10.0  # the bound on every wait for an update


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on reading durations as int; opt in to timedelta, its future default.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def make_bot(server: EmulatorServer, token: str = TOKEN_A) -> Bot:
    return Bot(token, base_url=server.url + "/bot", base_file_url=server.url + "/file/bot")


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    async with make_bot(server) as bot:
        yield bot


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A))["id"])


def keyboard(data: str = "yes") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data=data)]])


def buttons(markup: InlineKeyboardMarkup | None) -> list[list[tuple[str, Any]]]:
    assert markup is not None
    return [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_A
    assert me.is_bot
    assert bot.username == f"emu{BOT_A}_bot"  # initialize() fetched it


async def test_send_message_plain_html_keyboard_and_reply(bot: Bot, user_id: int) -> None:
    plain = await bot.send_message(user_id, "hello")
    assert plain.text == "hello"
    assert plain.chat.id == user_id
    assert plain.from_user is not None
    assert plain.from_user.id == BOT_A
    assert plain.entities == ()

    html = await bot.send_message(user_id, "<b>bold</b> and <i>it</i>", parse_mode=ParseMode.HTML)
    assert html.text == "bold and it"
    assert [(e.type, e.offset, e.length) for e in html.entities] == [
        ("bold", 0, 4),
        ("italic", 9, 2),
    ]
    assert html.text_html == "<b>bold</b> and <i>it</i>"

    with_keyboard = await bot.send_message(
        user_id,
        "choose",
        reply_markup=keyboard("pick:1"),
        reply_parameters=ReplyParameters(message_id=plain.message_id),
    )
    assert buttons(with_keyboard.reply_markup) == [[("Yes", "pick:1")]]
    assert with_keyboard.reply_to_message is not None
    assert with_keyboard.reply_to_message.message_id == plain.message_id
    assert with_keyboard.reply_to_message.text == "hello"


async def test_edit_and_delete(bot: Bot, user_id: int, sim: Sim) -> None:
    sent = await bot.send_message(user_id, "draft")
    edited = await sent.edit_text("final")
    assert not isinstance(edited, bool)
    assert edited.text == "final"
    assert edited.edit_date is not None

    with pytest.raises(BadRequest) as not_modified:
        await bot.edit_message_text("final", chat_id=user_id, message_id=sent.message_id)
    assert not_modified.value.message.startswith("Message is not modified")

    marked = await bot.edit_message_reply_markup(
        chat_id=user_id, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert not isinstance(marked, bool)
    assert buttons(marked.reply_markup) == [[("Yes", "yes")]]

    assert await sent.delete() is True
    with pytest.raises(BadRequest) as gone:
        await bot.edit_message_text("again", chat_id=user_id, message_id=sent.message_id)
    assert gone.value.message == "Message to edit not found"
    log = await sim.messages(user_id)
    assert [m["deleted"] for m in log if m["message_id"] == sent.message_id] == [True]


async def test_media_upload_reuse_and_download(bot: Bot, server: EmulatorServer, sim: Sim) -> None:
    # A group, not a private chat: six sends would exceed a private chat's burst.
    group = await sim.post("chats", type="group", bot_ids=[BOT_A, BOT_B])
    chat_id = group["id"]
    payload = os.urandom(50_000)
    doc = await bot.send_document(chat_id, payload, filename="report.bin")
    voice = await bot.send_voice(chat_id, b"OggS" + payload[:999], filename="v.ogg")
    photo = await bot.send_photo(chat_id, payload[:2000], filename="p.jpg")
    assert doc.document is not None
    assert doc.document.file_name == "report.bin"
    assert doc.document.file_size == len(payload)
    assert voice.voice is not None
    assert voice.voice.file_size == 1003
    assert voice.voice.duration == dtm.timedelta(0)
    assert photo.photo
    assert photo.photo[-1].width > 0

    again_doc = await bot.send_document(chat_id, doc.document.file_id)
    again_voice = await bot.send_voice(chat_id, voice.voice)
    again_photo = await bot.send_photo(chat_id, photo.photo[-1].file_id)
    assert again_doc.document is not None
    assert again_voice.voice is not None
    assert again_doc.document.file_unique_id == doc.document.file_unique_id
    assert again_voice.voice.file_unique_id == voice.voice.file_unique_id
    assert again_photo.photo[-1].file_unique_id == photo.photo[-1].file_unique_id

    file = await bot.get_file(doc.document.file_id)
    assert file.file_unique_id == doc.document.file_unique_id
    assert file.file_size == len(payload)
    assert file.file_path is not None
    assert file.file_path.startswith(server.url + "/file/bot")
    assert bytes(await file.download_as_bytearray()) == payload
    voice_file = await voice.voice.get_file()
    assert bytes(await voice_file.download_as_bytearray()) == b"OggS" + payload[:999]

    # A file_id is valid only for the bot it was issued to.
    async with make_bot(server, TOKEN_B) as bot_b:
        with pytest.raises(BadRequest) as foreign:
            await bot_b.send_document(chat_id, doc.document.file_id)
        assert foreign.value.message == "Wrong file identifier/http url specified"
        with pytest.raises(BadRequest) as foreign_get:
            await bot_b.get_file(doc.document.file_id)
        assert foreign_get.value.message == "Invalid file_id"


def build_app(server: EmulatorServer) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token(TOKEN_A)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .build()
    )


async def test_application_polling_with_handlers(server: EmulatorServer, sim: Sim) -> None:
    app = build_app(server)
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("welcome")
        await seen.put(("start", update.effective_message.text or ""))

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        assert update.effective_user is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")
        await seen.put(("text", update.effective_message.text or ""))

    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=1))
        try:
            user = await sim.user("Dee")
            await sim.post("start", bot_id=BOT_A, user_id=user["id"])
            assert await asyncio.wait_for(seen.get(), WAIT) == ("start", "/start")
            await sim.post("send", chat_id=user["id"], from_user_id=user["id"], text="ping")
            assert await asyncio.wait_for(seen.get(), WAIT) == ("text", "ping")
        finally:
            await app.updater.stop()
            await app.stop()

    log = await sim.messages(user["id"])
    assert [m["text"] for m in log if m["sender"]["id"] == BOT_A] == ["welcome", "echo: ping"]


async def test_webhook_feeds_the_application(server: EmulatorServer, sim: Sim) -> None:
    app = build_app(server)
    received: list[tuple[str | None, dict[str, Any]]] = []
    handled: asyncio.Queue[str] = asyncio.Queue()

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await handled.put(update.effective_message.text or "")

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
        await app.update_queue.put(Update.de_json(body, app.bot))
        return web.Response()

    app.add_handler(MessageHandler(filters.TEXT, on_text))
    web_app = web.Application()
    web_app.router.add_post("/hook", hook)
    runner = web.AppRunner(web_app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    try:
        async with app:
            await app.start()
            try:
                assert await app.bot.set_webhook(url, secret_token="s3cret")
                assert (await app.bot.get_webhook_info()).url == url
                user = await sim.started_user(BOT_A)
                await sim.post("send", chat_id=user["id"], from_user_id=user["id"], text="hook me")
                assert await asyncio.wait_for(handled.get(), WAIT) == "/start"
                assert await asyncio.wait_for(handled.get(), WAIT) == "hook me"
                assert await app.bot.delete_webhook()
            finally:
                await app.stop()
    finally:
        await runner.cleanup()
    assert [secret for secret, _ in received] == ["s3cret", "s3cret"]
    assert [body["message"]["text"] for _, body in received] == ["/start", "hook me"]
    assert received[1][1]["message"]["from"]["id"] == user["id"]


async def test_callback_query_answered_once(bot: Bot, user_id: int, sim: Sim) -> None:
    sent = await bot.send_message(user_id, "proceed?", reply_markup=keyboard("go"))
    await sim.post(
        "callback", chat_id=user_id, from_user_id=user_id, message_id=sent.message_id, data="go"
    )
    async with asyncio.timeout(WAIT):
        updates: tuple[Update, ...] = ()
        while not any(u.callback_query for u in updates):
            updates = await bot.get_updates(timeout=dtm.timedelta(seconds=5))
    query = next(u.callback_query for u in updates if u.callback_query)
    assert query.data == "go"
    assert query.from_user.id == user_id
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await query.answer("done") is True
    with pytest.raises(BadRequest) as twice:
        await bot.answer_callback_query(query.id)
    assert twice.value.message.startswith("Query is too old")


async def test_group_chat_methods(bot: Bot, sim: Sim) -> None:
    member = await sim.user("Bea")
    group = await sim.post(
        "chats",
        type="supergroup",
        title="Team",
        member_user_ids=[member["id"]],
        bot_ids=[BOT_A],
        admin_bot_ids=[BOT_A],
    )
    chat = await bot.get_chat(group["id"])
    assert (chat.id, chat.type, chat.title) == (group["id"], "supergroup", "Team")
    as_member = await bot.get_chat_member(group["id"], member["id"])
    assert isinstance(as_member, ChatMemberMember)
    assert as_member.user.id == member["id"]
    as_admin = await bot.get_chat_member(group["id"], BOT_A)
    assert isinstance(as_admin, ChatMemberAdministrator)
    assert as_admin.can_delete_messages

    commands = [BotCommand("start", "Begin"), BotCommand("help", "Help")]
    assert await bot.set_my_commands(commands) is True
    assert await bot.get_my_commands() == tuple(commands)
    assert await bot.send_chat_action(group["id"], ChatAction.TYPING) is True
    with pytest.raises(BadRequest):
        await bot.send_chat_action(group["id"], "dancing")


async def test_forward_and_copy(bot: Bot, user_id: int, sim: Sim) -> None:
    group = await sim.post("chats", type="group", member_user_ids=[user_id], bot_ids=[BOT_A])
    original = await bot.send_message(group["id"], "<b>news</b>", parse_mode=ParseMode.HTML)
    forwarded = await original.forward(user_id)
    assert forwarded.text == "news"
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == BOT_A
    copied = await bot.copy_message(user_id, group["id"], original.message_id)
    assert copied.message_id == forwarded.message_id + 1
    log = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert log[copied.message_id]["text"] == "news"
    with pytest.raises(BadRequest) as missing:
        await bot.copy_message(user_id, group["id"], 999)
    assert missing.value.message == "Message to copy not found"


async def test_retry_after(bot: Bot, user_id: int, sim: Sim) -> None:
    results = await asyncio.gather(
        *(bot.send_message(user_id, f"n{i}") for i in range(4)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], RetryAfter)
    assert refused[0].retry_after == dtm.timedelta(seconds=1)
    assert (await sim.stats())["bots"][str(BOT_A)]["r429"]["limit"] == 1


async def test_forbidden(bot: Bot, user_id: int, sim: Sim) -> None:
    await sim.post("block", bot_id=BOT_A, user_id=user_id)
    with pytest.raises(Forbidden) as blocked:
        await bot.send_message(user_id, "still there?")
    assert blocked.value.message == "Forbidden: bot was blocked by the user"
    stranger = await sim.user("Cid")
    with pytest.raises(Forbidden) as never:
        await bot.send_message(stranger["id"], "hi")
    assert never.value.message == "Forbidden: bot can't initiate conversation with a user"


async def test_bad_requests(bot: Bot, user_id: int) -> None:
    with pytest.raises(BadRequest) as no_chat:
        await bot.send_message(424242, "anyone?")
    assert no_chat.value.message == "Chat not found"
    with pytest.raises(BadRequest) as empty:
        await bot.send_message(user_id, "")
    assert empty.value.message == "Message text is empty"
    with pytest.raises(BadRequest) as missing:
        await bot.edit_message_text("x", chat_id=user_id, message_id=777)
    assert missing.value.message == "Message to edit not found"


async def test_invalid_tokens_and_unknown_endpoint(server: EmulatorServer, bot: Bot) -> None:
    with pytest.raises(InvalidToken) as malformed:
        async with make_bot(server, "1000001:short"):
            pass
    assert "was rejected by the server" in malformed.value.message
    cause = malformed.value.__cause__
    assert isinstance(cause, InvalidToken)
    assert cause.message == "Unauthorized"
    # ``bot`` bound TOKEN_A's secret to the id; another secret for that id is refused.
    with pytest.raises(InvalidToken):
        async with make_bot(server, TOKEN_A[:-1] + "Z"):
            pass
    with pytest.raises(EndPointNotFound) as unknown:
        await bot.do_api_request("noSuchMethod")
    assert "noSuchMethod" in unknown.value.message


@pytest.mark.parametrize("emulator_config", [EmulatorConfig(seed=1, local=True)])
async def test_local_mode_reads_files_from_disk(
    server: EmulatorServer, user_id: int, tmp_path: Path
) -> None:
    payload = os.urandom(100_000)
    base = server.url
    async with Bot(
        TOKEN_A, base_url=base + "/bot", base_file_url=base + "/file/bot", local_mode=True
    ) as bot:
        sent = await bot.send_document(user_id, payload, filename="local.bin")
        assert sent.document is not None
        file = await sent.document.get_file()
        assert file.file_path is not None
        assert Path(file.file_path).is_absolute()
        assert bytes(await file.download_as_bytearray()) == payload
        target = await file.download_to_drive(tmp_path / "copy.bin")
    assert target.read_bytes() == payload
