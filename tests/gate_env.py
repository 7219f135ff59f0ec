"""Where the gate's behaviour suite runs: on a memory limiter or a Redis one.

``memory``: the gate on a :class:`MemoryLimiter`, on virtual time (``vclock``):
timings are exact and take no real time. ``redis``: the gate on a
:class:`RedisLimiter` (a fresh namespace per test), on real time, since Redis
counts on its own clock; every limit and every delay of the fake Telegram runs
``speedup`` times faster, and timings are checked with ``slack`` for round
trips to Redis and a busy machine. A test speaks in the model's seconds:
``env.limits(...)``, ``env.telegram(...)`` and ``env.seconds(...)`` convert.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis.asyncio as aioredis

import vclock
from fake_telegram import FakeTelegram
from sluice.accounts import Account
from sluice.emulator import Limits
from sluice.gate import Gate
from sluice.limits import Limiter, MemoryLimiter, RedisLimiter, TelegramLimits

T = TypeVar("T")


REAL_RATE = 300.0  # sends a second a bot may make on real time (the redis env)


@dataclass
class Env:
    name: str
    speedup: float = 1.0
    slack: float = 0.0  # relative tolerance of timings
    redis_url: str | None = None
    _limiters: list[RedisLimiter] = field(default_factory=list)

    def at(self, speed: float, rate: float = 30.0) -> Env:
        """This env for a test whose model runs at ``speed``, sending ``rate`` a second
        at most (a bot's 30 by default): on real time, as much faster as keeps that
        at :data:`REAL_RATE` sends a second (100 times at most)."""
        if self.virtual:
            return self
        self.speedup = min(100.0, max(1.0, REAL_RATE / (rate * speed)))
        return self

    def size(self, count: int, shrink: int = 10) -> int:
        """A workload's size: whole on virtual time, ``shrink`` times smaller on real time."""
        return count if self.virtual else max(1, count // shrink)

    @property
    def virtual(self) -> bool:
        return self.name == "memory"

    def clock(self) -> float:
        return vclock.now() if self.virtual else time.monotonic()

    def limits(self, speed: float = 1.0, **figures: Any) -> TelegramLimits:
        return TelegramLimits(speed=speed * self.speedup, **figures)

    def limiter(self, limits: TelegramLimits) -> Limiter:
        if self.virtual:
            return MemoryLimiter(limits, clock=vclock.now)
        assert self.redis_url is not None
        namespace = f"t{uuid.uuid4().hex[:10]}"
        limiter = RedisLimiter(aioredis.Redis.from_url(self.redis_url), limits, namespace=namespace)
        self._limiters.append(limiter)
        return limiter

    def gate(
        self,
        accounts: Iterable[int],
        *,
        speed: float = 1.0,
        limits: TelegramLimits | None = None,
        share: Gate | None = None,
        **options: Any,
    ) -> Gate:
        """A gate on this env's limiter (``limits`` in the model's terms, sped up here);
        with ``share``, another process's gate on the same limits as that one."""
        if share is not None:
            limiter = share.limiter
            if isinstance(limiter, RedisLimiter):
                assert self.redis_url is not None
                limiter = RedisLimiter(
                    aioredis.Redis.from_url(self.redis_url),
                    limiter.limits,
                    namespace=limiter.namespace,
                )
                self._limiters.append(limiter)
        else:
            limiter = self.limiter(limits or self.limits(speed))
        return Gate([Account(a) for a in accounts], limiter=limiter, clock=self.clock, **options)

    def telegram(self, limits: Limits | None = None, **options: Any) -> FakeTelegram:
        """A fake Telegram with the emulator's model, on the model's time (its limits,
        network and retry_after run ``speedup`` times faster than the loop)."""
        return FakeTelegram(limits or Limits(), scale=self.speedup, **options)

    def seconds(self, model: float) -> float:
        """A duration of the model, as this env runs it."""
        return model / self.speedup

    def model(self, seconds: float) -> float:
        """A measured duration, in the model's seconds."""
        return seconds * self.speedup

    def bound(self, seconds: float) -> float:
        """An upper bound of the model's seconds, with this env's slack for real time."""
        return seconds * (1 + self.slack) + (0.0 if self.virtual else 0.05)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.virtual:
            return vclock.run(coro)
        return asyncio.run(self._closing(coro))

    async def _closing(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return await coro
        finally:
            for limiter in self._limiters:
                await limiter.drop()
            for limiter in self._limiters:
                await limiter.aclose()
            self._limiters.clear()
