"""Simulated inline queries and choices, Web App data and queries, and payments in Stars."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._errors import bad_request
from sluice.emulator._inline import record_invoice, sent_message
from sluice.emulator._ledger import Checkout, InlineQueryState, InvoiceState, WebAppQuery, ledger
from sluice.emulator._params import Params
from sluice.emulator._payments import start_checkout
from sluice.emulator._sim import Simulator, sim_post
from sluice.emulator._world import Bot, Chat, User, conversation_key

__all__: list[str] = []

_CHAT_TYPES = frozenset({"sender", "private", "group", "supergroup", "channel"})
_MAX_QUERY = 256  # characters of an inline query
_MAX_WEB_APP_DATA = 4096  # bytes Telegram.WebApp.sendData takes
# The emulator's clock may be a test's, which nothing can wait on: a waiting payment
# re-reads it this often (real seconds) until the bot answers or the window closes.
_CLOCK_POLL = 0.02


def _bot(sim: Simulator, p: Params) -> Bot:
    bot_id = p.integer("bot_id", empty_error="bot_id is required")
    assert bot_id is not None
    return sim.emu.world.ensure_bot(bot_id)


@sim_post("bots")
async def configure_bot(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """What BotFather switches on: ``inline`` mode and ``inline_feedback``."""
    bot = _bot(sim, p)
    for name in ("inline", "inline_feedback"):
        if p.has(name):
            setattr(bot, name, p.flag(name))
    return {"bot_id": bot.id, "inline": bot.inline, "inline_feedback": bot.inline_feedback}


@sim_post("inline")
async def inline_query(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """The user types ``@bot query``: an ``inline_query`` update; answers its payload."""
    user = sim.user(p, "from_user_id")
    bot = _bot(sim, p)
    if not bot.inline:
        raise bad_request(
            f"bot {bot.id} has no inline mode: switch it on with POST /_sim/bots "
            '{"bot_id": ..., "inline": true}'
        )
    query = p.text("query") or ""
    if len(query) > _MAX_QUERY:
        raise bad_request(f"an inline query has at most {_MAX_QUERY} characters")
    chat_type = p.text("chat_type")
    if chat_type is not None and chat_type not in _CHAT_TYPES:
        raise bad_request("chat_type must be one of " + ", ".join(sorted(_CHAT_TYPES)))
    state = InlineQueryState(str(secrets.randbits(63)), bot.id, user, query, sim.emu.clock())
    ledger(sim.emu).inline_queries[state.id] = state
    payload: dict[str, Any] = {
        "id": state.id,
        "from": user.to_api(),
        "query": query,
        "offset": p.text("offset") or "",
    }
    if chat_type is not None:
        payload["chat_type"] = chat_type
    sim.emu.hub.push(bot.id, "inline_query", payload)
    return payload


def _query(sim: Simulator, p: Params) -> InlineQueryState:
    query_id = p.text("query_id", empty_error="query_id is required") or ""
    state = ledger(sim.emu).inline_queries.get(query_id)
    if state is None:
        raise bad_request(f"no inline query {query_id}")
    return state


@sim_post("inline/answer")
async def inline_answer(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """What the bot answered to an inline query, as the user's client shows it."""
    state = _query(sim, p)
    if state.answer is None:
        return {"query_id": state.id, "answered": False}
    return {"query_id": state.id, "answered": True} | state.answer


