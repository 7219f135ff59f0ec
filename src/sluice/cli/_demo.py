"""``sluice demo``: a real aiogram bot against the in-process emulator.

Everything runs on loopback: the emulator plays Telegram and three simulated
users; an ordinary aiogram 3 bot (Dispatcher, handlers, long polling) answers
them. The last act sends a burst into one chat without any limiter to show the
429 that sluice's gate exists to prevent.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from rich.console import Console
from rich.table import Table

from sluice.emulator import EmulatorServer

__all__ = ["run_demo"]

# An obviously fake token: the emulator accepts any well-formed one.
DEMO_TOKEN = "4242:" + "demo-token-not-a-real-secret-123456"[:35]
DEMO_BOT_ID = 4242
_WAIT = 10.0


def _build_dispatcher() -> Dispatcher:
    dp = Dispatcher()
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Ping", callback_data="ping")]]
    )

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        name = message.from_user.first_name if message.from_user else "there"
        await message.answer(f"Welcome, <b>{name}</b>!", parse_mode="HTML", reply_markup=keyboard)

    @dp.message(Command("ping"))
    async def ping(message: Message) -> None:
        await message.reply("pong")

    @dp.message(F.document)
    async def document(message: Message, bot: Bot) -> None:
        assert message.document is not None
        file = await bot.get_file(message.document.file_id)
        assert file.file_path is not None
        data = await bot.download_file(file.file_path)
        size = len(data.read()) if data is not None else 0
        await message.answer(f"Got {message.document.file_name}: {size} bytes")

    @dp.callback_query(F.data == "ping")
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("pong!")
        if isinstance(query.message, Message):
            await query.message.edit_text("Ping pressed: pong")

    return dp


async def _until(check: Callable[[], Awaitable[bool]], limit_s: float = _WAIT) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def run_demo(console: Console) -> int:
    """Run the scripted session; returns the process exit code."""
    async with (
        EmulatorServer() as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False) as sim,
    ):
        console.print(f"[bold]sluice demo[/] - Telegram emulator at {server.url}")
        session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
        bot = Bot(DEMO_TOKEN, session=session)
        dp = _build_dispatcher()
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
        )
        try:
            return await _script(console, sim, bot)
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, 5)
            await session.close()


async def _post(sim: httpx.AsyncClient, path: str, **body: Any) -> Any:
    response = await sim.post(f"/_sim/{path}", json=body)
    response.raise_for_status()
    return response.json()


async def _script(console: Console, sim: httpx.AsyncClient, bot: Bot) -> int:
    users = [
        await _post(sim, "users", first_name=name, language_code=lang)
        for name, lang in (("Ana", "en"), ("Budi", "id"), ("Chen", "en"))
    ]
    ana, budi, chen = (u["id"] for u in users)

    async def count(chat_id: int) -> int:
        messages = (await sim.get(f"/_sim/chats/{chat_id}/messages")).json()
        return len(messages)

    for user in users:
        await _post(sim, "start", bot_id=DEMO_BOT_ID, user_id=user["id"])
    await _post(sim, "send", chat_id=ana, from_user_id=ana, text="/ping")
    doc = base64.b64encode(b"sluice " * 1000).decode()
    await _post(
        sim,
        "send",
        chat_id=budi,
        from_user_id=budi,
        file={"kind": "document", "base64": doc, "file_name": "notes.txt"},
    )

    async def answered() -> bool:
        # /start + welcome everywhere; Ana's /ping + pong; Budi's file + its receipt.
        expected = {ana: 4, budi: 4, chen: 2}
        return all([await count(chat) >= n for chat, n in expected.items()])

    ok = await _until(answered)
    welcome = (await sim.get(f"/_sim/chats/{chen}/messages")).json()[-1]
    await _post(
        sim,
        "callback",
        chat_id=chen,
        from_user_id=chen,
        message_id=welcome["message_id"],
        data="ping",
    )

    async def edited() -> bool:
        log = (await sim.get(f"/_sim/chats/{chen}/messages")).json()
        return any(m["edit_history"] for m in log)

    ok = ok and await _until(edited)

    # Act two: no limiter, five messages at once into one private chat.
    outcomes: list[str] = []
    for i in range(5):
        try:
            await bot.send_message(ana, f"burst {i + 1}")
            outcomes.append("sent")
        except TelegramRetryAfter as exc:
            outcomes.append(f"429 retry_after={exc.retry_after}")

    console.print(f"\n[bold]{len(users)} simulated users talked to the bot:[/]")
    await _print_transcripts(console, sim, users)
    console.print(
        "\n[bold]Unpaced burst into Ana's chat[/] (Telegram allows 1 msg/s with a burst of 3, "
        "and the bot has just written to her):"
    )
    for i, outcome in enumerate(outcomes, start=1):
        style = "green" if outcome == "sent" else "red"
        console.print(f"  message {i}: [{style}]{outcome}[/]")
    stats = (await sim.get("/_sim/stats")).json()["bots"][str(DEMO_BOT_ID)]
    console.print(
        f"\nemulator stats: {stats['sends_accepted']} sends accepted, "
        f"{stats['r429']['total']} answered 429; calls: {stats['calls']}"
    )
    # Whatever the burst left over goes through, then every call is refused.
    sent = outcomes.count("sent")
    burst_limited = (
        1 <= sent <= 3
        and outcomes[:sent] == ["sent"] * sent
        and all(o.startswith("429 retry_after=") for o in outcomes[sent:])
    )
    if ok and burst_limited:
        console.print("[bold green]demo finished: every user was answered[/]")
        return 0
    console.print("[bold red]demo failed: some answers did not arrive in time[/]")
    return 1


async def _print_transcripts(console: Console, sim: httpx.AsyncClient, users: list[Any]) -> None:
    for user in users:
        log = (await sim.get(f"/_sim/chats/{user['id']}/messages")).json()
        table = Table(title=f"chat with {user['first_name']}", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("from")
        table.add_column("message")
        for m in log:
            who = "bot" if m["sender"]["type"] == "bot" else user["first_name"]
            body = m.get("text") or m.get("caption") or ""
            if m.get("media"):
                body = f"[{m['media']['kind']}: {m['media']['file_name']}, {m['media']['size']} B]"
            if m["edit_history"]:
                body += f"  (edited; was: {m['edit_history'][0].get('text')!r})"
            table.add_row(str(m["message_id"]), who, body)
        console.print(table)
