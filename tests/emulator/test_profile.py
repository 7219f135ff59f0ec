"""The bot's profile and menu button, inline mode, Web Apps and Stars payments, through
aiogram 3 and python-telegram-bot 22 unmodified, on an emulator clock the tests drive."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiogram import Bot as ABot
from aiogram import Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import ChosenInlineResult as AChosen
from aiogram.types import InlineKeyboardButton as AButton
from aiogram.types import InlineKeyboardMarkup as AMarkup
from aiogram.types import InlineQuery as AInlineQuery
from aiogram.types import InlineQueryResultArticle as AArticle
from aiogram.types import InlineQueryResultsButton as AResultsButton
from aiogram.types import InputTextMessageContent as AText
from aiogram.types import LabeledPrice as APrice
from aiogram.types import MenuButtonCommands as AMenuCommands
from aiogram.types import MenuButtonDefault as AMenuDefault
from aiogram.types import MenuButtonWebApp as AMenuWebApp
from aiogram.types import Message as AMessage
from aiogram.types import PreCheckoutQuery as APreCheckout
from aiogram.types import Update as AUpdate
from aiogram.types import WebAppInfo as AWebAppInfo
from telegram import Bot as PBot
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    LabeledPrice,
    MenuButtonCommands,
    MenuButtonDefault,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ChosenInlineResultHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from sluice import EmulatorError
from sluice.emulator import Emulator, EmulatorConfig, EmulatorServer
from support import BOT_A, BOT_B, TOKEN_A, Sim

WAIT = 10.0  # the bound on every wait for an update


class Clock:
    """The emulator's monotonic clock, which a test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(emulator=Emulator(EmulatorConfig(seed=1), clock=clock)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def timedelta_periods(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on reading durations as int; opt in to timedelta, its future default.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def abot(server: EmulatorServer) -> AsyncIterator[ABot]:
    bot = ABot(TOKEN_A, session=AiohttpSession(api=TelegramAPIServer.from_base(server.url)))
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def pbot(server: EmulatorServer) -> AsyncIterator[PBot]:
    bot = PBot(TOKEN_A, base_url=server.url + "/bot", base_file_url=server.url + "/file/bot")
    async with bot:
        yield bot


@pytest.fixture
async def user_id(sim: Sim) -> int:
    return int((await sim.started_user(BOT_A))["id"])


async def inline_bot(sim: Sim, *, feedback: bool = True) -> None:
    await sim.configure_bot(BOT_A, inline=True, inline_feedback=feedback)


async def raw(http: httpx.AsyncClient, method: str, **params: Any) -> dict[str, Any]:
    """A Bot API call the libraries' types would not let through."""
    answer: dict[str, Any] = (await http.post(f"/bot{TOKEN_A}/{method}", json=params)).json()
    return answer


async def a_next(bot: ABot, kind: str, has: str | None = None) -> AUpdate:
    """Long-poll (confirming what it reads) until an update carrying ``kind`` (with its
    field ``has`` set) arrives."""
    async with asyncio.timeout(WAIT):
        while True:
            for update in await bot.get_updates(timeout=1):
                await bot.get_updates(offset=update.update_id + 1, timeout=0)
                found = getattr(update, kind)
                if found is not None and (has is None or getattr(found, has) is not None):
                    return update


async def p_next(bot: PBot, kind: str, has: str | None = None) -> Update:
    async with asyncio.timeout(WAIT):
        while True:
            for update in await bot.get_updates(timeout=1):
                await bot.get_updates(offset=update.update_id + 1, timeout=0)
                found = getattr(update, kind)
                if found is not None and (has is None or getattr(found, has) is not None):
                    return update


def article(result_id: str, text: str = "hello") -> AArticle:
    return AArticle(
        id=result_id, title=result_id.upper(), input_message_content=AText(message_text=text)
    )


# -- name, descriptions, menu button ------------------------------------------------------------


