"""The emulator's core: one object holding the simulated Telegram and its rules.

``Emulator.call(token, method, params)`` performs one Bot API call and returns
its result or raises ``ApiError``; the HTTP layer only translates.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile

from sluice.emulator._config import EmulatorConfig, Faults
from sluice.emulator._errors import ApiError, too_many_requests
from sluice.emulator._faults import FaultInjector
from sluice.emulator._files import FileStore
from sluice.emulator._limits import FloodModel
from sluice.emulator._params import Params
from sluice.emulator._stt import SttService
from sluice.emulator._updates import UpdateHub
from sluice.emulator._world import Bot, Chat, User, World

if TYPE_CHECKING:
    from sluice.emulator.mtproto import MtprotoWorld

__all__ = ["DropConnection", "Emulator", "Handler", "is_send_like", "method"]

Handler = Callable[["Emulator", Bot, Params], Awaitable[Any]]
_HANDLERS: dict[str, tuple[str, Handler]] = {}
_FORWARD_LIKE = frozenset({"copymessage", "copymessages", "forwardmessage", "forwardmessages"})


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a Bot API method handler (names are case-insensitive, as on Telegram)."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[name.lower()] = (name, handler)
        return handler

    return register


def is_send_like(method_name: str) -> bool:
    """Every send*, copyMessage, forwardMessage and edit* call counts against the limits."""
    lowered = method_name.lower()
    return lowered.startswith(("send", "edit")) or lowered in _FORWARD_LIKE


class DropConnection(Exception):
    """The HTTP layer must drop the connection without an answer."""


@dataclass(slots=True)
class BotStats:
    calls: Counter[str] = field(default_factory=Counter)
    sends_accepted: int = 0
    r429_limit: int = 0
    r429_injected: int = 0
    faults: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(sorted(self.calls.items())),
            "sends_accepted": self.sends_accepted,
            "r429": {
                "limit": self.r429_limit,
                "injected": self.r429_injected,
                "total": self.r429_limit + self.r429_injected,
            },
            "faults": dict(sorted(self.faults.items())),
        }


class Emulator:
    """A simulated Telegram Bot API: state, limits, faults and statistics.

    Parameters:
        config: limits, faults and options; Telegram's published defaults if omitted.
        clock: monotonic seconds; inject one to drive the flood model in tests.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Importing the handler modules registers every method.
        from sluice.emulator import (  # noqa: F401
            _admin,
            _chatops,
            _content,
            _inline,
            _messages,
            _methods,
            _payments,
            _polls,
            _profile,
        )

        self.config = config or EmulatorConfig()
        self.clock = clock
        self._secret = secrets.token_bytes(32)
        # One for the emulator's life: a reset must not pull the spool folder
        # from under a transcription still being decoded.
        self.stt = SttService(self.config.stt, self.config.seed)
        self._stopping = asyncio.Event()
        # The MTProto side's keys and sign-ins; None when switched off (or Telethon is
        # missing: it carries the TL schema the MTProto side speaks).
        self.mtproto: MtprotoWorld | None = None
        if self.config.mtproto.enabled:
            from sluice.emulator.mtproto import mtproto_world

            self.mtproto = mtproto_world(self.config.data_dir)
            self.mtproto.bot_logins_rate = (
                self.config.mtproto.bot_logins.count,
                self.config.mtproto.bot_logins.per,
            )
        self._setup()

    def _setup(self) -> None:
        cfg = self.config
        self.world = World(cfg.bots)
        for token in cfg.bots or ():
            self.world.bot_for_token(token)
        self.files = FileStore.temporary(self._secret, cfg.local, cfg.data_dir)
        self.hub = UpdateHub(self._webhook_reply)
        self.flood = FloodModel(cfg.limits, self.clock)
        self.faults = FaultInjector(cfg.faults, cfg.seed)
        self.stats: dict[int, BotStats] = {}

    async def reset(self) -> None:
        """Forget every user, chat, message, file and statistic; keep the configuration.

        The speech-to-text providers' statistics and faults are reset too.
        """
        await self.hub.close()
        self.files.close()
        self._setup()
        self.stt.reset()
        if self.mtproto is not None:
            self.mtproto.forget_accounts()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop_waiting` was called: the server is shutting down."""
        return self._stopping.is_set()

    def stop_waiting(self) -> None:
        """Answer now whatever is waiting: long polls, and calls held by injected latency."""
        self._stopping.set()
        self.hub.stop_waiting()

    async def close(self) -> None:
        await self.hub.close()
        self.files.close()
        self.stt.close()

    def set_faults(self, faults: Faults) -> None:
        self.faults.faults = faults

    def bot_stats(self, bot_id: int) -> BotStats:
        stats = self.stats.get(bot_id)
        if stats is None:
            stats = self.stats[bot_id] = BotStats()
        return stats

    async def call(self, token: str, method_name: str, params: Params) -> Any:
        bot = self.world.bot_for_token(token)
        entry = _HANDLERS.get(method_name.lower())
        if entry is None:
            raise ApiError(404, "Not Found")
        canonical, handler = entry
        stats = self.bot_stats(bot.id)
        stats.calls[canonical] += 1
        if canonical != "getUpdates" and self.faults.faults.active:
            delay = self.faults.latency()
            if delay:
                # Cut short when the server stops: the call is answered, not abandoned.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
            fault = self.faults.transport_fault()
            if fault is not None:
                stats.faults[fault] += 1
                if fault == "drop":
                    raise DropConnection
                raise ApiError(
                    int(fault), "Internal Server Error" if fault == "500" else "Bad Gateway"
                )
        return await handler(self, bot, params)

    def admit(self, bot: Bot, chat: Chat | User, *, paid: bool = False, n: int = 1) -> None:
        """Count one send-like call into ``chat`` (``n`` messages), or refuse it with 429."""
        stats = self.bot_stats(bot.id)
        private = isinstance(chat, User)
        # Drawn for every call, so the same calls draw the same faults whatever the timing;
        # it applies only to a call the limits would otherwise perform.
        injected = self.faults.spurious_retry_after()
        verdict = self.flood.admit(bot.id, chat.id, private, paid=paid, inject=injected, n=n)
        if verdict.retry_after is not None:
            if verdict.scope == "injected":
                stats.r429_injected += 1
            else:
                stats.r429_limit += 1
            raise too_many_requests(verdict.retry_after)
        stats.sends_accepted += n

    async def _webhook_reply(self, bot_id: int, payload: dict[str, Any]) -> None:
        bot = self.world.bots.get(bot_id)
        entry = _HANDLERS.get(str(payload.get("method", "")).lower())
        if bot is None or entry is None:
            return
        values = {k: v for k, v in payload.items() if k != "method"}
        files = {k: values.pop(k) for k, v in list(values.items()) if isinstance(v, UploadFile)}
        self.bot_stats(bot_id).calls[entry[0]] += 1
        # Telegram drops the result of a method called in a webhook reply.
        with contextlib.suppress(ApiError):
            await entry[1](self, bot, Params(values, files))
