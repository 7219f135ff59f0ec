"""Telegram's limits shared through Redis: several processes, one bot's budget.

Written by hand because no Redis rate limiter counts a send at its *answer*:
libraries (redis-cell, limits, aiolimiter-style buckets) admit at request
time, and a send that reaches Telegram later than its admission (a slow
network, a busy event loop) then lands in the next window next to sends
admitted after it, and earns a 429. Here, as in the in-process gate, every
limit is a sliding window of entries:

* ``acquire`` (one Lua script, on Redis's own clock, ``TIME``) admits a send
  when each of its scopes (the bot; the chat) has fewer than its count of
  entries younger than its window, and adds an entry to each that counts as
  *in flight*: it stays in the window until confirmed;
* ``confirm`` (one script) stamps the entries with the time Redis hears of
  the answer, which is after Telegram counted the send; the entry then
  leaves the window one window after that.

So Telegram never sees more than the count in any of its windows, however
late a send reaches it. A private chat's token bucket (burst ``b``, ``r``
per second) is kept as a window of ``b`` per ``b / r`` seconds: the same
long-run rate and burst, and never more than the bucket allows.

An entry stays in flight as long as its process lives, however long the
request takes (a starved process was seen to hold granted sends for over
10 s, and an entry that left the window early let one send too many
through). Each process keeps a heartbeat key alive; a full window releases
the in-flight entries of processes whose heartbeat has lapsed (they died
before their answers), so a crash blocks its slots for a few seconds only.

A full window answers how long to wait: until its oldest confirmed entry
leaves it, or a tenth of a window when in-flight entries fill it (their
answers are due; asking again is cheap, as requests are grouped). Floods are shared as
keys that expire with Telegram's ``retry_after``; a flood on a chat closes
that chat, an account-wide one the bot.

Round trips: requests from one process's tasks are grouped while a script
call is on its way (group commit, no added delay), so a busy process pays
far less than two round trips per message: one ``acquire`` for many sends,
one ``confirm`` for many answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sluice._coalesce import Coalescer
from sluice.limits._config import TelegramLimits

__all__ = ["RedisLimiter", "Ticket"]

log = logging.getLogger("sluice.limits")

# KEYS: none (built from the prefix). ARGV: prefix, in_flight_ttl_ms, then per request
# 8 values: member, bot_key, bot_count, bot_window_ms, chat_key ('' = none), chat_count,
# chat_window_ms, flood keys are derived. Returns per request: 0 (granted) or wait in ms.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local ttl = tonumber(ARGV[2])
local out = {}
local function release_dead(key)
  -- In-flight entries of a process whose heartbeat lapsed: it died before the answer.
  local flying = redis.call('ZRANGEBYSCORE', key, '(' .. (now + 1), '+inf')
  for _, member in ipairs(flying) do
    local owner = string.match(member, '^(.*):[^:]*$')
    if redis.call('EXISTS', prefix .. 'alive:' .. owner) == 0 then
      redis.call('ZREM', key, member)
    end
  end
end
local function wait_for(key, count, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= count then
    release_dead(key)
    n = redis.call('ZCARD', key)
  end
  if n < count then return 0 end
  -- the entry whose departure makes room: the (n - count + 1)-th oldest
  local e = redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')
  local score = tonumber(e[2])
  if score > now + 1 then return math.max(1, math.floor(window / 10)) end  -- in flight
  return math.max(1, score + window - now)
end
local function flood_wait(key)
  local left = redis.call('PTTL', key)
  if left and left > 0 then return left end
  return 0
end
local i = 3
while i <= #ARGV do
  local member, bot = ARGV[i], ARGV[i + 1]
  local bot_count, bot_window = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local chat, chat_count, chat_window = ARGV[i + 4], tonumber(ARGV[i + 5]), tonumber(ARGV[i + 6])
  local bot_key = prefix .. 'w:' .. bot
  local wait = flood_wait(prefix .. 'flood:' .. bot)
  if chat ~= '' then
    wait = math.max(wait, flood_wait(prefix .. 'flood:' .. bot .. ':' .. chat))
  end
  if wait == 0 then wait = wait_for(bot_key, bot_count, bot_window) end
  local chat_key = prefix .. 'w:' .. bot .. ':' .. chat
  if wait == 0 and chat ~= '' then wait = wait_for(chat_key, chat_count, chat_window) end
  if wait == 0 then
    redis.call('ZADD', bot_key, now + ttl, member)
    redis.call('PEXPIRE', bot_key, bot_window + ttl)
    if chat ~= '' then
      redis.call('ZADD', chat_key, now + ttl, member)
      redis.call('PEXPIRE', chat_key, chat_window + ttl)
    end
  end
  out[#out + 1] = wait
  i = i + 7
end
return out
"""