async def test_profile_texts_aiogram(abot: ABot) -> None:
    assert (await abot.get_my_name()).name == f"Emulated bot {BOT_A}"
    assert await abot.set_my_name(name="Shop")
    assert await abot.set_my_name(name="Laden", language_code="de")
    assert (await abot.get_me()).first_name == "Shop"
    assert (await abot.get_my_name(language_code="de")).name == "Laden"
    assert (await abot.get_my_name(language_code="fr")).name == "Shop"

    assert (await abot.get_my_description()).description == ""
    assert await abot.set_my_description(description="Buys and sells")
    assert await abot.set_my_description(description="Kauft", language_code="de")
    assert (await abot.get_my_description(language_code="de")).description == "Kauft"
    assert (await abot.get_my_description(language_code="es")).description == "Buys and sells"
    assert await abot.set_my_description(description="", language_code="de")
    assert (await abot.get_my_description(language_code="de")).description == "Buys and sells"

    assert await abot.set_my_short_description(short_description="A shop")
    short = await abot.get_my_short_description(language_code="it")
    assert short.short_description == "A shop"

    with pytest.raises(TelegramBadRequest) as long_description:
        await abot.set_my_description(description="x" * 513)
    assert long_description.value.message == "Bad Request: description is too long"
    with pytest.raises(TelegramBadRequest) as long_short:
        await abot.set_my_short_description(short_description="x" * 121)
    assert long_short.value.message == "Bad Request: short description is too long"
    with pytest.raises(TelegramBadRequest) as long_name:
        await abot.set_my_name(name="x" * 65)
    assert long_name.value.message == "Bad Request: name is too long"
    with pytest.raises(TelegramBadRequest) as language:
        await abot.get_my_name(language_code="deu")
    assert language.value.message == "Bad Request: invalid language code specified"


async def test_profile_texts_ptb(pbot: PBot) -> None:
    assert await pbot.set_my_name("Shop")
    assert (await pbot.get_me()).first_name == "Shop"
    assert await pbot.set_my_name("Tienda", language_code="es")
    assert (await pbot.get_my_name(language_code="es")).name == "Tienda"
    assert await pbot.set_my_description("Buys and sells")
    assert (await pbot.get_my_description(language_code="pt")).description == "Buys and sells"
    assert await pbot.set_my_short_description("Compra", language_code="es")
    short = await pbot.get_my_short_description(language_code="es")
    assert short.short_description == "Compra"
    assert (await pbot.get_my_short_description()).short_description == ""

    with pytest.raises(BadRequest) as long_description:
        await pbot.set_my_description("x" * 600)
    assert long_description.value.message == "Description is too long"
    with pytest.raises(BadRequest) as language:
        await pbot.set_my_name("Shop", language_code="EN")
    assert language.value.message == "Invalid language code specified"


async def test_menu_button_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    assert isinstance(await abot.get_chat_menu_button(), AMenuCommands)
    assert isinstance(await abot.get_chat_menu_button(chat_id=user_id), AMenuDefault)
    app = AMenuWebApp(text="Shop", web_app=AWebAppInfo(url="https://example.com/shop"))
    assert await abot.set_chat_menu_button(chat_id=user_id, menu_button=app)
    got = await abot.get_chat_menu_button(chat_id=user_id)
    assert isinstance(got, AMenuWebApp)
    assert (got.text, got.web_app.url) == ("Shop", "https://example.com/shop")
    assert isinstance(await abot.get_chat_menu_button(), AMenuCommands)
    assert await abot.set_chat_menu_button(chat_id=user_id, menu_button=AMenuDefault())
    assert isinstance(await abot.get_chat_menu_button(chat_id=user_id), AMenuDefault)

    plain = AMenuWebApp(text="Shop", web_app=AWebAppInfo(url="http://example.com"))
    with pytest.raises(TelegramBadRequest) as http_url:
        await abot.set_chat_menu_button(menu_button=plain)
    assert http_url.value.message == (
        "Bad Request: inline keyboard button web app URL 'http://example.com' is invalid: "
        "Only HTTPS links are allowed"
    )
    group = await sim.group([BOT_A])
    with pytest.raises(TelegramBadRequest) as in_group:
        await abot.set_chat_menu_button(chat_id=group, menu_button=AMenuCommands())
    assert in_group.value.message == "Bad Request: invalid chat_id specified"


