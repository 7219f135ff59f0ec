"""Telegram's limit model for one process: the limiter a gate has by default.

The same model as the Lua of :class:`~sluice.limits.RedisLimiter`, and one
contract suite (``tests/limits/test_limiter_contract.py``) runs on both:

* a bot's sends, its paid sends and each group are sliding windows
  (:class:`~sluice.limits.SlidingWindow`), each private chat a token bucket
  (:class:`~sluice.limits.Bucket`); a send counts from its admission until its
  answer, and from the answer on (Telegram counts it on arrival, somewhere in
  between);
* a 429 closes its chat for ``retry_after``. If the chat's own limit explains
  it (the chat sent lately), the chat is cut: to the burst Telegram let
  through, else to a lower rate; the burst a private chat or the count a
  group was cut to becomes what every chat of that kind starts from (the
  account learns its kind's limits). If nothing the chat did explains it,
  it counts toward the account: enough such 429s, from two chats or more,
  that are a share of the answers since the first of them, close the whole
  account and cut its rate to what Telegram was seen to accept;
* cut rates climb back a step after every quiet hold;
* while anything but bulk sends asked to go as an account in the last ten
  windows, its bulk sends (broadcasts) leave ``headroom`` slots free;
* a paused account admits nothing until resumed.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Hashable, Sequence

from sluice.accounts import Health
from sluice.limits._adaptive import AdaptiveRate
from sluice.limits._config import TelegramLimits
from sluice.limits._ledger import FloodLedger
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
from sluice.limits._windows import Bucket, SlidingWindow

__all__ = ["MemoryLimiter"]

_EPS = 1e-9
_SWEEP_EVERY = 1024  # admissions between two sweeps of idle chats
# Windows a non-bulk send keeps broadcasts leaving room: longer than a chat's pace
# (a user answered every second or two), or the room closes between two replies.
_HOT_WINDOWS = 10


class _Chat:
    """One chat's window, and its own cuts (None until Telegram first refused it)."""

    __slots__ = ("count_cut", "private", "rate_cut", "starts", "window")

    def __init__(self, private: bool, window: SlidingWindow | Bucket) -> None:
        self.private = private
        self.window = window  # a private chat's bucket, a group's window
        self.count_cut: AdaptiveRate | None = None  # a private chat's burst, a group's count
        self.rate_cut: AdaptiveRate | None = None  # a private chat's rate
        self.starts: dict[Hashable, float] = {}  # sends in flight: member -> when it was to start


class _Account:
    __slots__ = (
        "bot",
        "bot_rate",
        "bot_starts",
        "chats",
        "group_count",
        "health",
        "hot_until",
        "paid",
        "paid_starts",
        "paused",
        "private_burst",
    )

    def __init__(self, limits: TelegramLimits, pace: bool, adaptive: Callable[[], AdaptiveRate]):
        lim = limits
        self.bot = SlidingWindow(
            lim.bot_count, lim.scaled(lim.bot_window), lim.bot_burst if pace else None
        )
        self.paid = SlidingWindow(lim.paid_count, lim.scaled(lim.paid_window))
        self.bot_starts: dict[Hashable, float] = {}
        self.paid_starts: dict[Hashable, float] = {}
        self.bot_rate = adaptive()
        # What the account learned of its kinds of chats: where new chats start.
        self.private_burst = adaptive()
        self.group_count = adaptive()
        self.chats: dict[Hashable, _Chat] = {}
        self.hot_until = -math.inf
        self.health = Health()
        self.paused: str | None = None


