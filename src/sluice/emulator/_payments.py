"""Payments in Telegram Stars: invoices, invoice links, pre-checkout answers and refunds."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import bad_request
from sluice.emulator._ledger import (
    QUERY_INVALID,
    Charge,
    Checkout,
    InvoiceFacts,
    InvoiceState,
    ledger,
    user_message,
)
from sluice.emulator._messages import send_body, send_target
from sluice.emulator._params import Params
from sluice.emulator._shape import Shape, read_integer, read_string
from sluice.emulator._world import Bot, Chat, User, conversation_key

__all__ = ["CHECKOUT_WINDOW", "start_checkout"]

# "The Bot API must receive an answer within 10 seconds after the pre-checkout query was sent."
CHECKOUT_WINDOW = 10.0
MAX_STARS = 10_000  # the most one Telegram Stars invoice may ask for
_MAX_AMOUNT = 9999_9999_9999  # tdlib's bound on any amount of any currency
SUBSCRIPTION_PERIOD = 30 * 24 * 3600  # the only period Telegram accepts


# -- invoices --------------------------------------------------------------------------------


def _labeled_prices(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise bad_request("expected an Array of labeled prices")
    amounts = []
    for price in value:
        try:
            if not isinstance(price, dict):
                raise Shape("LabeledPrice must be an Object")
            if not read_string(price, "label"):
                raise Shape("LabeledPrice label must be non-empty")
            amounts.append(read_integer(price, "amount"))
        except Shape as exc:
            raise bad_request(f"can't parse labeled price: {exc}") from None
    if not amounts:
        raise bad_request("there must be at least one price")
    return amounts


def _invoice(
    title: str,
    description: str,
    payload: str,
    currency: str,
    prices: Any,
    provider_token: str,
    start_parameter: str,
) -> InvoiceFacts:
    """Check an invoice as tdlib, then Telegram, do; the emulator takes only Telegram Stars."""
    amounts = _labeled_prices(prices)
    if any(abs(amount) > _MAX_AMOUNT for amount in amounts):
        raise bad_request("too big amount of the currency specified")
    total = sum(amounts)
    if total <= 0:
        raise bad_request("total price must be positive")
    if total > _MAX_AMOUNT:
        raise bad_request("total price is too big")
    if len(payload.encode()) > 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if currency != "XTR":
        # No payment provider exists in the emulator: only Stars can be paid.
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    if provider_token or len(amounts) != 1:
        raise bad_request("STARS_INVOICE_INVALID")
    if total > MAX_STARS:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    return InvoiceFacts(title, description, payload, currency, total, start_parameter)


def _required(p: Params, name: str) -> str:
    value = p.text(name)
    if not value:
        raise bad_request(f'parameter "{name}" is required')
    return value


def _invoice_params(p: Params) -> InvoiceFacts:
    title = _required(p, "title")
    description = _required(p, "description")
    payload = _required(p, "payload")
    provider_token = p.text("provider_token") or ""
    currency = _required(p, "currency")
    if p.raw("prices") in (None, ""):
        raise bad_request('parameter "prices" is required')
    prices = p.json("prices", "prices")
    start = p.text("start_parameter") or ""
    return _invoice(title, description, payload, currency, prices, provider_token, start)


def invoice_content(content: dict[str, Any]) -> InvoiceFacts:
    """An InputInvoiceMessageContent (inline results, Web App answers)."""
    title = read_string(content, "title") or ""
    description = read_string(content, "description") or ""
    payload = read_string(content, "payload") or ""
    token = read_string(content, "provider_token", required=False) or ""
    currency = read_string(content, "currency") or ""
    prices = content.get("prices")
    if prices is None:
        raise Shape('Can\'t find field "prices"')
    return _invoice(title, description, payload, currency, prices, token, "")


@method("sendInvoice")
async def send_invoice(emu: Emulator, bot: Bot, p: Params) -> Any:
    facts = _invoice_params(p)
    chat = send_target(emu, bot, p)
    api = send_body(emu, bot, chat, p, {"invoice": facts.to_api()})
    key = conversation_key(chat, bot.id)
    ledger(emu).invoices[(*key, int(api["message_id"]))] = InvoiceState(bot.id, facts)
    return api


@method("createInvoiceLink")
async def create_invoice_link(emu: Emulator, bot: Bot, p: Params) -> Any:
    facts = _invoice_params(p)
    period = p.integer("subscription_period")
    if period is not None:
        if period != SUBSCRIPTION_PERIOD:
            raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
        facts.subscription_period = period
    slug = secrets.token_urlsafe(24)
    ledger(emu).links[slug] = InvoiceState(bot.id, facts)
    return f"https://t.me/${slug}"


def start_checkout(emu: Emulator, user: User, chat: Chat | User, invoice: InvoiceState) -> Checkout:
    """The user pays: the bot gets a pre_checkout_query to answer within the window."""
    checkout = Checkout(
        str(secrets.randbits(63)),
        invoice.bot_id,
        user,
        chat,
        invoice,
        emu.clock() + CHECKOUT_WINDOW,
    )
    ledger(emu).checkouts[checkout.id] = checkout
    query = {
        "id": checkout.id,
        "from": user.to_api(),
        "currency": invoice.facts.currency,
        "total_amount": invoice.facts.total_amount,
        "invoice_payload": invoice.facts.payload,
    }
    emu.hub.push(invoice.bot_id, "pre_checkout_query", query)
    return checkout


def _complete(emu: Emulator, checkout: Checkout) -> None:
    facts = checkout.invoice.facts
    charge = Charge(
        "stx" + secrets.token_urlsafe(24),
        checkout.bot_id,
        checkout.user.id,
        facts,
        f"{checkout.user.id}_{secrets.randbits(40)}",
    )
    ledger(emu).charges[charge.id] = charge
    payment: dict[str, Any] = {
        "currency": facts.currency,
        "total_amount": facts.total_amount,
        "invoice_payload": facts.payload,
        "telegram_payment_charge_id": charge.id,
        "provider_payment_charge_id": charge.provider_id,
    }
    if facts.subscription_period is not None:
        first = not checkout.invoice.paid_by
        payment |= {
            "subscription_expiration_date": int(time.time()) + facts.subscription_period,
            "is_recurring": True,
            "is_first_recurring": first,
        }
    checkout.invoice.paid_by.add(checkout.user.id)
    checkout.message = user_message(
        emu, checkout.bot_id, checkout.user, checkout.chat, {"successful_payment": payment}
    )
    checkout.charge_id = charge.id
    checkout.status = "paid"
    checkout.settled.set()


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(emu: Emulator, bot: Bot, p: Params) -> Any:
    query_id = p.text("pre_checkout_query_id") or ""
    ok = p.flag("ok")
    error_message = None if ok else _required(p, "error_message")
    checkout = ledger(emu).checkouts.get(query_id)
    if checkout is None or checkout.bot_id != bot.id or not checkout.pending(emu.clock()):
        raise bad_request(QUERY_INVALID)
    if error_message is None:
        _complete(emu, checkout)
    else:
        checkout.status = "refused"
        checkout.error_message = error_message
        checkout.settled.set()
    return True


@method("refundStarPayment")
async def refund_star_payment(emu: Emulator, bot: Bot, p: Params) -> Any:
    user_id = p.integer("user_id") or 0
    if user_id <= 0:
        raise bad_request("invalid user_id specified")
    charge_id = _required(p, "telegram_payment_charge_id")
    user = emu.world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    charge = ledger(emu).charges.get(charge_id)
    if charge is None or charge.bot_id != bot.id or charge.user_id != user_id:
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    charge.refunded = True
    refunded = {
        "currency": charge.facts.currency,
        "total_amount": charge.facts.total_amount,
        "invoice_payload": charge.facts.payload,
        "telegram_payment_charge_id": charge.id,
    }
    user_message(emu, bot.id, user, user, {"refunded_payment": refunded})
    return True