async def test_menu_button_ptb(pbot: PBot, user_id: int) -> None:
    app = MenuButtonWebApp("Open", WebAppInfo("https://example.com/app"))
    assert await pbot.set_chat_menu_button(menu_button=app)
    got = await pbot.get_chat_menu_button()
    assert isinstance(got, MenuButtonWebApp)
    assert got.web_app.url == "https://example.com/app"
    assert isinstance(await pbot.get_chat_menu_button(chat_id=user_id), MenuButtonDefault)
    assert await pbot.set_chat_menu_button(chat_id=user_id, menu_button=MenuButtonCommands())
    assert isinstance(await pbot.get_chat_menu_button(chat_id=user_id), MenuButtonCommands)

    with pytest.raises(BadRequest) as empty_text:
        await pbot.set_chat_menu_button(
            menu_button=MenuButtonWebApp("", WebAppInfo(app.web_app.url))
        )
    assert empty_text.value.message == "Menu button text can't be empty"
    with pytest.raises(BadRequest) as unknown:
        await pbot.get_chat_menu_button(chat_id=999_999)
    assert unknown.value.message == "User not found"


# -- inline mode ----------------------------------------------------------------------------------


async def test_inline_query_answer_and_choice_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    assert not (await abot.get_me()).supports_inline_queries
    await inline_bot(sim)
    assert (await abot.get_me()).supports_inline_queries
    sent = await sim.inline_query(user_id, BOT_A, "sho", chat_type="sender", offset="")
    update = await a_next(abot, "inline_query")
    query = update.inline_query
    assert isinstance(query, AInlineQuery)
    assert (query.id, query.query, query.offset, query.chat_type) == (
        sent["id"],
        "sho",
        "",
        "sender",
    )
    assert query.from_user.id == user_id
    assert (await sim.inline_answer(query.id)) == {"query_id": query.id, "answered": False}

    keyboard = AMarkup(inline_keyboard=[[AButton(text="Buy", callback_data="buy")]])
    shoes = AArticle(
        id="shoes",
        title="Shoes",
        input_message_content=AText(message_text="<b>Shoes</b> for you", parse_mode="HTML"),
        reply_markup=keyboard,
    )
    button = AResultsButton(text="Settings", start_parameter="settings")
    assert await query.answer(
        [shoes, article("hats")], cache_time=5, next_offset="2", button=button
    )
    shown = await sim.inline_answer(query.id)
    assert [r["id"] for r in shown["results"]] == ["shoes", "hats"]
    assert (shown["cache_time"], shown["next_offset"]) == (5, "2")
    assert shown["button"] == {"text": "Settings", "start_parameter": "settings"}

    with pytest.raises(TelegramBadRequest) as twice:
        await query.answer([article("again")])
    assert twice.value.message == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )

    chosen = await sim.choose_inline(query.id, "shoes", chat_id=user_id)
    assert chosen["message"]["text"] == "Shoes for you"
    via = await a_next(abot, "message", "via_bot")
    assert via.message is not None
    assert via.message.via_bot is not None
    assert via.message.via_bot.id == BOT_A
    assert via.message.text == "Shoes for you"
    assert [e.type for e in via.message.entities or []] == ["bold"]
    result = (await a_next(abot, "chosen_inline_result")).chosen_inline_result
    assert isinstance(result, AChosen)
    assert (result.result_id, result.query, result.from_user.id) == ("shoes", "sho", user_id)
    assert result.inline_message_id  # an inline keyboard makes it an inline message
    log = await sim.messages(user_id)
    assert log[-1]["via_bot"]["id"] == BOT_A


