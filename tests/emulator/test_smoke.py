from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from sluice.emulator import EmulatorServer
from support import BOT_A, TOKEN_A, Sim


async def test_aiogram_bot_sends_to_a_started_user(server: EmulatorServer, sim: Sim) -> None:
    user = await sim.started_user(BOT_A)
    bot = Bot(TOKEN_A, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    try:
        sent = await bot.send_message(user["id"], "hello")
    finally:
        await bot.session.close()
    assert sent.text == "hello"
    log = await sim.messages(user["id"])
    assert [m["text"] for m in log] == ["/start", "hello"]