# ARGV: prefix, then per entry: member, bot, chat ('' = none), bot_window_ms, chat_window_ms.
_CONFIRM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
local i = 2
while i <= #ARGV do
  local member, bot, chat = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('ZADD', prefix .. 'w:' .. bot, 'XX', now + 1, member)
  if chat ~= '' then
    redis.call('ZADD', prefix .. 'w:' .. bot .. ':' .. chat, 'XX', now + 1, member)
  end
  i = i + 5
end
return now
"""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A granted send, to :meth:`RedisLimiter.confirm` when its answer arrives."""

    member: str
    bot: str
    chat: str
    bot_window_ms: int
    chat_window_ms: int


class _Heartbeat(threading.Thread):
    """Keeps ``key`` alive from a thread of its own: a process whose event loop is
    starved for seconds still lives, and its sends in flight must keep counting."""

    def __init__(self, where: dict[str, Any], key: str, lifetime: float) -> None:
        super().__init__(name="sluice-limiter-heartbeat", daemon=True)
        import redis

        if "path" in where:  # a unix socket
            where = {**where, "unix_socket_path": where.pop("path")}
        self.client = redis.Redis(**where, socket_timeout=lifetime / 3)
        self.key = key
        self.lifetime = lifetime
        self.stopping = threading.Event()

    def beat(self) -> None:
        self.client.set(self.key, "1", px=int(self.lifetime * 1000))

    def run(self) -> None:
        while not self.stopping.wait(self.lifetime / 3):
            try:
                self.beat()
            except Exception as exc:  # a hiccup: the next beat (within the lifetime) retries
                log.warning("limiter heartbeat failed: %s", type(exc).__name__)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        with contextlib.suppress(Exception):
            self.client.delete(self.key)
        self.client.close()