async def test_inline_errors_aiogram(abot: ABot, user_id: int, sim: Sim, clock: Clock) -> None:
    await inline_bot(sim)

    async def fresh() -> AInlineQuery:
        await sim.inline_query(user_id, BOT_A, "q")
        found = (await a_next(abot, "inline_query")).inline_query
        assert found is not None
        return found

    query = await fresh()
    cases: list[tuple[list[AArticle], dict[str, Any], str]] = [
        ([article("a"), article("a")], {}, "RESULT_ID_DUPLICATE"),
        ([article(str(n)) for n in range(51)], {}, "too many inline query results specified"),
        ([article("x" * 65)], {}, "RESULT_ID_INVALID"),
        ([article("a")], {"next_offset": "o" * 65}, "NEXT_OFFSET_INVALID"),
        ([article("a", text="x" * 4097)], {}, "MESSAGE_TOO_LONG"),
    ]
    for results, options, reason in cases:
        with pytest.raises(TelegramBadRequest) as refused:
            await query.answer(results, **options)
        assert refused.value.message == f"Bad Request: {reason}"
    bad_start = AResultsButton(text="Go", start_parameter="no spaces")
    with pytest.raises(TelegramBadRequest) as start:
        await query.answer([article("a")], button=bad_start)
    assert start.value.message == "Bad Request: unallowed characters in start_parameter are used"

    clock.advance(11)  # about 10 s to answer
    with pytest.raises(TelegramBadRequest) as late:
        await query.answer([article("a")])
    assert "query is too old" in late.value.message
    assert not (await sim.inline_answer(query.id))["answered"]


async def test_inline_result_shapes_raw(http: httpx.AsyncClient, user_id: int, sim: Sim) -> None:
    await inline_bot(sim)
    query = await sim.inline_query(user_id, BOT_A, "q")
    shapes = [
        (
            {"type": "carousel", "id": "1"},
            'type "carousel" is unsupported for the inline query result',
        ),
        ({"type": "article", "id": "1", "title": "T"}, 'Can\'t find field "message_text"'),
        (
            {"type": "article", "id": "1", "title": "T", "input_message_content": {}},
            "Input message content is not specified",
        ),
        ({"type": "photo", "id": "1"}, 'Can\'t find field "photo_file_id"'),
        (
            {"type": "location", "id": "1", "latitude": "north", "longitude": 1},
            'Field "latitude" must be of type Number',
        ),
    ]
    for result, reason in shapes:
        answer = await raw(http, "answerInlineQuery", inline_query_id=query["id"], results=[result])
        assert answer["description"] == f"Bad Request: can't parse inline query result: {reason}"
    unknown = await raw(http, "answerInlineQuery", inline_query_id="123", results=[])
    assert unknown["error_code"] == 400
    assert "query ID is invalid" in unknown["description"]
    venue = {
        "type": "venue",
        "id": "v",
        "latitude": 52.5,
        "longitude": 13.4,
        "title": "Cafe",
        "address": "Main St 1",
    }
    assert (await raw(http, "answerInlineQuery", inline_query_id=query["id"], results=[venue]))[
        "ok"
    ]
    chosen = await sim.choose_inline(query["id"], "v", chat_id=user_id)
    assert chosen["message"]["venue"]["title"] == "Cafe"
    assert chosen["message"]["location"]["latitude"] == 52.5


async def test_inline_query_and_choice_ptb(pbot: PBot, user_id: int, sim: Sim) -> None:
    await inline_bot(sim, feedback=False)
    assert (await pbot.get_me()).supports_inline_queries
    group = await sim.chat("supergroup", bot_ids=[BOT_A, BOT_B], member_user_ids=[user_id])
    sent = await sim.inline_query(user_id, BOT_A, "news", chat_type="supergroup")
    query = (await p_next(pbot, "inline_query")).inline_query
    assert query is not None
    assert (query.id, query.query, query.chat_type) == (sent["id"], "news", "supergroup")
    assert query.from_user.first_name == "Ana"

    result = InlineQueryResultArticle("n1", "Headline", InputTextMessageContent("Big news"))
    button = InlineQueryResultsButton("Open app", web_app=WebAppInfo("https://example.com/app"))
    assert await query.answer([result], is_personal=True, button=button)
    shown = await sim.inline_answer(query.id)
    assert shown["is_personal"] is True
    assert shown["button"]["web_app"]["url"] == "https://example.com/app"

    chosen = await sim.choose_inline(query.id, "n1", chat_id=group["id"])
    assert chosen["chosen_inline_result"] is None  # inline feedback is off
    message = (await p_next(pbot, "message", "via_bot")).message
    assert message is not None
    assert message.via_bot is not None
    assert message.via_bot.id == BOT_A
    assert (message.text, message.chat.id) == ("Big news", group["id"])

    await sim.inline_query(user_id, BOT_A, "x")
    late = (await p_next(pbot, "inline_query")).inline_query
    assert late is not None
    bad = InlineQueryResultsButton("Open", web_app=WebAppInfo("http://example.com"))
    with pytest.raises(BadRequest) as http_button:
        await late.answer([result], button=bad)
    assert http_button.value.message == "Inline query button web app only https links are allowed"
    with pytest.raises(BadRequest) as duplicate:
        await late.answer([result, result])
    assert duplicate.value.message == "Result_id_duplicate"


