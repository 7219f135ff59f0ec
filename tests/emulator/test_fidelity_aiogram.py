"""aiogram 3, unmodified, against the emulator: objects it parses, errors it raises."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendDocument, SendMessage
from aiogram.methods.base import TelegramMethod
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginUser,
    ReplyParameters,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from sluice.emulator import EmulatorConfig, EmulatorServer
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim

MB = 1024 * 1024
WAIT = 10.0  # the bound on every wait for an update


def make_bot(server: EmulatorServer, token: str = TOKEN_A, *, local: bool = False) -> Bot:
    api = TelegramAPIServer.from_base(server.url, is_local=local)
    return Bot(token, session=AiohttpSession(api=api))


@pytest.fixture
async def bot(server: EmulatorServer) -> AsyncIterator[Bot]:
    bot = make_bot(server)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def bot_b(server: EmulatorServer) -> AsyncIterator[Bot]:
    bot = make_bot(server, TOKEN_B)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A))["id"])


def keyboard(data: str = "yes") -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data=data)]]
    )


def buttons(markup: InlineKeyboardMarkup | None) -> list[list[tuple[str, str | None]]]:
    assert markup is not None
    return [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` until it holds, for at most WAIT seconds."""
    for _ in range(int(WAIT / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail("the condition did not hold in time")


async def next_update(bot: Bot, offset: int | None, kind: str) -> Update:
    """Long-poll until an update carrying ``kind`` arrives."""
    async with asyncio.timeout(WAIT):
        while True:
            for update in await bot.get_updates(offset=offset, timeout=5):
                offset = update.update_id + 1
                if getattr(update, kind) is not None:
                    return update


class NoSuchMethod(TelegramMethod[bool]):
    __returning__ = bool
    __api_method__ = "noSuchMethod"


async def test_get_me(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_A
    assert me.is_bot
    assert me.username == f"emu{BOT_A}_bot"


async def test_send_message_plain_html_keyboard_and_reply(bot: Bot, user_id: int) -> None:
    plain = await bot.send_message(user_id, "hello")
    assert plain.text == "hello"
    assert plain.chat.id == user_id
    assert plain.from_user is not None
    assert plain.from_user.id == BOT_A
    assert plain.entities is None

    html = await bot.send_message(user_id, "<b>bold</b> and <i>it</i>", parse_mode="HTML")
    assert html.text == "bold and it"
    assert [(e.type, e.offset, e.length) for e in html.entities or []] == [
        ("bold", 0, 4),
        ("italic", 9, 2),
    ]

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
    edited = await bot.edit_message_text(text="final", chat_id=user_id, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "final"
    assert edited.edit_date is not None

    with pytest.raises(TelegramBadRequest) as not_modified:
        await bot.edit_message_text(text="final", chat_id=user_id, message_id=sent.message_id)
    assert "message is not modified" in not_modified.value.message

    marked = await bot.edit_message_reply_markup(
        chat_id=user_id, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert isinstance(marked, Message)
    assert buttons(marked.reply_markup) == [[("Yes", "yes")]]

    assert await bot.delete_message(user_id, sent.message_id) is True
    with pytest.raises(TelegramBadRequest) as gone:
        await bot.edit_message_text(text="again", chat_id=user_id, message_id=sent.message_id)
    assert gone.value.message == "Bad Request: message to edit not found"
    log = await sim.messages(user_id)
    assert [m["deleted"] for m in log if m["message_id"] == sent.message_id] == [True]


async def test_media_upload_reuse_and_download(bot: Bot, bot_b: Bot, sim: Sim) -> None:
    # A group, not a private chat: six sends would exceed a private chat's burst.
    group = await sim.post("chats", type="group", bot_ids=[BOT_A, BOT_B])
    chat_id = group["id"]
    payload = os.urandom(50_000)
    doc = await bot.send_document(chat_id, BufferedInputFile(payload, "report.bin"))
    voice = await bot.send_voice(chat_id, BufferedInputFile(b"OggS" + payload[:999], "v.ogg"))
    photo = await bot.send_photo(chat_id, BufferedInputFile(payload[:2000], "p.jpg"))
    assert doc.document is not None
    assert doc.document.file_name == "report.bin"
    assert doc.document.file_size == len(payload)
    assert voice.voice is not None
    assert voice.voice.file_size == 1003
    assert photo.photo
    assert photo.photo[-1].width > 0

    again_doc = await bot.send_document(chat_id, doc.document.file_id)
    again_voice = await bot.send_voice(chat_id, voice.voice.file_id)
    again_photo = await bot.send_photo(chat_id, photo.photo[-1].file_id)
    assert again_doc.document is not None
    assert again_voice.voice is not None
    assert again_doc.document.file_unique_id == doc.document.file_unique_id
    assert again_voice.voice.file_unique_id == voice.voice.file_unique_id
    assert again_photo.photo
    assert again_photo.photo[-1].file_unique_id == photo.photo[-1].file_unique_id

    file = await bot.get_file(doc.document.file_id)
    assert file.file_unique_id == doc.document.file_unique_id
    assert file.file_size == len(payload)
    assert file.file_path is not None
    assert not Path(file.file_path).is_absolute()  # cloud mode: a path under /file/bot<token>/
    downloaded = await bot.download(doc.document.file_id)
    assert downloaded is not None
    assert downloaded.read() == payload

    # A file_id is valid only for the bot it was issued to.
    with pytest.raises(TelegramBadRequest) as foreign:
        await bot_b.send_document(chat_id, doc.document.file_id)
    assert foreign.value.message == "Bad Request: wrong file identifier/HTTP URL specified"
    with pytest.raises(TelegramBadRequest):
        await bot_b.get_file(doc.document.file_id)


async def test_get_updates_long_polling(bot: Bot, user_id: int, sim: Sim) -> None:
    first = await next_update(bot, None, "message")
    assert first.message is not None
    assert first.message.text == "/start"
    assert first.message.entities is not None
    assert first.message.entities[0].type == "bot_command"
    offset = first.update_id + 1
    # The poll is already waiting when the user writes: long polling wakes it.
    poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=WAIT))

    async def polling() -> bool:
        return (await sim.stats())["bots"][str(BOT_A)]["calls"]["getUpdates"] == 2

    await until(polling)
    assert not poll.done()
    await sim.post("send", chat_id=user_id, from_user_id=user_id, text="hi bot")
    updates = await asyncio.wait_for(poll, WAIT + 5)
    assert [u.message.text for u in updates if u.message] == ["hi bot"]
    assert updates[0].message is not None
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.id == user_id
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == []


async def test_dispatcher_polling_handler_replies(bot: Bot, user_id: int, sim: Sim) -> None:
    dp = Dispatcher()
    seen: asyncio.Queue[Message] = asyncio.Queue()

    @dp.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")
        await seen.put(message)  # after the answer: the test sees the reply stored

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        start = await asyncio.wait_for(seen.get(), WAIT)
        assert start.text == "/start"
        await sim.post("send", chat_id=user_id, from_user_id=user_id, text="ping")
        ping = await asyncio.wait_for(seen.get(), WAIT)
        assert ping.text == "ping"
        assert ping.chat.id == user_id
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, WAIT)

    texts = [m["text"] for m in await sim.messages(user_id) if m["sender"]["id"] == BOT_A]
    assert texts == ["echo: /start", "echo: ping"]


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_webhook_with_simple_request_handler(bot: Bot, user_id: int, sim: Sim) -> None:
    dp = Dispatcher()
    received: list[tuple[str | None, dict[str, Any]]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        response: web.StreamResponse = await handler(request)
        return response

    # Both handlers answer in the webhook's response body, which aiogram sends as multipart.
    @dp.message(F.text == "ping")
    async def pong(message: Message) -> SendMessage:
        return message.answer("pong")

    @dp.message(F.text == "file")
    async def upload(message: Message) -> SendDocument:
        return message.answer_document(BufferedInputFile(b"report", "r.txt"))

    app = web.Application(middlewares=[record])
    SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="s3cret").register(
        app, path="/hook"
    )
    runner, base = await serve(app)
    try:
        assert await bot.set_webhook(f"{base}/hook", secret_token="s3cret")
        info = await bot.get_webhook_info()
        assert info.url == f"{base}/hook"

        async def last_is(expected: Any) -> bool:
            log = await sim.messages(user_id)
            return log[-1].get("text") == expected or log[-1].get("media") == expected

        await sim.post("send", chat_id=user_id, from_user_id=user_id, text="ping")
        await until(lambda: last_is("pong"))
        await sim.post("send", chat_id=user_id, from_user_id=user_id, text="file")
        media = {"kind": "document", "file_name": "r.txt", "size": 6}
        await until(lambda: last_is(media | {"file_unique_id": ANY}))
        assert await bot.delete_webhook()
    finally:
        await runner.cleanup()
    assert {secret for secret, _ in received} == {"s3cret"}
    bodies = [body for _, body in received]
    assert [b["message"]["text"] for b in bodies] == ["/start", "ping", "file"]
    assert bodies[1]["update_id"] == bodies[0]["update_id"] + 1
    assert bodies[1]["message"]["from"]["id"] == user_id


async def test_callback_query_answered_once(bot: Bot, user_id: int, sim: Sim) -> None:
    sent = await bot.send_message(user_id, "proceed?", reply_markup=keyboard("go"))
    await sim.post(
        "callback", chat_id=user_id, from_user_id=user_id, message_id=sent.message_id, data="go"
    )
    update = await next_update(bot, None, "callback_query")
    query = update.callback_query
    assert query is not None
    assert query.data == "go"
    assert query.from_user.id == user_id
    assert isinstance(query.message, Message)
    assert query.message.message_id == sent.message_id
    assert await query.answer("done") is True
    with pytest.raises(TelegramBadRequest) as twice:
        await bot.answer_callback_query(query.id)
    assert "query is too old" in twice.value.message


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

    commands = [("start", "Begin"), ("help", "Help")]
    listed = [BotCommand(command=c, description=d) for c, d in commands]
    assert await bot.set_my_commands(listed) is True
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == commands
    assert await bot.send_chat_action(group["id"], "typing") is True
    with pytest.raises(TelegramBadRequest):
        await bot.send_chat_action(group["id"], "dancing")


async def test_forward_and_copy(bot: Bot, user_id: int, sim: Sim) -> None:
    group = await sim.post("chats", type="group", member_user_ids=[user_id], bot_ids=[BOT_A])
    original = await bot.send_message(group["id"], "<b>news</b>", parse_mode="HTML")
    forwarded = await bot.forward_message(user_id, group["id"], original.message_id)
    assert forwarded.text == "news"
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert forwarded.forward_origin.sender_user.id == BOT_A
    copied = await bot.copy_message(user_id, group["id"], original.message_id)
    assert copied.message_id == forwarded.message_id + 1
    log = {m["message_id"]: m for m in await sim.messages(user_id)}
    assert log[copied.message_id]["text"] == "news"
    with pytest.raises(TelegramBadRequest) as missing:
        await bot.forward_message(user_id, group["id"], 999)
    assert missing.value.message == "Bad Request: message to forward not found"


async def test_retry_after(bot: Bot, user_id: int, sim: Sim) -> None:
    results = await asyncio.gather(
        *(bot.send_message(user_id, f"n{i}") for i in range(4)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(refused) == 1
    assert isinstance(refused[0], TelegramRetryAfter)
    assert refused[0].retry_after == 1
    assert refused[0].message.endswith("Original description: Too Many Requests: retry after 1")
    assert (await sim.stats())["bots"][str(BOT_A)]["r429"]["limit"] == 1


async def test_forbidden(bot: Bot, user_id: int, sim: Sim) -> None:
    await sim.post("block", bot_id=BOT_A, user_id=user_id)
    with pytest.raises(TelegramForbiddenError) as blocked:
        await bot.send_message(user_id, "still there?")
    assert blocked.value.message == "Forbidden: bot was blocked by the user"
    stranger = await sim.user("Cid")
    with pytest.raises(TelegramForbiddenError) as never:
        await bot.send_message(stranger["id"], "hi")
    assert never.value.message == "Forbidden: bot can't initiate conversation with a user"


async def test_bad_requests(bot: Bot, user_id: int) -> None:
    with pytest.raises(TelegramBadRequest) as no_chat:
        await bot.send_message(424242, "anyone?")
    assert no_chat.value.message == "Bad Request: chat not found"
    with pytest.raises(TelegramBadRequest) as empty:
        await bot.send_message(user_id, "")
    assert empty.value.message == "Bad Request: message text is empty"
    with pytest.raises(TelegramBadRequest) as missing:
        await bot.edit_message_text(text="x", chat_id=user_id, message_id=777)
    assert missing.value.message == "Bad Request: message to edit not found"


async def test_unauthorized_and_unknown_method(server: EmulatorServer, bot: Bot) -> None:
    malformed = make_bot(server, "1000001:short")
    impostor = make_bot(server, TOKEN_A[:-1] + "Z")
    try:
        with pytest.raises(TelegramUnauthorizedError) as bad_shape:
            await malformed.get_me()
        assert bad_shape.value.message == "Unauthorized"
        assert (await bot.get_me()).id == BOT_A  # binds TOKEN_A's secret to the bot id
        with pytest.raises(TelegramUnauthorizedError):
            await impostor.get_me()
    finally:
        await malformed.session.close()
        await impostor.session.close()
    with pytest.raises(TelegramNotFound) as unknown:
        await bot(NoSuchMethod())
    assert unknown.value.message == "Not Found"


@pytest.fixture(scope="module")
def big_payload() -> bytes:
    return os.urandom(21 * MB)


@pytest.mark.parametrize("emulator_config", [EmulatorConfig(seed=1)])
async def test_big_file_refused_by_get_file_in_cloud_mode(
    bot: Bot, user_id: int, big_payload: bytes
) -> None:
    sent = await bot.send_document(user_id, BufferedInputFile(big_payload, "big.bin"))
    assert sent.document is not None
    assert sent.document.file_size == len(big_payload)
    with pytest.raises(TelegramBadRequest) as too_big:
        await bot.get_file(sent.document.file_id)
    assert too_big.value.message == "Bad Request: file is too big"


@pytest.mark.parametrize("emulator_config", [EmulatorConfig(seed=1, local=True)])
async def test_big_file_downloaded_from_disk_in_local_mode(
    server: EmulatorServer, user_id: int, big_payload: bytes
) -> None:
    bot = make_bot(server, local=True)
    try:
        sent = await bot.send_document(user_id, BufferedInputFile(big_payload, "big.bin"))
        assert sent.document is not None
        file = await bot.get_file(sent.document.file_id)
        assert file.file_path is not None
        assert Path(file.file_path).is_absolute()
        assert file.file_size == len(big_payload)
        downloaded = await bot.download(file)
    finally:
        await bot.session.close()
    assert downloaded is not None
    assert downloaded.read() == big_payload