class MemoryLimiter:
    """The :class:`~sluice.limits.Limiter` of one process, with an injectable clock.

    Parameters:
        limits: what Telegram allows.
        lookahead: the furthest ahead a send is admitted with a delay; 0 (the
            default) admits only what may start now, which keeps priorities
            exact: asking costs nothing here.
        pace: space an account's sends ``window / count`` apart after
            ``limits.bot_burst`` back to back (the default).
        headroom: slots of an account's window that bulk sends leave free while
            other sends are being made. 0 by default: one gate's own queue already
            puts a reply before a broadcast, and every slot left free is a slot a
            broadcast loses (3 of 30 cost it a tenth of its speed). Processes that
            share limits through one store need it (the Redis limiter's default is 3).
        clock: seconds, monotonic; the gate's own clock by default.
    """

    def __init__(
        self,
        limits: TelegramLimits | None = None,
        *,
        lookahead: float = 0.0,
        pace: bool = True,
        headroom: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits = limits or TelegramLimits()
        self.lookahead = lookahead
        self.pace = pace
        self.headroom = headroom
        self.clock = clock
        self.round_trips = 0  # nothing leaves the process
        self.ledger = FloodLedger()
        self._accounts: dict[int, _Account] = {}
        self._ids = itertools.count()
        self._asked = 0
        hold = limits.adapt_hold / limits.speed
        self._hold = hold

    def __repr__(self) -> str:
        return f"<MemoryLimiter {len(self._accounts)} account(s)>"

    def _adaptive(self) -> AdaptiveRate:
        return AdaptiveRate(hold=self._hold, max_hold=12 * self._hold)

    def _account(self, account: int) -> _Account:
        found = self._accounts.get(account)
        if found is None:
            found = self._accounts[account] = _Account(self.limits, self.pace, self._adaptive)
        return found

    # -- chats -----------------------------------------------------------------

    def _chat(self, acc: _Account, key: Hashable, now: float) -> _Chat:
        found = acc.chats.get(key)
        if found is None:
            private = is_private(key)
            shape = Bucket(1, 1.0) if private else SlidingWindow(1, 1.0)
            found = acc.chats[key] = _Chat(private, shape)
        self._shape(acc, found, now)
        return found

    def _shape(self, acc: _Account, chat: _Chat, now: float) -> None:
        """Size the chat's window from what the account learned and the chat's own cuts."""
        lim = self.limits
        learned = acc.private_burst if chat.private else acc.group_count
        learned.on_success(now)  # a step back up after a quiet hold
        share = learned.factor
        if chat.count_cut is not None:
            chat.count_cut.on_success(now)
            share = min(share, chat.count_cut.factor)
        window = chat.window
        if isinstance(window, Bucket):
            burst = max(1, int(lim.private_burst * share + _EPS))
            rate = lim.private_rate
            if chat.rate_cut is not None:
                chat.rate_cut.on_success(now)
                rate *= chat.rate_cut.factor
            window.reshape(burst, lim.scaled(1 / rate))
        else:
            count = max(1, int(lim.group_count * share + _EPS))
            window.resize(count, lim.scaled(lim.group_window))

    def _sweep(self, now: float) -> None:
        """Forget chats whose windows are empty and which were never cut (a broadcast
        to millions of chats must not keep a window for each)."""
        for acc in self._accounts.values():
            for key, chat in list(acc.chats.items()):
                cut = chat.count_cut is not None or chat.rate_cut is not None
                if not cut and not chat.starts and chat.window.idle(now):
                    del acc.chats[key]

    # -- admission -------------------------------------------------------------

    def acquire_now(self, request: Request) -> Answer:
        acc = self._account(request.account)
        if acc.paused is not None:
            return Paused(acc.paused)
        now = self.clock()
        self._asked += 1
        if self._asked % _SWEEP_EVERY == 0:
            self._sweep(now)
        ahead = now + self.lookahead
        ready = self.ledger.account_until(request.account, now)
        if ready > ahead + _EPS:
            return Wait(ready - ahead, Scope.ACCOUNT)
        lim = self.limits
        window = starts = None
        if lim.enabled:
            if request.paid:
                window, starts = acc.paid, acc.paid_starts
            else:
                window, starts = acc.bot, acc.bot_starts
                if acc.bot_rate.factor < 1 and acc.bot_rate.on_success(now):
                    window.factor = acc.bot_rate.factor
            if not request.bulk and not request.paid:
                # Broadcasts leave room from now on, even if this send must wait:
                # marking only admitted ones, a full window never would.
                acc.hot_until = now + _HOT_WINDOWS * window.span
            hot = request.bulk and acc.hot_until > now and not request.paid
            spare = self.headroom if hot else 0
            opens = window.ready_at(now, spare, bulk=request.bulk)
            if (
                opens > now + _EPS
                and not request.bulk
                and ready <= now + _EPS
                and window.fits_now(now, starts.values())
            ):
                opens = now  # a reply, in the room a broadcast booked ahead leaves
            if math.isinf(opens):
                return _after_answers(window, starts, spare, now)
            ready = max(ready, opens)
            if ready > ahead + _EPS:
                return Wait(ready - ahead, Scope.ACCOUNT)
        key = request.chat
        chat = None
        if key is not None:
            chat_ready = self.ledger.chat_until(request.account, key, now)
            if lim.enabled:
                chat = self._chat(acc, key, now)
                opens = chat.window.ready_at(now)
                if math.isinf(opens):
                    shape = chat.window
                    if isinstance(shape, Bucket):
                        return Wait(shape.period, Scope.CHAT, on_answer=True)
                    answer = _after_answers(shape, chat.starts, 0, now)
                    return Wait(answer.seconds, Scope.CHAT, on_answer=True)
                chat_ready = max(chat_ready, opens)
            if chat_ready > ahead + _EPS:
                return Wait(chat_ready - ahead, Scope.CHAT)
            ready = max(ready, chat_ready)
        member = next(self._ids)
        if window is not None and starts is not None:
            window.reserve(ready, bulk=request.bulk)
            starts[member] = ready
        if chat is not None:
            chat.window.reserve(ready)
            chat.starts[member] = ready
        acc.health.requests += 1
        return Ticket(member, request.account, key, max(0.0, ready - now), request.paid)

    async def acquire(self, requests: Sequence[Request]) -> list[Answer]:
        return [self.acquire_now(request) for request in requests]

    def confirm_now(self, ticket: Ticket, result: SendResult) -> bool:
        acc = self._accounts.get(ticket.account)
        if acc is None:
            return True
        now = self.clock()
        counted = result is not SendResult.REFUSED
        if ticket.paid:
            window, starts = acc.paid, acc.paid_starts
        else:
            window, starts = acc.bot, acc.bot_starts
        if starts.pop(ticket.member, None) is not None:
            window.confirm(now, counted)
        chat = acc.chats.get(ticket.chat) if ticket.chat is not None else None
        if chat is not None and chat.starts.pop(ticket.member, None) is not None:
            chat.window.confirm(now, counted)
        if result is SendResult.OK:
            acc.health.successes += 1
        elif result is SendResult.FAILED:
            acc.health.failures += 1
        return True

    async def confirm(self, ticket: Ticket, result: SendResult) -> None:
        self.confirm_now(ticket, result)

    # -- floods ----------------------------------------------------------------

    async def flood(
        self,
        account: int,
        chat: Hashable | None,
        retry_after: float,
        *,
        account_wide: bool,
        refused: Ticket | None = None,
    ) -> Flooded:
        if refused is not None:
            self.confirm_now(refused, SendResult.REFUSED)  # no-op if confirmed already
        return self.flood_now(account, chat, retry_after, account_wide=account_wide)

    def flood_now(
        self, account: int, chat: Hashable | None, retry_after: float, *, account_wide: bool
    ) -> Flooded:
        now = self.clock()
        acc = self._account(account)
        acc.health.floods += 1
        until = now + retry_after
        lim = self.limits
        if not account_wide and chat is not None:
            key = chat
            self.ledger.block_chat(account, key, until)
            scope = self._chat(acc, key, now)
            if self._explained(scope, now):
                self._cut_chat(acc, scope, now, until)
                return Flooded(False, retry_after)
            recent = self.ledger.unexplained(
                account, key, until, now, lim.escalate_window / lim.speed, acc.health.successes
            )
            if not self._bot_wide(acc, recent):
                return Flooded(False, retry_after)
            until = max(u for _, _, u, _ in recent)
            self.ledger.forget_unexplained(account)
        self.ledger.block_account(account, until)
        acc.health.account_blocks += 1
        # What Telegram accepted in the last (unguarded) window is its real count.
        accepted = acc.bot.sent_since(now - lim.bot_window / lim.speed)
        observed = accepted / lim.bot_count if accepted else None
        acc.bot.factor = acc.bot_rate.on_flood(now, observed)
        return Flooded(True, until - now)

    @staticmethod
    def _explained(chat: _Chat, now: float) -> bool:
        """The chat's own limit explains a 429 if it still counts sends (or has one in
        flight): a private chat's bucket is not full, a group's window not empty."""
        window = chat.window
        if isinstance(window, Bucket):
            return bool(chat.starts) or window.used(now) > 0
        return bool(chat.starts) or window.sent_since(now - window.span) > 0

    def _bot_wide(self, acc: _Account, recent: list[tuple[float, Hashable, float, int]]) -> bool:
        lim = self.limits
        if len(recent) < lim.escalate_after or len({c for _, c, _, _ in recent}) < 2:
            return False
        # A share of the answers since the first of them: a bot-wide limit refuses
        # most of what follows; stray 429s are few among many answers.
        floods = len(recent)
        since = acc.health.successes - recent[0][3]
        return floods >= lim.escalate_share * (floods + since)

    def _cut_chat(self, acc: _Account, chat: _Chat, now: float, until: float) -> None:
        """Cut a chat Telegram refused: to the burst (or count) it let through, else
        (a private chat refused at its pace) to a lower rate. A private chat reopens
        with one send, not a bucket refilled during the wait."""
        window = chat.window
        if isinstance(window, Bucket):
            accepted, allowed = window.used(now), window.burst
        else:
            accepted, allowed = window.sent_since(now - window.span), window.count
        published = self.limits.private_burst if chat.private else self.limits.group_count
        if 1 <= accepted < allowed or not chat.private:
            observed = accepted / published if 1 <= accepted < allowed else None
            if chat.count_cut is None:
                chat.count_cut = self._adaptive()
            factor = chat.count_cut.on_flood(now, observed)
            (acc.private_burst if chat.private else acc.group_count).adopt(factor, now)
        else:
            if chat.rate_cut is None:
                chat.rate_cut = self._adaptive()
            chat.rate_cut.on_flood(now)
        self._shape(acc, chat, now)
        if isinstance(window, Bucket):
            window.drain(until)

    # -- accounts --------------------------------------------------------------

    async def pause(self, account: int, reason: str) -> None:
        self._account(account).paused = reason

    async def resume(self, account: int) -> None:
        self._account(account).paused = None

    async def health(self, account: int) -> Health:
        now = self.clock()
        acc = self._account(account)
        counters = acc.health
        shown = Health(
            requests=counters.requests,
            successes=counters.successes,
            failures=counters.failures,
            floods=counters.floods,
            account_blocks=counters.account_blocks,
        )
        shown.blocked_until = max(0.0, self.ledger.account_until(account, now) - now)
        shown.paused = acc.paused
        acc.bot_rate.on_success(now)
        shown.rate = acc.bot_rate.factor
        return shown

    async def rate(self, account: int, chat: Hashable | None = None) -> float:
        now = self.clock()
        acc = self._account(account)
        if chat is None:
            acc.bot_rate.on_success(now)
            return acc.bot_rate.factor
        scope = acc.chats.get(chat)
        if is_private(chat):  # its rate; its burst shows in when it opens
            cut = None if scope is None else scope.rate_cut
            if cut is None:
                return 1.0
            cut.on_success(now)
            return cut.factor
        acc.group_count.on_success(now)
        factor = acc.group_count.factor
        if scope is not None and scope.count_cut is not None:
            scope.count_cut.on_success(now)
            factor = min(factor, scope.count_cut.factor)
        return factor

    def snapshot(self, account: int, now: float) -> Health:
        """The account's flood block and rate now, without waiting (for a gate's health)."""
        acc = self._account(account)
        acc.bot_rate.on_success(now)
        return Health(
            blocked_until=max(0.0, self.ledger.account_until(account, now) - now),
            rate=acc.bot_rate.factor,
            paused=acc.paused,
        )

    def spare(self, account: int) -> int:
        acc = self._accounts.get(account)
        if acc is None:
            return self.limits.bot_count
        window = acc.bot
        now = self.clock()
        return window.allowed - window.in_flight - window.sent_since(now - window.span)

    async def aclose(self) -> None:
        return None


def _after_answers(
    window: SlidingWindow, starts: dict[Hashable, float], spare: int, now: float
) -> Wait:
    """Sends in flight fill the window: the one that must be answered first cannot free
    its slot before a window after it started; ask then (a tenth of a window at least)."""
    order = sorted(starts.values())
    first = order[max(0, window.in_flight - max(1, window.allowed - spare))] if order else now
    return Wait(max(first + window.span - now, window.span / 10), Scope.ACCOUNT, on_answer=True)