# -- Web Apps -------------------------------------------------------------------------------------


async def test_web_apps_aiogram(abot: ABot, user_id: int, sim: Sim) -> None:
    await sim.web_app_data(user_id, BOT_A, '{"size": 42}', "Pick a size")
    message = (await a_next(abot, "message", "web_app_data")).message
    assert message is not None
    assert message.web_app_data is not None
    assert (message.web_app_data.data, message.web_app_data.button_text) == (
        '{"size": 42}',
        "Pick a size",
    )

    query_id = await sim.web_app_query(user_id, BOT_A)
    sent = await abot.answer_web_app_query(
        web_app_query_id=query_id, result=article("w", "Ordered")
    )
    assert sent.inline_message_id is None
    via = (await a_next(abot, "message", "via_bot")).message
    assert via is not None
    assert via.via_bot is not None
    assert (via.text, via.from_user and via.from_user.id) == ("Ordered", user_id)

    with pytest.raises(TelegramBadRequest) as twice:
        await abot.answer_web_app_query(web_app_query_id=query_id, result=article("w"))
    assert "query ID is invalid" in twice.value.message


async def test_web_apps_ptb(pbot: PBot, user_id: int, sim: Sim) -> None:
    await sim.web_app_data(user_id, BOT_A, "ok", "Confirm")
    message = (await p_next(pbot, "message", "web_app_data")).message
    assert message is not None
    assert message.web_app_data is not None
    assert message.web_app_data.data == "ok"

    query_id = await sim.web_app_query(user_id, BOT_A)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Track", url="https://example.com/t")]])
    result = InlineQueryResultArticle(
        "w", "Receipt", InputTextMessageContent("Paid"), reply_markup=keyboard
    )
    sent = await pbot.answer_web_app_query(query_id, result)
    assert sent.inline_message_id  # an inline keyboard makes it an inline message
    via = (await p_next(pbot, "message", "via_bot")).message
    assert via is not None
    assert via.via_bot is not None
    assert via.reply_markup is not None
    assert via.reply_markup.inline_keyboard[0][0].url == "https://example.com/t"
    assert via.text == "Paid"
    with pytest.raises(BadRequest) as unknown:
        await pbot.answer_web_app_query(
            "nope", InlineQueryResultArticle("w", "T", InputTextMessageContent("x"))
        )
    assert unknown.value.message.startswith("Query is too old")


# -- payments in Telegram Stars -------------------------------------------------------------------


def stars(amount: int = 50) -> list[APrice]:
    return [APrice(label="Access", amount=amount)]


async def test_invoice_errors_and_link_aiogram(abot: ABot, user_id: int) -> None:
    invoice = await abot.send_invoice(
        user_id, "Pass", "A day pass", "pass-1", "XTR", stars(), start_parameter="pass"
    )
    assert invoice.invoice is not None
    assert (invoice.invoice.currency, invoice.invoice.total_amount) == ("XTR", 50)
    assert (invoice.invoice.title, invoice.invoice.start_parameter) == ("Pass", "pass")

    link = await abot.create_invoice_link(
        "Pass", "A month", "sub", "XTR", stars(), subscription_period=30 * 24 * 3600
    )
    assert link.startswith("https://t.me/$")

    cases: list[tuple[dict[str, Any], str]] = [
        ({"currency": "USD"}, "PAYMENT_PROVIDER_INVALID"),
        ({"prices": stars() + stars()}, "STARS_INVOICE_INVALID"),
        ({"provider_token": "123:TEST"}, "STARS_INVOICE_INVALID"),
        ({"prices": stars(0)}, "total price must be positive"),
        ({"prices": stars(10_001)}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"payload": "p" * 129}, "INVOICE_PAYLOAD_INVALID"),
        ({"prices": []}, "there must be at least one price"),
        (
            {"prices": [APrice(label="", amount=1)]},
            "can't parse labeled price: LabeledPrice label must be non-empty",
        ),
    ]
    for change, reason in cases:
        args: dict[str, Any] = {
            "title": "Pass",
            "description": "A day pass",
            "payload": "pass-1",
            "currency": "XTR",
            "prices": stars(),
        } | change
        with pytest.raises(TelegramBadRequest) as refused:
            await abot.send_invoice(user_id, **args)
        assert refused.value.message == f"Bad Request: {reason}"
    with pytest.raises(TelegramBadRequest) as period:
        await abot.create_invoice_link("P", "D", "p", "XTR", stars(), subscription_period=3600)
    assert period.value.message == "Bad Request: SUBSCRIPTION_PERIOD_INVALID"


