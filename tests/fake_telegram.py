"""An in-memory Telegram for gate tests: the emulator's own flood model on virtual time.

Each request travels ``up`` seconds, is admitted or refused by
:class:`sluice.emulator._limits.FloodModel` at that moment (as Telegram counts
a request when it arrives), and its answer travels ``down`` seconds back.
Everything Telegram accepted is logged with its arrival time, so tests can
check order, pacing and that nothing entered a blocked scope.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sluice.accounts import Account
from sluice.emulator import Limits
from sluice.emulator._limits import FloodModel
from sluice.gate import Fatal, Flood, Kind, Transient, Unauthorized, Verdict


class RetryAfter(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too Many Requests: retry after {retry_after:g}")
        self.retry_after = retry_after


class ServerError(Exception):
    pass


class Forbidden(Exception):
    pass


class BadToken(Exception):
    pass


def classify(exc: BaseException) -> Verdict:
    if isinstance(exc, RetryAfter):
        return Flood(exc.retry_after)
    if isinstance(exc, ServerError):
        return Transient()
    if isinstance(exc, Forbidden):
        return Fatal(Kind.BLOCKED)
    if isinstance(exc, BadToken):
        return Unauthorized()
    return Fatal()


@dataclass
class Accepted:
    bot: int
    chat: int
    payload: object
    at: float  # arrival time, when Telegram counted it


Latency = Callable[[], float]


def fixed(seconds: float) -> Latency:
    return lambda: seconds


@dataclass
class FakeTelegram:
    """Telegram's limits, a network with latency, and a log of what got through."""

    limits: Limits = field(default_factory=Limits)
    up: Latency = field(default_factory=lambda: fixed(0.002))
    down: Latency = field(default_factory=lambda: fixed(0.002))
    p429: float = 0.0  # spurious 429s (retry_after 1..3), on calls the limits would admit
    p5xx: float = 0.0
    seed: int = 0
    blocked_by: set[tuple[int, int]] = field(default_factory=set)  # (bot, chat) pairs
    revoked: set[int] = field(default_factory=set)  # bots whose token is refused
    # Telegram's time runs this many times faster than the loop's: a test on real time
    # sees the model's limits, latencies and retry_after shrunk by it (arrival times
    # stay in the model's seconds).
    scale: float = 1.0

    def __post_init__(self) -> None:
        self.flood = FloodModel(self.limits, clock=self.now)
        self.rng = random.Random(self.seed)
        self.accepted: list[Accepted] = []
        self.by_chat: dict[int, list[object]] = defaultdict(list)
        self.r429 = 0
        self.r429_injected = 0
        self.refused_at: list[tuple[int, int, float]] = []  # (bot, chat, when)
        self.calls = 0

    def now(self) -> float:
        """Telegram's clock, in the model's seconds."""
        return asyncio.get_running_loop().time() * self.scale

    async def send(self, bot: int, chat: int, payload: object) -> object:
        self.calls += 1
        await asyncio.sleep(self.up() / self.scale)
        try:
            return self._arrive(bot, chat, payload)
        finally:
            await asyncio.sleep(self.down() / self.scale)

    def _arrive(self, bot: int, chat: int, payload: object) -> object:
        now = self.now()
        if bot in self.revoked:
            raise BadToken("Unauthorized")
        if self.p5xx and self.rng.random() < self.p5xx:
            raise ServerError("Internal Server Error")
        if (bot, chat) in self.blocked_by:
            raise Forbidden("Forbidden: bot was blocked by the user")
        inject = None
        if self.p429 and self.rng.random() < self.p429:
            inject = self.rng.randint(1, 3)
        verdict = self.flood.admit(bot, chat, chat > 0, inject=inject)
        if verdict.retry_after is not None:
            self.r429 += 1
            if verdict.scope == "injected":
                self.r429_injected += 1
            self.refused_at.append((bot, chat, now))
            raise RetryAfter(verdict.retry_after / self.scale)
        self.accepted.append(Accepted(bot, chat, payload, now))
        self.by_chat[chat].append(payload)
        return payload

    def sender(self, chat: int, payload: object) -> Callable[[Account], Awaitable[object]]:
        """A gate call factory sending ``payload`` to ``chat`` as whichever account is chosen."""
        return lambda account: self.send(account.id, chat, payload)
