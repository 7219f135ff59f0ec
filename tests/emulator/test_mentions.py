"""A mention carries the whole user, as Telegram sends it: both libraries parse it strictly.

Reported: ``{"id": N}`` alone made python-telegram-bot's ``User.__init__`` fail (its own
echobot hits it through ``mention_html()``) and aiogram raise a ValidationError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot as AiogramBot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import MessageEntity as AiogramEntity
from aiogram.types import User as AiogramUser
from telegram import Bot as PtbBot
from telegram import MessageEntity as PtbEntity
from telegram.constants import ParseMode

from sluice.emulator import EmulatorServer
from support import BOT_A, TOKEN_A, Sim


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def aiogram_bot(server: EmulatorServer) -> AsyncIterator[AiogramBot]:
    bot = AiogramBot(TOKEN_A, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def ptb_bot(server: EmulatorServer) -> AsyncIterator[PtbBot]:
    bot = PtbBot(TOKEN_A, base_url=server.url + "/bot", base_file_url=server.url + "/file/bot")
    async with bot:
        yield bot


async def test_ptb_mention_html_and_markdown_give_the_whole_user(ptb_bot: PtbBot, sim: Sim) -> None:
    ana = await sim.started_user(BOT_A, first_name="Ana", last_name="Lima", username="ana_l")
    html = await ptb_bot.send_message(
        ana["id"], f'Hi <a href="tg://user?id={ana["id"]}">Ana</a>!', parse_mode=ParseMode.HTML
    )
    (entity,) = html.entities
    assert entity.type == PtbEntity.TEXT_MENTION
    assert entity.user is not None
    assert (entity.user.id, entity.user.first_name, entity.user.is_bot) == (ana["id"], "Ana", False)
    assert (entity.user.last_name, entity.user.username) == ("Lima", "ana_l")
    markdown = await ptb_bot.send_message(
        ana["id"], f"[Ana](tg://user?id={ana['id']})", parse_mode=ParseMode.MARKDOWN_V2
    )
    assert markdown.entities[0].user is not None
    assert markdown.entities[0].user.first_name == "Ana"
    edited = await ptb_bot.edit_message_text(
        f'Bye <a href="tg://user?id={BOT_A}">me</a>',
        chat_id=ana["id"],
        message_id=markdown.message_id,
        parse_mode=ParseMode.HTML,
    )
    assert not isinstance(edited, bool)
    assert edited.entities[0].user is not None
    assert edited.entities[0].user.is_bot  # a bot is a user too, whole
    assert edited.entities[0].user.username == f"emu{BOT_A}_bot"


async def test_aiogram_explicit_text_mention_gets_the_whole_user(
    aiogram_bot: AiogramBot, sim: Sim
) -> None:
    ana = await sim.started_user(BOT_A, first_name="Ana", language_code="id")
    sent = await aiogram_bot.send_message(
        ana["id"],
        "hello Ana",
        # Telegram reads only the id: the rest comes from the user Telegram knows.
        entities=[
            AiogramEntity(
                type="text_mention",
                offset=6,
                length=3,
                user=AiogramUser(id=ana["id"], is_bot=True, first_name="placeholder"),
            )
        ],
    )
    assert sent.entities is not None
    user = sent.entities[0].user
    assert user is not None
    assert (user.id, user.first_name, user.is_bot, user.language_code) == (
        ana["id"],
        "Ana",
        False,
        "id",
    )
    caption_target = await aiogram_bot.send_message(
        ana["id"], f'<a href="tg://user?id={ana["id"]}">you</a>', parse_mode="HTML"
    )
    assert caption_target.entities is not None
    assert caption_target.entities[0].user is not None
    # What the user sees lists it whole as well.
    (seen,) = [m for m in await sim.messages(ana["id"]) if m["message_id"] == sent.message_id]
    assert seen["entities"][0]["user"]["first_name"] == "Ana"


async def test_a_mention_of_an_unknown_user_stays_plain_text(
    aiogram_bot: AiogramBot, sim: Sim
) -> None:
    ana = await sim.started_user(BOT_A)
    sent = await aiogram_bot.send_message(
        ana["id"], 'who is <a href="tg://user?id=987654321">this</a>?', parse_mode="HTML"
    )
    assert sent.text == "who is this?"
    assert not sent.entities