class RedisLimiter:
    """Telegram's limits for every process that uses the same Redis and ``namespace``.

    Parameters:
        client: a ``redis.asyncio.Redis``.
        limits: what Telegram allows (the same in every process).
        namespace: keeps several deployments apart on one server.
        in_flight_ttl: the longest an unconfirmed send of a live process counts.
        heartbeat: seconds a process's heartbeat lasts (renewed three times as often);
            a dead process's unconfirmed sends are released this long after it died.
        clock_margin: seconds added to every window. Redis's clock is not
            Telegram's: wall clocks are slewed and stepped (a few milliseconds
            against the monotonic clock were seen on a VM within seconds), and a
            window measured short by that much lets one send too many through.
    """

    def __init__(
        self,
        client: Any,
        limits: TelegramLimits | None = None,
        *,
        namespace: str = "sluice",
        in_flight_ttl: float = 300.0,
        heartbeat: float = 3.0,
        clock_margin: float = 0.005,
    ) -> None:
        self.client = client
        self.limits = limits or TelegramLimits()
        self.prefix = f"{namespace}:limits:"
        self.in_flight_ttl_ms = int(in_flight_ttl * 1000)
        self.clock_margin = clock_margin
        self.round_trips = 0
        self._ids = itertools.count()
        self._me = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._acquire_script = client.register_script(_ACQUIRE)
        self._confirm_script = client.register_script(_CONFIRM)
        self._acquires: Coalescer[list[str], int] = Coalescer(self._acquire_many)
        self._confirms: Coalescer[list[str], None] = Coalescer(self._confirm_many)
        self.heartbeat = heartbeat
        self._beating: _Heartbeat | None = None
        self._started: asyncio.Task[None] | None = None
        kwargs = client.connection_pool.connection_kwargs
        self._where = {
            name: kwargs[name]
            for name in ("host", "port", "db", "username", "password", "path")
            if name in kwargs
        }

    @classmethod
    def from_url(
        cls, url: str, limits: TelegramLimits | None = None, **options: Any
    ) -> RedisLimiter:
        import redis.asyncio as aioredis

        return cls(aioredis.Redis.from_url(url), limits, **options)

    async def aclose(self) -> None:
        if self._beating is not None:
            await asyncio.to_thread(self._beating.stop)
        await self.client.aclose()

    async def _alive(self) -> None:
        # Every acquire waits until the heartbeat key exists: an entry whose owner
        # has no heartbeat yet would be released as a dead process's.
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start_heartbeat())
        try:
            await asyncio.shield(self._started)
        except Exception:
            self._started = None  # Redis was unreachable: the next acquire tries again
            raise

    async def _start_heartbeat(self) -> None:
        key = f"{self.prefix}alive:{self._me}"
        beating = _Heartbeat(self._where, key, self.heartbeat)
        await asyncio.to_thread(beating.beat)
        beating.start()
        self._beating = beating

    def _scopes(self, chat_id: Hashable | None, paid: bool) -> tuple[int, int, int, int]:
        limits = self.limits
        if paid:
            bot_count, bot_window = limits.paid_count, limits.scaled(limits.paid_window)
        else:
            bot_count, bot_window = limits.bot_count, limits.scaled(limits.bot_window)
        if isinstance(chat_id, int) and chat_id > 0:  # a private chat: the bucket as a window
            chat_count = limits.private_burst
            chat_window = limits.scaled(limits.private_burst / limits.private_rate)
        else:  # groups, supergroups, channels, @usernames
            chat_count, chat_window = limits.group_count, limits.scaled(limits.group_window)
        margin = self.clock_margin
        return bot_count, _ms(bot_window + margin), chat_count, _ms(chat_window + margin)

    async def acquire(
        self, bot_id: int, chat_id: Hashable | None, *, paid: bool = False
    ) -> Ticket | float:
        """A :class:`Ticket` if the send may go now, else the seconds to wait first."""
        await self._alive()
        bot_count, bot_window, chat_count, chat_window = self._scopes(chat_id, paid)
        chat = "" if chat_id is None else str(chat_id)
        member = f"{self._me}:{next(self._ids)}"
        args = [member, str(bot_id), str(bot_count), str(bot_window), chat,
                str(chat_count), str(chat_window)]  # fmt: skip
        wait = await self._acquires.call(args)
        if wait > 0:
            return wait / 1000
        return Ticket(member, str(bot_id), chat, bot_window, chat_window)

    async def confirm(self, ticket: Ticket) -> None:
        """The send's answer arrived: its entries leave the windows one window from now."""
        args = [ticket.member, ticket.bot, ticket.chat, str(ticket.bot_window_ms),
                str(ticket.chat_window_ms)]  # fmt: skip
        await self._confirms.call(args)

    async def flood(self, bot_id: int, chat_id: Hashable | None, retry_after: float) -> None:
        """Telegram answered 429: close the chat (or, without one, the bot) for every process."""
        key = f"{self.prefix}flood:{bot_id}" + ("" if chat_id is None else f":{chat_id}")
        self.round_trips += 1
        await self.client.set(key, "1", px=max(1, int(retry_after * 1000)))

    async def _acquire_many(self, batch: Sequence[list[str]]) -> list[int]:
        self.round_trips += 1
        flat = [arg for request in batch for arg in request]
        result = await self._acquire_script(args=[self.prefix, str(self.in_flight_ttl_ms), *flat])
        return [int(r) for r in result]

    async def _confirm_many(self, batch: Sequence[list[str]]) -> list[None]:
        self.round_trips += 1
        await self._confirm_script(args=[self.prefix, *(arg for entry in batch for arg in entry)])
        return [None] * len(batch)

    async def drop(self) -> None:
        """Delete this namespace's keys (tests, benchmarks)."""
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            await self.client.delete(key)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
