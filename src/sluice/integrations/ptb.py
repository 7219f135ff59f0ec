"""sluice for python-telegram-bot 22, one line in the builder::

    ApplicationBuilder().token(TOKEN).rate_limiter(GateRateLimiter.for_token(gate, TOKEN))

Every send-like request of that bot goes through the gate; ``getUpdates``,
``getMe`` and other methods pass straight through. One gate may serve many
bots: give each its own limiter, built for its token or its bot id. Pass
``rate_limit_args={"priority": Priority.INTERACTIVE}`` to a method (or send
inside :func:`~sluice.gate.sending_as`) so that a reply goes before broadcasts.

Errors reach your code as python-telegram-bot raised them (``Forbidden``,
``BadRequest``, ...); what the gate gives up on raises sluice's own errors
(``DeadlineExceeded``, ``RetriesExhausted``, ...).
"""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import telegram  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("sluice.integrations.ptb", "ptb", error) from None

import datetime as dtm
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypedDict

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import BaseRateLimiter

from sluice.accounts import Account, BotToken
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
)

__all__ = ["GateRateLimiter", "RateLimitArgs", "classify_ptb"]

_Result = bool | dict[str, Any] | list[dict[str, Any]]


class RateLimitArgs(TypedDict, total=False):
    """What ``rate_limit_args=`` may set for one request; each key overrides the task's context."""

    priority: Priority
    flow: Hashable
    timeout: float | None


def classify_ptb(exc: BaseException) -> Verdict:
    """What a python-telegram-bot exception means to the gate."""
    if isinstance(exc, RetryAfter):
        return Flood(_retry_after_seconds(exc))
    if isinstance(exc, InvalidToken):
        return Unauthorized()
    if isinstance(exc, Forbidden):
        blocked = "blocked by the user" in exc.message.lower()
        return Fatal(Kind.BLOCKED if blocked else Kind.FORBIDDEN)
    if isinstance(exc, ChatMigrated):
        return Fatal(Kind.BAD_REQUEST)
    # BadRequest subclasses NetworkError, so it is told apart first. PTB strips
    # "Bad Request: " and capitalises the rest: "Chat not found".
    if isinstance(exc, BadRequest):
        not_found = "chat not found" in exc.message.lower()
        return Fatal(Kind.CHAT_NOT_FOUND if not_found else Kind.BAD_REQUEST)
    if isinstance(exc, NetworkError):
        # PTB raises a bare NetworkError for 5xx and for 413 alike; only the text tells.
        if "request entity too large" in exc.message.lower():
            return Fatal(Kind.BAD_REQUEST)
        return Transient()  # TimedOut, connection errors, 5xx
    return Fatal()


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB >= 22.2 keeps a timedelta in _retry_after; the public retry_after is an
    # int or a timedelta depending on PTB_TIMEDELTA, and warns when it is an int.
    value: object = getattr(exc, "_retry_after", None)
    if value is None:
        value = exc.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    assert isinstance(value, int | float)
    return float(value)


class GateRateLimiter(BaseRateLimiter[RateLimitArgs]):
    """A python-telegram-bot rate limiter that sends through a :class:`~sluice.gate.Gate`.

    Parameters:
        gate: the gate (it may be shared by many bots, each with its own limiter).
        bot_id: the id of the bot this limiter's ``Application`` runs (the digits
            before ``:`` in its token); see :meth:`for_token`.
        timeout: default deadline in seconds for each call, waits and retries included.

    429s are retried by the gate at the head of their chat's lane, so they
    never reach your code; 400 and 403 are raised at once, as PTB raised them.
    """

    __slots__ = ("bot_id", "gate", "timeout")

    def __init__(self, gate: Gate, bot_id: int, *, timeout: float | None = None) -> None:
        self.gate = gate
        self.bot_id = bot_id
        self.timeout = timeout

    @classmethod
    def for_token(
        cls, gate: Gate, token: str | BotToken, *, timeout: float | None = None
    ) -> GateRateLimiter:
        """A limiter for the bot ``token`` belongs to; only its id is kept, never the token."""
        if not isinstance(token, BotToken):
            token = BotToken(token, source="the token given to GateRateLimiter.for_token")
        return cls(gate, token.bot_id, timeout=timeout)

    def __repr__(self) -> str:
        return f"GateRateLimiter(bot:{self.bot_id})"

    async def initialize(self) -> None:
        self._ensure_account()

    async def shutdown(self) -> None:
        """Nothing to free: the gate outlives one Application and may serve other bots."""

    def _ensure_account(self) -> None:
        if not self.gate.has_account(self.bot_id):
            self.gate.add_account(Account(self.bot_id, "bot"))

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, _Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RateLimitArgs | None,
    ) -> _Result:
        if not is_send_like(endpoint):
            return await callback(*args, **kwargs)
        self._ensure_account()  # also when used without Application.initialize()
        overrides: RateLimitArgs = rate_limit_args or {}

        async def send(account: Account) -> _Result:
            return await callback(*args, **kwargs)

        return await self.gate.call(
            send,
            account=self.bot_id,
            chat_id=chat_key(data.get("chat_id")),
            method=endpoint,
            priority=overrides.get("priority", current_priority()),
            flow=overrides.get("flow", current_flow()),
            timeout=overrides.get("timeout", self.timeout),
            paid=bool(data.get("allow_paid_broadcast", False)),
            classifier=classify_ptb,
        )
