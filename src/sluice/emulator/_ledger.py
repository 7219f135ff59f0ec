"""What the emulator remembers of inline and Web App queries, invoices and payments."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from sluice.emulator._core import Emulator
from sluice.emulator._files import FileRecord
from sluice.emulator._messages import media_fields
from sluice.emulator._world import Chat, User, World

__all__ = [
    "Checkout",
    "InlineQueryState",
    "InlineResult",
    "InvoiceState",
    "Ledger",
    "WebAppQuery",
    "ledger",
]

QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


@dataclass(slots=True)
class InvoiceFacts:
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    start_parameter: str = ""
    subscription_period: int | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass(slots=True)
class InvoiceState:
    """An invoice a user may pay: in a message, or behind a link."""

    bot_id: int
    facts: InvoiceFacts
    paid_by: set[int] = field(default_factory=set)


@dataclass(slots=True)
class InlineResult:
    api: dict[str, Any]  # as the bot answered it
    body: dict[str, Any] | None  # what choosing it sends; None: a URL the emulator can't fetch
    file: FileRecord | None = None
    markup: dict[str, Any] | None = None
    invoice: InvoiceFacts | None = None


@dataclass(slots=True)
class InlineQueryState:
    id: str
    bot_id: int
    user: User
    query: str
    sent_at: float
    answer: dict[str, Any] | None = None
    results: dict[str, InlineResult] = field(default_factory=dict)


@dataclass(slots=True)
class WebAppQuery:
    id: str
    bot_id: int
    user: User
    answered: bool = False


@dataclass(slots=True)
class Checkout:
    """A pre-checkout query and what became of it: pending, paid, refused or timeout."""

    id: str
    bot_id: int
    user: User
    chat: Chat | User
    invoice: InvoiceState
    deadline: float
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    status: str = "pending"
    error_message: str | None = None
    charge_id: str | None = None
    message: dict[str, Any] | None = None

    def pending(self, now: float) -> bool:
        if self.status == "pending" and now >= self.deadline:
            self.status = "timeout"
            self.settled.set()
        return self.status == "pending"

    def to_json(self, now: float) -> dict[str, Any]:
        self.pending(now)
        out: dict[str, Any] = {"pre_checkout_query_id": self.id, "status": self.status}
        if self.error_message is not None:
            out["error_message"] = self.error_message
        if self.charge_id is not None:
            out["telegram_payment_charge_id"] = self.charge_id
            out["message"] = self.message
        return out


@dataclass(slots=True)
class Charge:
    id: str
    bot_id: int
    user_id: int
    facts: InvoiceFacts
    provider_id: str
    refunded: bool = False


@dataclass(slots=True)
class Ledger:
    inline_queries: dict[str, InlineQueryState] = field(default_factory=dict)
    web_app_queries: dict[str, WebAppQuery] = field(default_factory=dict)
    invoices: dict[tuple[int, int, int], InvoiceState] = field(default_factory=dict)
    links: dict[str, InvoiceState] = field(default_factory=dict)
    checkouts: dict[str, Checkout] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)


# Beside the world rather than in it: a reset makes a new World, and so a new ledger.
_LEDGERS: weakref.WeakKeyDictionary[World, Ledger] = weakref.WeakKeyDictionary()


def ledger(emu: Emulator) -> Ledger:
    """The queries, invoices and payments of the emulator's current world."""
    found = _LEDGERS.get(emu.world)
    if found is None:
        found = _LEDGERS[emu.world] = Ledger()
    return found


def user_message(
    emu: Emulator,
    bot_id: int,
    user: User,
    chat: Chat | User,
    body: dict[str, Any],
    file: FileRecord | None = None,
) -> dict[str, Any]:
    """A message of the user's that a bot method made (sent via the bot, a payment, a
    refund): stored in the chat and delivered to ``bot_id`` alone."""
    world = emu.world
    message = {"from": user.to_api()} | body
    if isinstance(chat, User):
        stored = world.store_message(chat, bot_id, user.id, message, file)
        emu.flood.user_wrote(bot_id, user.id)
    else:
        if chat.type == "channel":
            message = {"sender_chat": chat.to_api()} | body
        stored = world.store_message(chat, 0, user.id, message, file)
    kind = "channel_post" if isinstance(chat, Chat) and chat.type == "channel" else "message"
    api = stored.api
    if file is not None:
        api = api | media_fields(emu, world.bots[bot_id], file)
    emu.hub.push(bot_id, kind, api)
    return stored.api