async def test_payment_refused_late_and_refund_errors_aiogram(
    abot: ABot, user_id: int, sim: Sim, clock: Clock
) -> None:
    invoice = await abot.send_invoice(user_id, "Pass", "Day", "pass-1", "XTR", stars())
    started = await sim.pay(user_id, invoice.message_id, wait=False)
    assert started["status"] == "pending"
    query = (await a_next(abot, "pre_checkout_query")).pre_checkout_query
    assert isinstance(query, APreCheckout)
    assert (query.currency, query.total_amount, query.invoice_payload) == ("XTR", 50, "pass-1")
    assert query.from_user.id == user_id
    with pytest.raises(TelegramBadRequest) as no_reason:
        await query.answer(ok=False)
    assert no_reason.value.message == 'Bad Request: parameter "error_message" is required'
    assert await query.answer(ok=False, error_message="Sold out")
    refused = await sim.payment(query.id)
    assert (refused["status"], refused["error_message"]) == ("refused", "Sold out")
    with pytest.raises(TelegramBadRequest) as again:
        await query.answer(ok=True)
    assert "query ID is invalid" in again.value.message

    # Not answered within 10 s of the emulator's clock: the payment times out.
    paying = asyncio.create_task(sim.pay(user_id, invoice.message_id))
    late = (await a_next(abot, "pre_checkout_query")).pre_checkout_query
    assert late is not None
    clock.advance(10.5)
    outcome = await asyncio.wait_for(paying, WAIT)
    assert outcome["status"] == "timeout"
    with pytest.raises(TelegramBadRequest) as too_late:
        await late.answer(ok=True)
    assert "query is too old" in too_late.value.message
    assert not [m for m in await sim.messages(user_id) if "successful_payment" in m]

    with pytest.raises(TelegramBadRequest) as unknown:
        await abot.refund_star_payment(user_id, "stxNOPE")
    assert unknown.value.message == "Bad Request: CHARGE_NOT_FOUND"


async def test_payment_link_and_refund_ptb(pbot: PBot, user_id: int, sim: Sim) -> None:
    link = await pbot.create_invoice_link("Pass", "Day", "link-1", "XTR", [LabeledPrice("Day", 7)])
    paying = asyncio.create_task(sim.pay(from_user_id=user_id, invoice_link=link))
    query = (await p_next(pbot, "pre_checkout_query")).pre_checkout_query
    assert query is not None
    assert (query.invoice_payload, query.total_amount) == ("link-1", 7)
    assert await query.answer(ok=True)
    outcome = await asyncio.wait_for(paying, WAIT)
    assert outcome["status"] == "paid"
    message = (await p_next(pbot, "message", "successful_payment")).message
    assert message is not None
    payment = message.successful_payment
    assert payment is not None
    assert payment.telegram_payment_charge_id == outcome["telegram_payment_charge_id"]
    assert payment.provider_payment_charge_id

    assert await pbot.refund_star_payment(user_id, payment.telegram_payment_charge_id)
    refunded = (await p_next(pbot, "message", "refunded_payment")).message
    assert refunded is not None
    assert refunded.refunded_payment is not None
    assert refunded.refunded_payment.total_amount == 7
    with pytest.raises(BadRequest) as twice:
        await pbot.refund_star_payment(user_id, payment.telegram_payment_charge_id)
    assert twice.value.message == "Charge_already_refunded"
    with pytest.raises(BadRequest) as wrong:
        await pbot.send_invoice(
            user_id, "P", "D", "p", "XTR", [LabeledPrice("x", 1)], provider_token="t"
        )
    assert wrong.value.message == "Stars_invoice_invalid"


