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

A send whose window opens within ``lookahead`` (one window by default) is
admitted at once with a delay: its entry holds the slot from now, so no
process asks again for it, and the next window's sends each follow the
answer they replace. Further off, the answer is how long to wait; while
entries in flight fill a window, until a window after the first of them
that must be answered started (it cannot leave before).

What else every process must agree on lives beside the windows and changes
in the same scripts: floods as keys that expire with Telegram's
``retry_after`` (a chat's; the bot's when the 429s in a row span two chats
or more, or Telegram says the whole account), the adaptive rate of each
scope (cut on a flood, a step back after each quiet hold, applied inside
``acquire``), and each account's health counters and pause.

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
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from sluice._coalesce import Coalescer
from sluice._extras import missing_extra
from sluice.accounts import Health
from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._shared import (
    AccountPaused,
    LimiterUnavailable,
    Outcome,
    Ticket,
    is_private,
)

__all__ = ["RedisLimiter"]

log = logging.getLogger("sluice.limits")

# Keys, under the prefix: w:<scope> a window (sorted set of sends, scored by their
# answer's time, or far ahead while in flight), tat:<scope> its pacing (GCRA),
# rate:<scope> its adaptive rate (f factor, h hold, c changed, p probing),
# flood:<bot>[:<chat>] closed until it expires, streak:<bot> (+ streak:<bot>:chats)
# the 429s in a row, paused:<bot> the reason, health:<bot> counters,
# alive:<process> heartbeats. A scope is <bot>, <bot>:paid or <bot>:<chat>.
_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = ARGV[1]
"""

# ARGV: prefix, in_flight_ttl_ms, lookahead_ms, step, headroom, then per request 9
# values: member, bot scope, count, window_ms, burst, bulk (0/1), chat scope ('' =
# none), count, window_ms.
# Returns two numbers per request: 0 and the delay in ms (admitted), 1 and the wait
# in ms (ask again then), 2 and 0 (the account is paused).
_ACQUIRE = (
    _COMMON
    + """
local ttl, ahead, step = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local headroom = tonumber(ARGV[5])
local out = {}
local function allowed(count, scope)
  -- The adaptive rate, a step back up once it was quiet for its hold.
  local key = prefix .. 'rate:' .. scope
  local v = redis.call('HMGET', key, 'f', 'h', 'c')
  local f = tonumber(v[1])
  if not f then return count end
  if f < 1 and now - tonumber(v[3]) >= tonumber(v[2]) then
    f = math.min(1, f + step)
    redis.call('HSET', key, 'f', tostring(f), 'c', now, 'p', 1)
  end
  return math.max(1, math.floor(count * f + 1e-9))
end
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
local function opens(key, count, window)
  -- When the window has room for one more: now, or a confirmed entry's departure;
  -- true and the earliest it may be while an entry in flight (scored its start +
  -- ttl) must be answered first: its start + the window, a tenth of it from now at least.
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= count then
    release_dead(key)
    n = redis.call('ZCARD', key)
  end
  if n < count then return now, false end
  local e = redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')
  local score = tonumber(e[2])
  if score > now + 1 then return math.max(score - ttl + window, now + window / 10), true end
  return score + window, false
