"""Telegram's limits shared through Redis: several processes, one bot's budget.

The model of :class:`~sluice.limits.MemoryLimiter`, kept in Redis by Lua
scripts on Redis's own clock (``TIME``), so that every process sharing a bot
counts the same windows, floods, cut rates and learned limits; one contract
suite runs on both backends. Written by hand because no Redis rate limiter
counts a send at its *answer*: libraries (redis-cell, limits, aiolimiter-style
buckets) admit at request time, and a send that reaches Telegram later than
its admission (a slow network, a busy event loop) then lands in the next
window next to sends admitted after it, and earns a 429.

Every limit is a sorted set of entries: ``acquire`` admits a send when each
of its scopes (the bot; the chat) has fewer than its count of entries younger
than its window, and adds an entry that counts as *in flight* until
``confirm`` stamps it with the time Redis hears of the answer; it leaves the
window one window after that. An entry in flight stays as long as its process
lives (a heartbeat key per process); a full window drops the entries of
processes whose heartbeat lapsed, so a crash blocks its slots for a few
seconds only. A send whose window opens within ``lookahead`` is admitted at
once with a delay, so processes do not poll for each slot.

Round trips: the requests of one process's tasks are grouped while a script
call is on its way (group commit, no added delay): one ``acquire`` for many
sends, one ``confirm`` for many answers.
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
from typing import Any

from sluice._coalesce import Coalescer
from sluice._exceptions import LimiterUnavailable
from sluice._extras import missing_extra
from sluice.accounts import Health
from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._limiter import (
    Answer,
    Flooded,
    Paused,
    Request,
    Scope,
    SendResult,
    Ticket,
    Wait,
    is_private,
)
from sluice.limits._redis_lua import ACQUIRE, CONFIRM, FLOOD

__all__ = ["RedisLimiter"]

log = logging.getLogger("sluice.limits")


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
            while anything else asked to go as the bot in the last ten windows, so a
            reply during a broadcast does not queue behind a window of it.
        pace: space a bot's sends ``window / count`` apart after ``limits.bot_burst``
            back to back (the default, as the memory limiter does): a window's worth
            fired at once would reach a stricter Telegram together and be refused
            together. Admitted ahead in batches, paced sends cost no extra round trip.
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
        headroom: int = 1,
        pace: bool = True,
        in_flight_ttl: float = 300.0,
        heartbeat: float = 3.0,
        clock_margin: float = 0.005,
    ) -> None:
        self.client = client
        self.limits = limits = limits or TelegramLimits()
        self.namespace = namespace
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
        self._acquire_script = client.register_script(ACQUIRE)
        self._confirm_script = client.register_script(CONFIRM)
        self._flood_script = client.register_script(FLOOD)
        # Admissions and answers of this process made meanwhile go in one round trip
        # (an answer and the admission it makes room for are usually made together).
        self._scripts: Coalescer[tuple[bool, list[str]], tuple[int, int] | None] = Coalescer(
            self._run_scripts
        )
        self.heartbeat = heartbeat
        self._beating: _Heartbeat | None = None
        self._started: asyncio.Task[None] | None = None
        # What the scripts are told of every request, worked out once: (count,
        # window ms, burst) of the bot's own scopes; how chats are shaped.
        margin = clock_margin
        burst = limits.bot_burst if pace else limits.bot_count
        bot_window = limits.scaled(limits.bot_window) + margin
        self._bot_span_ms = _ms(bot_window)
        self._own = [str(limits.bot_count), str(self._bot_span_ms), str(burst)]
        paid_window = limits.scaled(limits.paid_window) + margin
        self._paid = [str(limits.paid_count), str(_ms(paid_window)), str(limits.paid_count)]
        self._chats = [
            str(_RATE.step),
            str(limits.private_burst),
            # A private chat's period: ms between two sends at its full rate.
            repr(limits.scaled(1 / limits.private_rate) * 1000),
            str(limits.group_count),
            str(_ms(limits.scaled(limits.group_window))),
            str(_ms(margin)),
        ]
        self._head = [self.prefix, str(self.in_flight_ttl_ms), str(_ms(self.lookahead)),
                      str(headroom), *self._chats]  # fmt: skip
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

    def _arguments(self, member: str, request: Request) -> list[str]:
        """The acquire script's arguments for one send."""
        bot = str(request.account)
        own = [f"{bot}:paid", *self._paid] if request.paid else [bot, *self._own]
        bulk = "1" if request.bulk else "0"
        if request.chat is None:
            return [member, *own, bulk, "", ""]
        kind = "p" if is_private(request.chat) else "g"
        return [member, *own, bulk, f"{bot}:{request.chat}", kind]

    def acquire_now(self, request: Request) -> Answer | None:
        return None  # every answer is Redis's

    def confirm_now(self, ticket: Ticket, result: SendResult) -> bool:
        return False

    def spare(self, account: int) -> int | None:
        return None

    async def acquire(self, requests: Sequence[Request]) -> list[Answer]:
        """An answer for each request (their scripts share one round trip with every
        other request of this process made meanwhile)."""
        await self._alive()
        members = [f"{self._me}:{next(self._ids)}" for _ in requests]
        codes = await asyncio.gather(
            *(
                self._scripts.call((True, self._arguments(member, request)))
                for member, request in zip(members, requests, strict=True)
            )
        )
        answers: list[Answer] = []
        for member, request, answered in zip(members, requests, codes, strict=True):
            assert answered is not None  # an admission's script answers (code, ms)
            code, ms = answered
            if code == 0:
                answers.append(
                    Ticket(member, request.account, request.chat, ms / 1000, request.paid)
                )
            elif code == 2:
                answers.append(Paused(await self._pause_reason(request.account)))
            else:
                scope = Scope.CHAT if code in (3, 5) else Scope.ACCOUNT
                answers.append(Wait(ms / 1000, scope, on_answer=code in (4, 5)))
        return answers

    async def _pause_reason(self, account: int) -> str:
        self.round_trips += 1
        with _reachable():
            reason = await self.client.get(f"{self.prefix}paused:{account}")
        return _text(reason) or "paused"

    async def confirm(self, ticket: Ticket, result: SendResult) -> None:
        """The send ended: answered or failed, its entries leave the windows one window
        from now; refused uncounted (a 429), at once."""
        own = f"{ticket.account}:paid" if ticket.paid else str(ticket.account)
        chat = "" if ticket.chat is None else f"{ticket.account}:{ticket.chat}"
        kind = "" if ticket.chat is None else ("p" if is_private(ticket.chat) else "g")
        await self._scripts.call((False, [str(ticket.member), own, chat, kind, str(result)]))

    async def flood(
        self,
        account: int,
        chat: Hashable | None,
        retry_after: float,
        *,
        account_wide: bool,
        refused: Ticket | None = None,
    ) -> Flooded:
        """Telegram answered 429: close the chat (or the bot) for every process and cut
        what it explains; see :class:`~sluice.limits.MemoryLimiter` for the model."""
        lim = self.limits
        hold = lim.adapt_hold / lim.speed
        scope = "" if chat is None else f"{account}:{chat}"
        kind = "" if chat is None else ("p" if is_private(chat) else "g")
        self.round_trips += 1
        member = str(refused.member) if refused is not None else ""
        own = f"{account}:paid" if refused is not None and refused.paid else str(account)
        with _reachable():
            closed, ms = await self._flood_script(args=[
                self.prefix, *self._chats, str(account), scope, kind, str(_ms(retry_after)),
                "1" if account_wide else "0",
                str(lim.escalate_after), str(_ms(lim.escalate_window / lim.speed)),
                repr(lim.escalate_share), str(lim.bot_count),
                str(_ms(lim.bot_window / lim.speed)), str(self._bot_span_ms),
                str(_ms(hold)), str(_ms(12 * hold)), repr(_RATE.decrease), repr(_RATE.floor),
                member, own,
            ])  # fmt: skip
        return Flooded(bool(closed), max(0, int(ms)) / 1000)

    async def pause(self, account: int, reason: str) -> None:
        """Stop every process from sending as this account until :meth:`resume`."""
        self.round_trips += 1
        with _reachable():
            await self.client.set(f"{self.prefix}paused:{account}", reason)

    async def resume(self, account: int) -> None:
        self.round_trips += 1
        with _reachable():
            await self.client.delete(f"{self.prefix}paused:{account}")

    async def health(self, account: int) -> Health:
        """The account's counters and state as every process sees them."""
        p = self.prefix
        with _reachable():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(f"{p}health:{account}")
                pipe.get(f"{p}paused:{account}")
                pipe.pttl(f"{p}flood:{account}")
                counters, paused, left = await pipe.execute()
        health = Health()
        for name, value in counters.items():
            setattr(health, _text(name), int(value))
        health.blocked_until = max(0, int(left)) / 1000
        health.paused = _text(paused) if paused is not None else None
        health.rate = await self.rate(account)
        return health

    async def rate(self, account: int, chat: Hashable | None = None) -> float:
        """The scope's rate as a share of the published one (1 when never cut): an
        account's; a private chat's rate; a group's count, as its kind learned it
        and as it was cut."""
        if chat is None:
            scopes = [str(account)]
        elif is_private(chat):  # its rate; its burst shows in when it opens
            scopes = [f"{account}:{chat}#r"]
        else:
            scopes = [f"{account}#group", f"{account}:{chat}#n"]
        with _reachable():
            async with self.client.pipeline(transaction=False) as pipe:
                for scope in scopes:
                    pipe.hmget(f"{self.prefix}rate:{scope}", "f", "h", "c")
                pipe.time()
                *states, (now_s, now_us) = await pipe.execute()
        now = now_s * 1000 + now_us // 1000
        factor = 1.0
        for f, h, c in states:
            if f is None:
                continue
            value = float(f)
            if value < 1 and now - int(c) >= int(h):
                value = min(1.0, value + _RATE.step)  # what the next acquire will see
            factor = min(factor, value)
        return factor

    async def _run_scripts(
        self, batch: Sequence[tuple[bool, list[str]]]
    ) -> list[tuple[int, int] | None]:
        """The answers (confirm first: they free what admissions may take) and the
        admissions of a batch, pipelined: one round trip."""
        confirms = [arg for acquire, entry in batch if not acquire for arg in entry]
        acquires = [arg for acquire, entry in batch if acquire for arg in entry]
        self.round_trips += 1
        result: list[Any] = []
        with _reachable():
            if confirms and acquires:
                async with self.client.pipeline(transaction=False) as pipe:
                    await self._confirm_script(args=[self.prefix, *confirms], client=pipe)
                    await self._acquire_script(args=[*self._head, *acquires], client=pipe)
                    _, result = await pipe.execute()
            elif acquires:
                result = await self._acquire_script(args=[*self._head, *acquires])
            else:
                await self._confirm_script(args=[self.prefix, *confirms])
        codes = iter([(int(result[n]), int(result[n + 1])) for n in range(0, len(result), 2)])
        return [next(codes) if acquire else None for acquire, _ in batch]

    async def drop(self) -> None:
        """Delete this namespace's keys (tests, benchmarks)."""
        async for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            await self.client.delete(key)


_RATE = AdaptiveRate()  # the decrease, step and floor every process uses


def _reachable() -> contextlib.AbstractContextManager[None]:
    """Redis down, restarting or unreachable, said in sluice's terms (the gate waits)."""
    from sluice._redis import reachable

    return reachable("the shared limits are", LimiterUnavailable)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