# -- real handlers: aiogram Dispatcher and PTB Application ---------------------------------------


async def test_aiogram_dispatcher_handles_every_update(abot: ABot, user_id: int, sim: Sim) -> None:
    await inline_bot(sim)
    dp = Dispatcher()
    seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    @dp.inline_query()
    async def on_inline(query: AInlineQuery) -> None:
        await query.answer([article("r1", f"You said {query.query}")])
        await seen.put(("inline_query", query.query))

    @dp.chosen_inline_result()
    async def on_chosen(result: AChosen) -> None:
        await seen.put(("chosen_inline_result", result.result_id))

    @dp.pre_checkout_query()
    async def on_checkout(query: APreCheckout) -> None:
        if query.invoice_payload == "refuse":
            await query.answer(ok=False, error_message="Not today")
        else:
            await query.answer(ok=True)
        await seen.put(("pre_checkout_query", query.invoice_payload))

    @dp.message(F.successful_payment)
    async def on_paid(message: AMessage) -> None:
        assert message.successful_payment is not None
        await seen.put(("successful_payment", message.successful_payment.invoice_payload))

    @dp.message(F.refunded_payment)
    async def on_refunded(message: AMessage) -> None:
        assert message.refunded_payment is not None
        await seen.put(("refunded_payment", message.refunded_payment.invoice_payload))

    @dp.message(F.web_app_data)
    async def on_web_app(message: AMessage) -> None:
        assert message.web_app_data is not None
        await seen.put(("web_app_data", message.web_app_data.data))

    @dp.message(F.via_bot)
    async def on_via_bot(message: AMessage) -> None:
        await seen.put(("via_bot", message.text))

    polling = asyncio.create_task(
        dp.start_polling(abot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )

    async def expect(*events: tuple[str, Any]) -> None:
        got = [await asyncio.wait_for(seen.get(), WAIT) for _ in events]
        assert sorted(got) == sorted(events)

    try:
        query = await sim.inline_query(user_id, BOT_A, "hi")
        await expect(("inline_query", "hi"))
        await sim.choose_inline(query["id"], "r1", chat_id=user_id)
        await expect(("chosen_inline_result", "r1"), ("via_bot", "You said hi"))
        await sim.web_app_data(user_id, BOT_A, "size=42", "Size")
        await expect(("web_app_data", "size=42"))

        invoice = await abot.send_invoice(user_id, "Pass", "Day", "pass-1", "XTR", stars())
        outcome = await sim.pay(user_id, invoice.message_id)
        assert outcome["status"] == "paid"
        assert outcome["message"]["successful_payment"]["total_amount"] == 50
        await expect(("pre_checkout_query", "pass-1"), ("successful_payment", "pass-1"))
        charge = outcome["telegram_payment_charge_id"]
        assert await abot.refund_star_payment(user_id, charge)
        await expect(("refunded_payment", "pass-1"))

        refused = await abot.send_invoice(user_id, "Pass", "Day", "refuse", "XTR", stars(5))
        outcome = await sim.pay(user_id, refused.message_id)
        assert (outcome["status"], outcome["error_message"]) == ("refused", "Not today")
        await expect(("pre_checkout_query", "refuse"))
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, WAIT)
    paid = [m for m in await sim.messages(user_id) if "successful_payment" in m]
    assert [m["successful_payment"]["invoice_payload"] for m in paid] == ["pass-1"]


def build_app(server: EmulatorServer) -> Application[Any, Any, Any, Any, Any, Any]:
    return (
        ApplicationBuilder()
        .token(TOKEN_A)
        .base_url(server.url + "/bot")
        .base_file_url(server.url + "/file/bot")
        .build()
    )