end
local i = 6
while i <= #ARGV do
  local member, bot = ARGV[i], ARGV[i + 1]
  local count, window, burst = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  local bulk = ARGV[i + 5] == '1'
  local chat, chat_count, chat_window = ARGV[i + 6], tonumber(ARGV[i + 7]), tonumber(ARGV[i + 8])
  local account = string.match(bot, '^[^:]*')
  local hot = prefix .. 'hot:' .. account
  i = i + 9
  if redis.call('EXISTS', prefix .. 'paused:' .. account) == 1 then
    out[#out + 1] = 2
    out[#out + 1] = 0
  else
    local ready = now + math.max(0, redis.call('PTTL', prefix .. 'flood:' .. account))
    local poll = nil
    local n = allowed(count, bot)
    if bulk and redis.call('EXISTS', hot) == 1 then n = math.max(1, n - headroom) end
    local interval = window / n
    local tat = tonumber(redis.call('GET', prefix .. 'tat:' .. bot) or '0')
    ready = math.max(ready, tat - (math.min(burst, n) - 1) * interval)
    local at, flying = opens(prefix .. 'w:' .. bot, n, window)
    if flying then poll = at else ready = math.max(ready, at) end
    local chat_n = 0
    if chat ~= '' and not poll then
      ready = math.max(ready, now + redis.call('PTTL', prefix .. 'flood:' .. chat))
      chat_n = allowed(chat_count, chat)
      at, flying = opens(prefix .. 'w:' .. chat, chat_n, chat_window)
      if flying then poll = at else ready = math.max(ready, at) end
    end
    if poll then
      out[#out + 1] = 1
      out[#out + 1] = math.max(1, math.ceil(poll - now))
    elseif ready - now > ahead then
      out[#out + 1] = 1
      out[#out + 1] = math.max(1, math.ceil(ready - now - ahead))
    else
      redis.call('ZADD', prefix .. 'w:' .. bot, ready + ttl, member)
      redis.call('PEXPIRE', prefix .. 'w:' .. bot, window + ttl + ahead)
      local next_tat = string.format('%.3f', math.max(tat, ready) + interval)
      redis.call('SET', prefix .. 'tat:' .. bot, next_tat, 'PX', math.ceil(window + ahead))
      if chat ~= '' then
        redis.call('ZADD', prefix .. 'w:' .. chat, ready + ttl, member)
        redis.call('PEXPIRE', prefix .. 'w:' .. chat, chat_window + ttl + ahead)
      end
      redis.call('HINCRBY', prefix .. 'health:' .. account, 'requests', 1)
      if not bulk then redis.call('SET', hot, '1', 'PX', 2 * window) end
      out[#out + 1] = 0
      out[#out + 1] = math.ceil(ready - now)
    end
  end
end
return out
"""
)

# ARGV: prefix, then per entry: member, bot scope, chat scope ('' = none), outcome
# ('ok' counted and answered, 'failed' counted, 'refused' not counted: a 429).
_CONFIRM = (
    _COMMON
    + """
local i = 2
while i <= #ARGV do
  local member, bot, chat, outcome = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local account = string.match(bot, '^[^:]*')
  i = i + 4
  for _, scope in ipairs({bot, chat}) do
    if scope ~= '' then
      local key = prefix .. 'w:' .. scope
      if outcome == 'refused' then
        redis.call('ZREM', key, member)
      else
        redis.call('ZADD', key, 'XX', now + 1, member)
      end
    end
  end
  if outcome == 'ok' then
    redis.call('HINCRBY', prefix .. 'health:' .. account, 'successes', 1)
    redis.call('DEL', prefix .. 'streak:' .. account, prefix .. 'streak:' .. account .. ':chats')
  elseif outcome == 'failed' then
    redis.call('HINCRBY', prefix .. 'health:' .. account, 'failures', 1)
  end
end
return now
"""
)

# ARGV: prefix, bot, chat scope ('' = none), retry_after_ms, account_wide (0/1),
# escalate_after, escalate_window_ms, bot_count, bot_window_ms (unguarded), hold_ms,
# max_hold_ms, decrease, floor. Returns {escalated (0/1), the new factor in thousandths}.
_FLOOD = (
    _COMMON
    + """
local bot, chat, retry = ARGV[2], ARGV[3], tonumber(ARGV[4])
local wide, after, span = ARGV[5] == '1', tonumber(ARGV[6]), tonumber(ARGV[7])
local bot_count, bot_window = tonumber(ARGV[8]), tonumber(ARGV[9])
local hold, max_hold, decrease, floor = tonumber(ARGV[10]), tonumber(ARGV[11]),
  tonumber(ARGV[12]), tonumber(ARGV[13])
local till = now + retry
local function close(key, at)
  local left = redis.call('PTTL', key)
  if left < 0 or now + left < at then redis.call('SET', key, '1', 'PX', math.max(1, at - now)) end
end
local function cut(scope, observed)
  -- AdaptiveRate.on_flood, on the shared state of one scope.
  local key = prefix .. 'rate:' .. scope
  local v = redis.call('HMGET', key, 'f', 'h', 'p')
  local f, h, probing = tonumber(v[1]) or 1, tonumber(v[2]) or 0, v[3] == '1'
  local to = f * decrease
  if observed and observed > 0 and observed < f then
    to = math.max(observed, f * decrease * decrease)
  end
  f = math.max(floor, to)
  if probing then h = math.min(max_hold, 2 * h) else h = hold end
  redis.call('HSET', key, 'f', tostring(f), 'h', h, 'c', now, 'p', 0)
  redis.call('PEXPIRE', key, 2 * max_hold)
  return f
end
local health = prefix .. 'health:' .. bot
redis.call('HINCRBY', health, 'floods', 1)
local escalated = wide or chat == ''
if not escalated then
  close(prefix .. 'flood:' .. chat, till)
  local streak, chats = prefix .. 'streak:' .. bot, prefix .. 'streak:' .. bot .. ':chats'
  local started = tonumber(redis.call('HGET', streak, 'started'))
  if not started or now - started > span then
    redis.call('DEL', streak, chats)
    redis.call('HSET', streak, 'started', now)
  end
  redis.call('SADD', chats, chat)
  local n = redis.call('HINCRBY', streak, 'count', 1)
  local last = math.max(till, tonumber(redis.call('HGET', streak, 'till') or '0'))
  redis.call('HSET', streak, 'till', last)
  redis.call('PEXPIRE', streak, span)
  redis.call('PEXPIRE', chats, span)
  if n >= after and redis.call('SCARD', chats) >= 2 then
    escalated = true
    till = last
    redis.call('DEL', streak, chats)
  end
end
local f
if escalated then
  close(prefix .. 'flood:' .. bot, till)
  redis.call('HINCRBY', health, 'account_blocks', 1)
  -- What Telegram accepted in the last window is its real count.
  local accepted = redis.call('ZCOUNT', prefix .. 'w:' .. bot, now - bot_window, now + 1)
  local observed = nil
  if accepted > 0 then observed = accepted / bot_count end
  f = cut(bot, observed)
else
  f = cut(chat, nil)
end
if escalated then return {1, math.floor(f * 1000 + 0.5)} end
return {0, math.floor(f * 1000 + 0.5)}
"""
)


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
        lookahead: the furthest ahead a send is admitted with a delay (default:
            one bot window).
        headroom: slots of a bot's window that bulk sends (broadcasts) leave free
            while anything else went out as the bot in the last two windows, so a
            reply during a broadcast does not queue behind a window of it.
        pace: space a bot's sends ``window / count`` apart after ``limits.bot_burst``
            back to back, as the in-process gate does. Off by default: admitted
            ahead, each send of a window already follows its predecessor's answer,
            and pacing within the window only sends a broadcast's last messages
            later (most of a window in all) and asks Redis once per paced slot.
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
        lookahead: float | None = None,
        headroom: int = 3,
        pace: bool = False,
        in_flight_ttl: float = 300.0,
        heartbeat: float = 3.0,
        clock_margin: float = 0.005,
    ) -> None:
        self.client = client
        self.limits = limits = limits or TelegramLimits()
        self.prefix = f"{namespace}:limits:"
        if lookahead is None:  # a window's departures, stamped 1 ms after their answers
            lookahead = limits.scaled(limits.bot_window) + clock_margin + 0.001
        self.lookahead = lookahead
        self.pace = pace
        self.headroom = headroom
        self.in_flight_ttl_ms = int(in_flight_ttl * 1000)
        self.clock_margin = clock_margin
        self.round_trips = 0
        self._ids = itertools.count()
        self._me = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._acquire_script = client.register_script(_ACQUIRE)
        self._confirm_script = client.register_script(_CONFIRM)
        self._flood_script = client.register_script(_FLOOD)
        self._acquires: Coalescer[list[str], tuple[int, int]] = Coalescer(self._acquire_many)
        self._confirms: Coalescer[list[str], None] = Coalescer(self._confirm_many)
        self.heartbeat = heartbeat
        self._beating: _Heartbeat | None = None
        self._started: asyncio.Task[None] | None = None
        # What the scripts are told of every request, worked out once: (count,
        # window ms, burst) of the bot's own scopes, (count, window ms) of a chat's.
        margin = clock_margin
        burst = limits.bot_burst if pace else limits.bot_count
        bot_window, paid_window = (
            limits.scaled(limits.bot_window),
            limits.scaled(limits.paid_window),
        )
        self._own = [str(limits.bot_count), str(_ms(bot_window + margin)), str(burst)]
        self._paid = [
            str(limits.paid_count),
            str(_ms(paid_window + margin)),
            str(limits.paid_count),
        ]
        # A private chat's token bucket, as a window of its burst; groups, channels, @usernames.
        private = limits.scaled(limits.private_burst / limits.private_rate)
        self._private = [str(limits.private_burst), str(_ms(private + margin))]
        self._group = [
            str(limits.group_count),
            str(_ms(limits.scaled(limits.group_window) + margin)),
        ]
        self._head = [self.prefix, str(self.in_flight_ttl_ms), str(_ms(self.lookahead)),
                      str(_RATE.step), str(headroom)]  # fmt: skip
        kwargs = client.connection_pool.connection_kwargs
        self._where = {
            name: kwargs[name]
            for name in ("host", "port", "db", "username", "password", "path")
            if name in kwargs
        }

    def __repr__(self) -> str:
        return f"<RedisLimiter {self.prefix[:-1]!r}>"

    @classmethod
    def from_url(
        cls, url: str, limits: TelegramLimits | None = None, **options: Any
    ) -> RedisLimiter:
        try:
            import redis.asyncio as aioredis
        except ImportError as error:
            raise missing_extra("RedisLimiter", "redis", error) from None

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
            with _reachable():
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

    def _request(self, bot: str, chat_id: Hashable | None, paid: bool, bulk: bool) -> list[str]:
        """The acquire script's arguments for one send, but its member."""
        own = [f"{bot}:paid", *self._paid] if paid else [bot, *self._own]
        own.append("1" if bulk else "0")
        if chat_id is None:
            return [*own, "", "0", "0"]
        chat = self._private if is_private(chat_id) else self._group
        return [*own, f"{bot}:{chat_id}", *chat]

    async def acquire(
        self, bot_id: int, chat_id: Hashable | None, *, paid: bool = False, bulk: bool = False
    ) -> Ticket | float:
        """A :class:`Ticket` if the send may go (after its ``delay``), else the seconds
        to wait before asking again. ``bulk``: a broadcast's send, which leaves
        ``headroom`` while others are being made. Raises :class:`AccountPaused`."""
        await self._alive()
        bot = str(bot_id)
        member = f"{self._me}:{next(self._ids)}"
        request = [member, *self._request(bot, chat_id, paid, bulk)]
        code, ms = await self._acquires.call(request)
        if code == 2:
            reason = await self.client.get(f"{self.prefix}paused:{bot}")
            raise AccountPaused(bot_id, _text(reason) or "paused")
        if code == 1:
            return ms / 1000
        chat = "" if chat_id is None else str(chat_id)
        return Ticket(member, bot, chat, delay=ms / 1000, paid=paid)

    async def confirm(self, ticket: Ticket, outcome: Outcome = "ok") -> None:
        """The send ended: answered or failed, its entries leave the windows one window
        from now; refused uncounted (a 429), at once."""
        own = f"{ticket.bot}:paid" if ticket.paid else ticket.bot
        chat = f"{ticket.bot}:{ticket.chat}" if ticket.chat else ""
        await self._confirms.call([ticket.member, own, chat, outcome])

    async def flood(
        self, bot_id: int, chat_id: Hashable | None, retry_after: float, *, account_wide: bool
    ) -> bool:
        """Telegram answered 429: close the chat (or the bot) for every process and cut
        its rate; True if the whole bot was closed."""
        lim = self.limits
        hold = lim.adapt_hold / lim.speed
        rate = _RATE
        chat = "" if chat_id is None else f"{bot_id}:{chat_id}"
        self.round_trips += 1
        with _reachable():
            escalated, _ = await self._flood_script(args=[
                self.prefix, str(bot_id), chat, str(_ms(retry_after)),
                "1" if account_wide else "0",
                str(lim.escalate_after), str(_ms(lim.escalate_window / lim.speed)),
                str(lim.bot_count), str(_ms(lim.bot_window / lim.speed)),
                str(_ms(hold)), str(_ms(12 * hold)), str(rate.decrease), str(rate.floor),
            ])  # fmt: skip
        return bool(escalated)

    async def pause(self, bot_id: int, reason: str) -> None:
        """Stop every process from sending as this account until :meth:`resume`."""
        self.round_trips += 1
        with _reachable():
            await self.client.set(f"{self.prefix}paused:{bot_id}", reason)

    async def resume(self, bot_id: int) -> None:
        self.round_trips += 1
        with _reachable():
            await self.client.delete(f"{self.prefix}paused:{bot_id}")

    async def health(self, bot_id: int) -> Health:
        """The account's counters and state as every process sees them."""
        p = self.prefix
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(f"{p}health:{bot_id}")
            pipe.get(f"{p}paused:{bot_id}")
            pipe.pttl(f"{p}flood:{bot_id}")
            counters, paused, left = await pipe.execute()
        health = Health()
        for name, value in counters.items():
            setattr(health, _text(name), int(value))
        health.blocked_until = max(0, int(left)) / 1000
        health.quarantined = _text(paused) if paused is not None else None
        return health

    async def rate(self, bot_id: int, chat_id: Hashable | None = None) -> float:
        """The scope's adaptive rate factor (1 when never cut)."""
        key = f"{self.prefix}rate:{bot_id}" + ("" if chat_id is None else f":{chat_id}")
        f, h, c = await self.client.hmget(key, "f", "h", "c")
        if f is None:
            return 1.0
        factor = float(f)
        now_s, now_us = await self.client.time()
        if factor < 1 and now_s * 1000 + now_us // 1000 - int(c) >= int(h):
            factor = min(1.0, factor + _RATE.step)  # what the next acquire will see
        return factor

    async def _acquire_many(self, batch: Sequence[list[str]]) -> list[tuple[int, int]]:
        self.round_trips += 1
        flat = [arg for request in batch for arg in request]
        with _reachable():
            result = await self._acquire_script(args=[*self._head, *flat])
        return [(int(result[n]), int(result[n + 1])) for n in range(0, len(result), 2)]

    async def _confirm_many(self, batch: Sequence[list[str]]) -> list[None]:
        self.round_trips += 1
        with _reachable():
            await self._confirm_script(args=[self.prefix, *(a for entry in batch for a in entry)])
        return [None] * len(batch)

    async def drop(self) -> None:
        """Delete this namespace's keys (tests, benchmarks)."""
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            await self.client.delete(key)


_RATE = AdaptiveRate()  # the decrease, step and floor every process uses


@contextlib.contextmanager
def _reachable() -> Iterator[None]:
    """Redis down, restarting or unreachable: say so in sluice's terms (the gate waits)."""
    import redis.exceptions as errors

    try:
        yield
    except (errors.ConnectionError, errors.TimeoutError, errors.BusyLoadingError, OSError) as exc:
        raise LimiterUnavailable(
            f"the shared limits are unreachable: {type(exc).__name__}"
        ) from exc


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
