"""Broadcasts and status messages for aiogram 3 bots whose session carries
:class:`~sluice.integrations.aiogram.GateMiddleware`."""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiogram  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.broadcasts.aiogram", "aiogram", error) from None

from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any

from aiogram import Bot
from aiogram import methods as aiogram_methods
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod

from sluice._exceptions import ConfigError
from sluice.broadcasts._loop import BroadcastProgress, BroadcastReport, broadcast
from sluice.broadcasts._status import StatusMessage
from sluice.gate import Priority
from sluice.integrations.aiogram import classify_aiogram

__all__ = ["aiogram_sender", "broadcast_messages", "status_message"]


async def broadcast_messages(
    bot: Bot,
    chat_ids: Iterable[Hashable],
    message: str | Callable[[Any], TelegramMethod[Any]],
    *,
    progress: Callable[[BroadcastProgress], Any] | None = None,
    priority: Priority = Priority.BULK,
    flow: Hashable = None,
) -> BroadcastReport:
    """Send ``message`` (a text, or a factory of a method per chat) to every chat.

    The bot's session must carry ``GateMiddleware``. Returns a report with every
    recipient's outcome: delivered, blocked the bot, chat not found, ...
    """

    def method_for(chat_id: Any) -> TelegramMethod[Any]:
        if isinstance(message, str):
            return SendMessage(chat_id=chat_id, text=message)
        return message(chat_id)

    async def send(chat_id: Any) -> Any:
        return await bot(method_for(chat_id))

    return await broadcast(
        send, chat_ids, classify=classify_aiogram, progress=progress, priority=priority, flow=flow
    )


def aiogram_sender(bots: Mapping[int, Bot]) -> Callable[[int, dict[str, Any], int], Awaitable[Any]]:
    """A sender for :class:`~sluice.broadcasts.DurableBroadcasts`: ``message`` names a Bot
    API method and its parameters (``{"method": "sendMessage", "text": "..."}``; the
    method defaults to sendMessage), sent to each chat by the bot with that id."""

    async def send(bot_id: int, message: dict[str, Any], chat_id: int) -> Any:
        params = dict(message)
        name = str(params.pop("method", "sendMessage"))
        found = getattr(aiogram_methods, name[:1].upper() + name[1:], None)
        if not (isinstance(found, type) and issubclass(found, TelegramMethod)):
            raise ConfigError(f"{name!r} is not a Bot API method aiogram knows")
        build: Callable[..., TelegramMethod[Any]] = found
        return await bots[bot_id](build(chat_id=chat_id, **params))

    return send


def status_message(
    bot: Bot, chat_id: int | str, message_id: int, *, initial: str = "", **edit: Any
) -> StatusMessage:
    """A :class:`~sluice.broadcasts.StatusMessage` editing one message's text with ``bot``.

    Extra keyword arguments (``parse_mode``, ``reply_markup``, ...) go to every edit.
    """

    async def apply(text: str) -> None:
        try:
            await bot(EditMessageText(chat_id=chat_id, message_id=message_id, text=text, **edit))
        except TelegramBadRequest as exc:
            # The text already shows (a retried edit landed, or the user saw it): done.
            if "message is not modified" not in exc.message:
                raise

    return StatusMessage(apply, initial=initial)