async def test_ptb_application_handles_every_update(
    server: EmulatorServer, user_id: int, sim: Sim
) -> None:
    await inline_bot(sim)
    app = build_app(server)
    seen: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    Context = ContextTypes.DEFAULT_TYPE

    async def on_inline(update: Update, context: Context) -> None:
        assert update.inline_query is not None
        result = InlineQueryResultArticle("r1", "R", InputTextMessageContent("Picked"))
        await update.inline_query.answer([result])
        await seen.put(("inline_query", update.inline_query.query))

    async def on_chosen(update: Update, context: Context) -> None:
        assert update.chosen_inline_result is not None
        await seen.put(("chosen_inline_result", update.chosen_inline_result.result_id))

    async def on_checkout(update: Update, context: Context) -> None:
        query = update.pre_checkout_query
        assert query is not None
        await query.answer(ok=True)
        await seen.put(("pre_checkout_query", query.invoice_payload))

    async def on_paid(update: Update, context: Context) -> None:
        assert update.message is not None
        assert update.message.successful_payment is not None
        payment = update.message.successful_payment
        await seen.put(("successful_payment", (payment.invoice_payload, payment.total_amount)))

    async def on_web_app(update: Update, context: Context) -> None:
        assert update.message is not None
        assert update.message.web_app_data is not None
        await seen.put(("web_app_data", update.message.web_app_data.button_text))

    async def on_via_bot(update: Update, context: Context) -> None:
        assert update.message is not None
        await seen.put(("via_bot", update.message.text))

    app.add_handler(InlineQueryHandler(on_inline))
    app.add_handler(ChosenInlineResultHandler(on_chosen))
    app.add_handler(PreCheckoutQueryHandler(on_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_paid))
    app.add_handler(MessageHandler(filters.StatusUpdate.WEB_APP_DATA, on_web_app))
    app.add_handler(MessageHandler(filters.VIA_BOT, on_via_bot))

    async def expect(*events: tuple[str, Any]) -> None:
        got = [await asyncio.wait_for(seen.get(), WAIT) for _ in events]
        assert sorted(got, key=repr) == sorted(events, key=repr)

    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=1))
        try:
            query = await sim.inline_query(user_id, BOT_A, "ptb")
            await expect(("inline_query", "ptb"))
            await sim.choose_inline(query["id"], "r1", chat_id=user_id)
            await expect(("chosen_inline_result", "r1"), ("via_bot", "Picked"))
            await sim.web_app_data(user_id, BOT_A, "x", "Choose")
            await expect(("web_app_data", "Choose"))

            invoice = await app.bot.send_invoice(
                user_id, "Pass", "Day", "ptb-1", "XTR", [LabeledPrice("Day", 25)]
            )
            outcome = await sim.pay(user_id, invoice.message_id)
            assert outcome["status"] == "paid"
            await expect(("pre_checkout_query", "ptb-1"), ("successful_payment", ("ptb-1", 25)))
        finally:
            await app.updater.stop()
            await app.stop()


async def test_payment_in_a_group(abot: ABot, user_id: int, sim: Sim) -> None:
    group = await sim.chat("supergroup", bot_ids=[BOT_A], member_user_ids=[user_id])
    outsider = await sim.user("Bo")
    invoice = await abot.send_invoice(group["id"], "Ticket", "Entry", "t-1", "XTR", stars(3))
    with pytest.raises(EmulatorError, match="is not a member"):
        await sim.pay(group["id"], invoice.message_id, from_user_id=outsider["id"])
    started = await sim.pay(group["id"], invoice.message_id, from_user_id=user_id, wait=False)
    query = (await a_next(abot, "pre_checkout_query")).pre_checkout_query
    assert query is not None
    assert query.id == started["pre_checkout_query_id"]
    assert await query.answer(ok=True)
    paid = await sim.payment(query.id, wait=True)
    assert paid["status"] == "paid"
    message = (await a_next(abot, "message", "successful_payment")).message
    assert message is not None
    assert message.chat.id == group["id"]
    assert message.from_user is not None
    assert message.from_user.id == user_id
    with pytest.raises(EmulatorError, match="already paid"):
        await sim.pay(group["id"], invoice.message_id, from_user_id=user_id)
