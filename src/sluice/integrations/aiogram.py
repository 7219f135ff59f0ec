"""sluice for aiogram 3: one line, ``bot.session.middleware(GateMiddleware(gate))``.

Every send-like call of every Bot using that session goes through the gate;
``getUpdates`` and other methods pass straight through. One gate may serve
many Bot objects (each bot is an account, registered on first use). Add
:class:`InteractiveMiddleware` to a dispatcher so that replies made while
handling an update go before broadcasts.

Errors reach your code as aiogram raised them (``TelegramForbiddenError``,
``TelegramBadRequest``, ...), with any bot token scrubbed from their text;
what the gate gives up on raises sluice's own errors (``DeadlineExceeded``,
``RetriesExhausted``, ...).
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiogram  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.integrations.aiogram", "aiogram", error) from None

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.dispatcher.middlewares.base import BaseMiddleware
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, User

from sluice._exceptions import ConfigError
from sluice._redact import redact_exception
from sluice.accounts import Account
from sluice.gate import (
    Fatal,
    Flood,
    Gate,
    Kind,
    Priority,
    Transient,
    Unauthorized,
    Verdict,
    chat_key,
    current_flow,
    current_priority,
    is_send_like,
    sending_as,
)

if TYPE_CHECKING:
    from aiogram import Bot

__all__ = [
    "GateMiddleware",
    "InteractiveMiddleware",
    "classify_aiogram",
    "wait_until_reachable",
]

log = logging.getLogger("sluice.integrations.aiogram")


def classify_aiogram(exc: BaseException) -> Verdict:
    """What an aiogram exception means to the gate."""
    if isinstance(exc, TelegramRetryAfter):
        return Flood(float(exc.retry_after))
    if isinstance(exc, TelegramUnauthorizedError):
        return Unauthorized()
    if isinstance(exc, TelegramForbiddenError):
        blocked = "blocked by the user" in exc.message
        return Fatal(Kind.BLOCKED if blocked else Kind.FORBIDDEN)
    if isinstance(exc, TelegramMigrateToChat | TelegramEntityTooLarge):
        return Fatal(Kind.BAD_REQUEST)
    if isinstance(exc, TelegramBadRequest):
        not_found = "chat not found" in exc.message
        return Fatal(Kind.CHAT_NOT_FOUND if not_found else Kind.BAD_REQUEST)
    if isinstance(exc, TelegramServerError | TelegramNetworkError | TimeoutError):
        return Transient()
    return Fatal()


class GateMiddleware(BaseRequestMiddleware):
    """An aiogram request middleware that sends through a :class:`~sluice.gate.Gate`.

    Parameters:
        gate: the gate (shared by every bot whose session uses this middleware).
        timeout: default deadline in seconds for each call, waits and retries included.
    """

    def __init__(self, gate: Gate, *, timeout: float | None = None) -> None:
        self.gate = gate
        self.timeout = timeout

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        try:
            if not is_send_like(name):
                return await make_request(bot, method)
            if not self.gate.has_account(bot.id):
                self.gate.add_account(Account(bot.id, "bot"))

            async def send(account: Account) -> Response[TelegramType]:
                return await make_request(bot, method)

            return await self.gate.call(
                send,
                account=bot.id,
                chat_id=chat_key(getattr(method, "chat_id", None)),
                method=name,
                priority=current_priority(),
                flow=current_flow(),
                timeout=self.timeout,
                paid=bool(getattr(method, "allow_paid_broadcast", False)),
                classifier=classify_aiogram,
            )
        except Exception as exc:
            # aiohttp's errors carry the request URL, and the URL carries the token.
            redact_exception(exc)
            raise


class InteractiveMiddleware(BaseMiddleware):
    """Dispatcher middleware: calls made while handling an update are interactive.

    ``dp.update.outer_middleware(InteractiveMiddleware())``
    """

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        with sending_as(Priority.INTERACTIVE):
            return await handler(event, data)


async def wait_until_reachable(
    bot: Bot, *, first_delay: float = 1.0, max_delay: float = 60.0, token_source: str = ""
) -> User:
    """``getMe``, asked again with backoff while Telegram cannot be reached; the bot's user.

    A bot starting while the network or a local Bot API server is down waits
    for it, saying so in the log, instead of dying. A refused token is not
    worth waiting for: :class:`~sluice.ConfigError` names ``token_source``, the
    variable it was read from.
    """
    delay = first_delay
    where = urllib.parse.urlsplit(bot.session.api.base).netloc or "Telegram"
    while True:
        try:
            return await bot.get_me()
        except TelegramUnauthorizedError:
            named = token_source or "the bot token"
            message = f"Telegram ({where}) refused {named}: check it with @BotFather"
            raise ConfigError(message) from None
        except (TelegramNetworkError, TelegramServerError, TimeoutError) as exc:
            redact_exception(exc)
            log.warning(
                "Telegram is unreachable at %s (%s); trying again in %.0f s",
                where,
                type(exc).__name__,
                delay,
            )
        await asyncio.sleep(delay)
        delay = min(max_delay, delay * 2)
