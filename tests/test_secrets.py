"""No token, api_hash or session string reaches a log line, an error text or a repr."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError

from sluice import NoAccountAvailable, RetriesExhausted, install_log_redaction
from sluice.accounts import MTProtoCredential
from sluice.broadcasts.aiogram import broadcast_messages
from sluice.config import load_settings
from sluice.emulator import EmulatorServer
from sluice.gate import Gate, RetryPolicy
from sluice.integrations.aiogram import GateMiddleware
from support import Sim

SECRET = "SeCrEt-tOkEn-FoR-ReDaCtIoN-TeSt-123"  # 35 characters, obviously fake
TOKEN = "5550001:" + SECRET
API_HASH = "f00dfeedf00dfeedf00dfeedf00dfeed"


def everything_said(exc: BaseException) -> str:
    """An exception's text, repr and traceback, and the same for its whole chain."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), *traceback.format_exception(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def redaction() -> None:
    install_log_redaction()


async def test_network_errors_carry_no_token(caplog: pytest.LogCaptureFixture) -> None:
    # A URL aiohttp refuses: its error text is the URL, the URL holds the token.
    session = AiohttpSession(api=TelegramAPIServer.from_base("http://127.0.0.1:99999"))
    gate = Gate(retry=RetryPolicy(transient_retries=1, backoff_base=0.01, backoff_cap=0.01))
    session.middleware(GateMiddleware(gate))
    bot = Bot(TOKEN, session=session)
    try:
        with pytest.raises(RetriesExhausted) as info:
            await bot.send_message(1, "hi")
        with pytest.raises(TelegramNetworkError) as direct:
            await bot.get_me()
    finally:
        await session.close()
    logging.getLogger("aiogram.event").exception("send failed", exc_info=info.value)
    for said in (everything_said(info.value), everything_said(direct.value), caplog.text):
        assert SECRET not in said
    assert "5550001" in everything_said(direct.value)  # the bot id stays: it is public


async def test_a_refused_token_leaves_no_trace(
    server: EmulatorServer, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    other = "5550001:" + "Z" * 35  # binds the id first: our token is then refused
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    gate = Gate()
    session.middleware(GateMiddleware(gate))
    try:
        await Bot(other, session=session).get_me()
        user = await sim.started_user(5550001)
        bot = Bot(TOKEN, session=session)
        with pytest.raises(NoAccountAvailable) as info:
            await bot.send_message(user["id"], "hi")
        report = await broadcast_messages(bot, [user["id"]], "news")
    finally:
        await session.close()
    logging.getLogger("sluice.gate").warning("quarantined: %s", info.value, exc_info=info.value)
    texts = [everything_said(info.value), caplog.text, repr(gate.health()), str(report.errors)]
    texts += [repr(a) for a in gate.accounts]
    for said in texts:
        assert SECRET not in said


def test_settings_and_credentials_never_show_their_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        {"BOT_TOKEN": TOKEN, "TELEGRAM_API_ID": "12345", "TELEGRAM_API_HASH": API_HASH},
        env_file=None,
    )
    (credential,) = settings.mtproto_credentials
    assert isinstance(credential, MTProtoCredential)
    logging.getLogger("telethon.network").error(
        "login failed for %s with %s", settings.bot_tokens[0].reveal(), API_HASH
    )
    for said in (repr(settings), str(settings), repr(credential), caplog.text):
        assert SECRET not in said
        assert API_HASH not in said


async def test_the_log_of_a_busy_gated_bot_is_clean(
    server: EmulatorServer, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    session.middleware(GateMiddleware(Gate()))
    bot = Bot(TOKEN, session=session)
    try:
        users = [(await sim.started_user(5550001))["id"] for _ in range(3)]
        await asyncio.gather(*(bot.send_message(u, "hi") for u in users))
        await bot.get_updates(timeout=0)
    finally:
        await session.close()
    assert SECRET not in caplog.text