@sim_post("inline/choose")
async def choose_inline(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """The user picks a result: its message lands in ``chat_id`` (if given) via the bot, and
    the bot gets a ``chosen_inline_result`` if its inline feedback is on."""
    state = _query(sim, p)
    if state.answer is None:
        raise bad_request(f"the bot has not answered inline query {state.id}")
    result_id = p.text("result_id", empty_error="result_id is required") or ""
    result = state.results.get(result_id)
    if result is None:
        raise bad_request(f"the bot's answer has no result {result_id!r}")
    world = sim.emu.world
    bot = world.bots[state.bot_id]
    user = state.user
    message = None
    if p.has("chat_id"):
        body = sent_message(result, bot)
        if body is None:
            raise bad_request(
                f"result {result_id!r} is sent from a URL, which the emulator can't fetch"
            )
        chat = world.resolve_chat(p.chat_id())
        if isinstance(chat, User):
            if chat.id != user.id:
                raise bad_request("a user can only write in their own private chat")
            chat_bot = sim.private_bot(user, Params({"bot_id": p.integer("bot_id") or bot.id}))
            message = sim.deliver_private(chat_bot, user, body, result.file)
            key = conversation_key(chat, chat_bot)
        else:
            if user.id not in chat.member_user_ids:
                raise bad_request(f"user {user.id} is not a member of chat {chat.id}")
            message = sim.deliver_group(chat, user, body, result.file)
            key = conversation_key(chat, 0)
        record_invoice(sim.emu, key, message, result, bot)
    chosen = None
    if bot.inline_feedback:
        chosen = {"result_id": result_id, "from": user.to_api(), "query": state.query}
        if result.markup is not None:
            chosen["inline_message_id"] = secrets.token_urlsafe(18)
        sim.emu.hub.push(bot.id, "chosen_inline_result", chosen)
    return {"message": message, "chosen_inline_result": chosen}


@sim_post("webapp")
async def web_app_data(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A Web App opened from a keyboard button sends data: a ``web_app_data`` message."""
    user = sim.user(p, "from_user_id")
    bot_id = sim.private_bot(user, p)
    data = p.text("data", empty_error="data is required") or ""
    if len(data.encode()) > _MAX_WEB_APP_DATA:
        raise bad_request(f"data has at most {_MAX_WEB_APP_DATA} bytes")
    button_text = p.text("button_text", empty_error="button_text is required") or ""
    body = {"web_app_data": {"data": data, "button_text": button_text}}
    return sim.deliver_private(bot_id, user, body, None)


@sim_post("webapp/query")
async def web_app_query(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A Web App opened in the user's chat with the bot: the query_id its initData carries,
    for the bot's answerWebAppQuery."""
    user = sim.user(p, "from_user_id")
    bot_id = sim.private_bot(user, p)
    query = WebAppQuery(secrets.token_urlsafe(18), bot_id, user)
    ledger(sim.emu).web_app_queries[query.id] = query
    return {"web_app_query_id": query.id}


def _invoice(sim: Simulator, p: Params, user: User) -> tuple[InvoiceState, Chat | User]:
    """The invoice the user pays: a message in a chat, or a link (paid in the bot's chat)."""
    book = ledger(sim.emu)
    link = p.text("invoice_link")
    if link:
        state = book.links.get(link.rsplit("$", 1)[-1])
        if state is None:
            raise bad_request(f"no invoice link {link}")
        return state, user
    world = sim.emu.world
    chat = world.resolve_chat(p.chat_id())
    message_id = p.integer("message_id", empty_error="message_id or invoice_link is required")
    bot_id = 0
    if isinstance(chat, User):
        if chat.id != user.id:
            raise bad_request("a user can only pay in their own private chat")
        bot_id = sim.private_bot(user, p)
    elif user.id not in chat.member_user_ids:
        raise bad_request(f"user {user.id} is not a member of chat {chat.id}")
    key = conversation_key(chat, bot_id)
    found = book.invoices.get((*key, message_id or 0))
    if found is None or world.find_message(chat, bot_id, message_id or 0) is None:
        raise bad_request(f"no invoice with message_id {message_id} in chat {chat.id}")
    return found, chat


async def _settled(sim: Simulator, checkout: Checkout) -> None:
    while checkout.pending(sim.emu.clock()):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(checkout.settled.wait(), _CLOCK_POLL)


@sim_post("pay")
async def pay(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """The user pays an invoice in Stars: the bot gets a ``pre_checkout_query``. Waits (unless
    ``wait`` is false) for the bot's answer or the end of the window on the emulator's clock,
    and answers the outcome: paid (with the ``successful_payment`` message), refused (with
    the bot's error_message), timeout, or pending."""
    user = sim.user(p, "from_user_id")
    invoice, chat = _invoice(sim, p, user)
    if user.id in invoice.paid_by and invoice.facts.subscription_period is None:
        raise bad_request(f"user {user.id} has already paid this invoice")
    checkout = start_checkout(sim.emu, user, chat, invoice)
    if not p.has("wait") or p.flag("wait"):
        await _settled(sim, checkout)
    return checkout.to_json(sim.emu.clock())


@sim_post("pay/status")
async def pay_status(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """What became of a payment (``pay`` with ``wait: false``); ``wait: true`` waits."""
    query_id = p.text("pre_checkout_query_id", empty_error="pre_checkout_query_id is required")
    checkout = ledger(sim.emu).checkouts.get(query_id or "")
    if checkout is None:
        raise bad_request(f"no payment {query_id}")
    if p.flag("wait"):
        await _settled(sim, checkout)
    return checkout.to_json(sim.emu.clock())
