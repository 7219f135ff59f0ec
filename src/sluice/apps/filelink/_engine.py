"""The streaming engine: a file's bytes over MTProto ``upload.getFile``, through
every bot of the pool at once.

A stream is cut into requests Telegram accepts (:func:`plan`): a small first
piece, so the first byte leaves after one round trip, then aligned 1 MiB
blocks. A window of them is in flight, each on the least loaded healthy bot,
and they are handed out in order as each arrives: no batch waits for its
slowest member. A piece whose bot is flooded, fails or stalls is asked of
another bot (the first answer wins). Each bot reads the stored message itself:
the file reference it gets is its own, and a bot that cannot read the storage
channel any more finds out there and serves nothing. An expired reference is
read again, once per bot, and the stream goes on. The window is the
backpressure: a reader that stops leaves at most ``window`` pieces held, and
closing the stream cancels what is in flight. Every call goes through the gate.

Written here, not taken from Telethon's ``iter_download``, because that reads
one request after another on one client: the thing this bot exists to beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from telethon import errors, functions, types, utils  # type: ignore[import-untyped]

from sluice._exceptions import SluiceError
from sluice.apps.filelink._model import StoredFile
from sluice.gate import Fatal, Kind
from sluice.integrations.telethon import TelethonPool, classify_telethon

__all__ = ["BotStats", "MtprotoSource", "StreamFailed", "plan"]

log = logging.getLogger("sluice.apps.filelink")

KIB = 1024
MIB = 1024 * KIB
HEAD = 64 * KIB  # the first piece of a stream: one round trip, little transfer
ROUNDS = 3  # times every usable bot is tried for one piece before the stream fails
START_WINDOW = 2  # pieces a new stream asks for at once; one more each piece it reads
_MAX_LOCATIONS = 4096  # (file, bot) locations kept; the least recently used go first


class StreamFailed(SluiceError):
    """No bot of the pool could fetch a piece of the file (the stream ends short)."""


class _FileGone(StreamFailed):
    """The stored message no longer holds the file: no other bot will do better."""


def _floor_pow2(n: int) -> int:
    return 1 << (n.bit_length() - 1)


def plan(start: int, end: int, *, head: int = HEAD) -> Iterator[tuple[int, int]]:
    """The ``(offset, limit)`` requests that cover bytes ``[start, end)``.

    Telegram's rules: offset and limit multiples of 4 KiB, 1 MiB a multiple of
    limit, no request across a 1 MiB boundary. The first is at most ``head``
    bytes from ``start`` rounded down to 4 KiB; then whole aligned blocks (the
    first of which may repeat a few bytes of the head; they are cut away), and
    none once the head reaches ``end``.
    """
    if start >= end:
        return
    offset = start - start % (4 * KIB)
    room = MIB - offset % MIB  # to the next 1 MiB boundary
    limit = _floor_pow2(min(head, room))
    yield offset, limit
    covered = offset + limit
    block = covered - covered % MIB
    while block < end and covered < end:
        yield block, MIB
        block += MIB


@dataclass
class BotStats:
    """What one bot of the pool did for the streams (``/botstats``)."""

    account_id: int
    in_flight: int = 0
    pieces: int = 0
    bytes: int = 0
    floods: int = 0
    failures: int = 0
    locates: int = 0  # reads of stored messages: a file's first, and after an expiry
    blocked_until: float = 0.0
    last_used: float = 0.0
    can_read_storage: bool = True
    reason: str = ""  # why it cannot read the storage channel

    def healthy(self, now: float) -> bool:
        """Usable now: it reads the storage channel and no flood wait holds it."""
        return self.can_read_storage and self.blocked_until <= now


@dataclass(frozen=True)
class _Location:
    """Where one bot fetches a file's bytes from, as the stored message last told it."""

    input_location: Any
    dc_id: int | None
    version: int = 0


class _Pacer:
    """One bot's admission to ``upload.getFile``: at most ``slots`` requests in
    flight, their starts spaced to ``rate`` a second. A flood wait halves the rate;
    each answer wins back a little (the gate's AIMD, for a limit Telegram does not
    publish). Many streams opening at once queue here, in order, instead of
    bursting into a flood wait. Loop time, not the injectable clock: it sleeps."""

    def __init__(self, slots: int, rate: float) -> None:
        self.slots = asyncio.Semaphore(slots)
        self.rate = self.max_rate = rate
        self._next = 0.0

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        async with self.slots:
            now = asyncio.get_running_loop().time()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            if start > now:
                await asyncio.sleep(start - now)
            yield

    def flooded(self) -> None:
        self.rate = max(1.0, self.rate / 2)

    def answered(self) -> None:
        self.rate = min(self.max_rate, self.rate + 0.05 * self.max_rate)


class _Flooded(Exception):
    """Raised inside a piece's attempt so that it moves at once (the gate has the flood)."""


def _finished(stats: BotStats) -> None:
    stats.in_flight -= 1


def _cannot_read(exc: BaseException) -> bool:
    """Telegram refused the bot the storage channel (removed, banned, never in it)."""
    verdict = classify_telethon(exc)
    return isinstance(verdict, Fatal) and verdict.kind in (Kind.FORBIDDEN, Kind.CHAT_NOT_FOUND)


_REFERENCE_ERRORS = (
    errors.FileReferenceExpiredError,
    errors.FileReferenceInvalidError,
    errors.FileReferenceEmptyError,
    errors.FilerefUpgradeNeededError,
)


def _reference_expired(exc: BaseException) -> bool:
    # FILE_REFERENCE_EXPIRED, or "another error starting with FILE_REFERENCE_"
    # (core.telegram.org/api/file_reference): fetch the message again. Telethon
    # names the errors it knows; an unknown one keeps Telegram's text as message.
    return isinstance(exc, _REFERENCE_ERRORS) or (
        isinstance(exc, errors.RPCError) and str(exc.message).startswith("FILE_REFERENCE_")
    )


async def _get_file(client: Any, location: _Location, offset: int, limit: int) -> bytes:
    """``upload.getFile`` of up to 1 MiB as one request on the client's own DC.

    Telethon's ``iter_download`` asks at most 512 KiB at a time: a 1 MiB block
    would be two round trips, and two requests of the bot's budget. Telegram takes
    1 MiB, so the request is made directly; a file on another DC goes through
    ``iter_download``, which exports the login there and borrows a sender.
    """
    if location.dc_id is None or location.dc_id == client.session.dc_id:
        request = functions.upload.GetFileRequest(
            location.input_location, offset=offset, limit=limit
        )
        with contextlib.suppress(errors.FileMigrateError):  # it moved: see below
            result = await client(request)
            if isinstance(result, types.upload.File):
                return bytes(result.bytes)
    download = client.iter_download(
        location.input_location, offset=offset, request_size=limit, limit=1,
        dc_id=location.dc_id,
    )  # fmt: skip
    try:
        async for data in download:
            return bytes(data)
        return b""
    finally:
        # Hands back the sender borrowed for the other DC; an iterator stopped before
        # its first request has none.
        with contextlib.suppress(AttributeError):
            await download.close()


class MtprotoSource:
    """A :class:`~sluice.apps.filelink._model.ByteSource` over a pool of bots.

    Parameters:
        pool: started clients, one (or more) per bot; every call goes through its gate.
        window: pieces in flight (and held) per stream; at most 1 MiB each.
        hedge_after: seconds a piece may take before it is asked of another bot too.
        piece_timeout: seconds one bot gets for one piece, waits included; a flood
            wait longer than this is never waited out.
        per_bot: ``upload.getFile`` requests one bot has in flight at most.
        bot_rate: requests a second one bot starts at most (halved on a flood wait,
            won back as it answers).
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        pool: TelethonPool,
        *,
        window: int | None = None,
        hedge_after: float = 4.0,
        piece_timeout: float = 30.0,
        per_bot: int = 8,
        bot_rate: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window is not None and window < 1:
            raise ValueError("window must be at least 1 piece")
        if per_bot < 1 or bot_rate <= 0:
            raise ValueError("per_bot must be at least 1 and bot_rate positive")
        self.pool = pool
        self.hedge_after = hedge_after
        self.piece_timeout = piece_timeout
        self.clock = clock
        self._window = window
        self.stats: dict[int, BotStats] = {a: BotStats(a) for a in pool.accounts}
        self._pacers = {a: _Pacer(per_bot, bot_rate) for a in pool.accounts}
        self._locations: OrderedDict[tuple[int, int], _Location] = OrderedDict()
        self._locating: dict[tuple[int, int], asyncio.Future[_Location]] = {}
        self.streams = 0  # open now
        self.served = 0  # bytes handed to readers

    def window(self) -> int:
        """Pieces in flight per stream: two per bot that can serve, from 4 to 12."""
        if self._window is not None:
            return self._window
        usable = sum(1 for s in self.stats.values() if s.can_read_storage)
        return min(12, max(4, 2 * usable))

    def set_storage_readers(self, readers: dict[int, str]) -> None:
        """Which bots can read the storage channel: account id -> "" or why not.
        A bot that cannot serves no piece."""
        for account, reason in readers.items():
            if account in self.stats:
                self.stats[account].can_read_storage = not reason
                self.stats[account].reason = reason

    def forget(self, file: StoredFile) -> None:
        """Drop a file's cached locations (its stored message moved)."""
        for key in [k for k in self._locations if k[0] == file.id]:
            del self._locations[key]

    # -- streaming -----------------------------------------------------------------

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Bytes ``[start, end)`` of ``file``, in order, fetched ahead ``window`` pieces;
        ``aclose()`` cancels what is in flight and returns once it stopped."""
        end = min(end, file.size)
        start = max(start, 0)
        if start >= end:
            return
        self.streams += 1
        pieces = plan(start, end)
        in_flight: deque[tuple[int, int, asyncio.Task[bytes]]] = deque()
        position = start
        try:
            # A slow start: two pieces (the first byte needs one), then one more for
            # each piece read, up to the window. A player that opens and seeks again
            # at once, or many streams opening together, ask for little.
            target = min(self.window(), START_WINDOW)
            while len(in_flight) < target and self._launch(file, pieces, in_flight):
                pass
            while in_flight:
                offset, limit, task = in_flight.popleft()
                data = await task
                target = min(self.window(), target + 1)
                while len(in_flight) < target and self._launch(file, pieces, in_flight):
                    pass
                if len(data) < min(limit, file.size - offset):
                    # Telegram answers short only at the end of a file: this one is not
                    # the size its record says. Never hand out a hole.
                    raise StreamFailed(
                        f"file {file.id}: bytes {offset}-{offset + limit} came back "
                        f"{len(data)} long; the stored file is shorter than its {file.size} bytes"
                    )
                chunk = data[position - offset : min(offset + limit, end) - offset]
                if not chunk:
                    continue
                position += len(chunk)
                self.served += len(chunk)
                yield chunk
        finally:
            self.streams -= 1
            tasks = [task for *_, task in in_flight]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)

    def _launch(
        self,
        file: StoredFile,
        pieces: Iterator[tuple[int, int]],
        in_flight: deque[tuple[int, int, asyncio.Task[bytes]]],
    ) -> bool:
        piece = next(pieces, None)
        if piece is None:
            return False
        offset, limit = piece
        in_flight.append((offset, limit, asyncio.create_task(self.piece(file, offset, limit))))
        return True

    # -- one piece -------------------------------------------------------------------

    async def piece(self, file: StoredFile, offset: int, limit: int) -> bytes:
        """One request's bytes, from whichever bot answers first.

        A bot in a flood wait hands the piece on at once; a slow one after
        ``hedge_after`` seconds (both go on, the first answer wins). When every
        usable bot was tried, they are tried again (a flooded one only if its
        wait ends within ``piece_timeout``), for up to three rounds; then
        :class:`StreamFailed`.
        """
        attempts: dict[asyncio.Task[bytes], int] = {}
        tried: set[int] = set()
        rounds = 0
        last: BaseException | None = None
        try:
            while True:
                if not attempts:
                    account = self._choose(tried)
                    if account is None and tried and rounds < ROUNDS:
                        rounds += 1
                        tried.clear()
                        account = self._choose(tried)
                    if account is None:
                        raise StreamFailed(
                            f"no bot could fetch bytes {offset}-{offset + limit} of file "
                            f"{file.id}: {self._why_none(last)}"
                        ) from last
                    tried.add(account)
                    attempts[self._attempt(file, account, offset, limit)] = account
                done, _ = await asyncio.wait(
                    attempts, timeout=self.hedge_after, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:  # slow: ask another bot as well, keep the first answer
                    spare = self._choose(tried, healthy_only=True)
                    if spare is not None:
                        tried.add(spare)
                        attempts[self._attempt(file, spare, offset, limit)] = spare
                    continue
                for task in done:
                    attempts.pop(task)
                    error = task.exception()
                    if error is None:
                        return task.result()
                    if isinstance(error, _FileGone):
                        raise error
                    last = error
                    if not isinstance(error, _Flooded):
                        log.info("a bot could not fetch a piece of file %s: %r", file.id, error)
        finally:
            # The losers of a hedge, or every attempt of a stream that closed: stopped
            # and waited for, so that nothing of this piece runs on.
            for task in attempts:
                task.cancel()
            if attempts:
                await asyncio.wait(attempts)

    def _why_none(self, last: BaseException | None) -> str:
        """Why no bot is left for a piece: each bot's state, then the last error."""
        now = self.clock()
        reasons = []
        for s in self.stats.values():
            if not s.can_read_storage:
                why = s.reason or "cannot read the storage channel"
            elif self.pool.gate.account(s.account_id).paused:
                why = "is paused"
            elif s.blocked_until > now:
                why = f"is in a flood wait for {s.blocked_until - now:.0f} s"
            else:
                continue
            reasons.append(f"bot {s.account_id} {why}")
        if last is not None:
            reasons.append(f"last error: {type(last).__name__}: {last}")
        return "; ".join(reasons) or "the pool has no bot"

    def _attempt(
        self, file: StoredFile, account: int, offset: int, limit: int
    ) -> asyncio.Task[bytes]:
        # Counted now, not when the task first runs: the next piece, chosen before
        # then, must see this bot as busier.
        stats = self.stats[account]
        stats.in_flight += 1
        stats.last_used = self.clock()
        task = asyncio.create_task(self._fetch(file, account, offset, limit))
        task.add_done_callback(lambda _: _finished(stats))
        return task

    async def _fetch(self, file: StoredFile, account: int, offset: int, limit: int) -> bytes:
        stats = self.stats[account]
        try:
            location = await self.locate(file, account=account)
            for _ in range(2):  # a second time after an expired file reference
                try:
                    data = await self._get(account, location, offset, limit)
                except errors.RPCError as exc:
                    if not _reference_expired(exc):
                        raise
                    location = await self.locate(file, stale=location.version, account=account)
                    continue
                stats.pieces += 1
                stats.bytes += len(data)
                return data
            raise StreamFailed(f"file {file.id}: its file reference expired twice in a row")
        except _Flooded:
            raise
        except Exception as exc:
            stats.failures += 1
            if _cannot_read(exc):  # e.g. CHANNEL_PRIVATE on upload.getFile: it left
                self._unreadable(stats, exc)
            raise

    async def _get(self, account: int, location: _Location, offset: int, limit: int) -> bytes:
        """One ``upload.getFile`` on ``account``, through the gate. A flood wait there
        ends the attempt at once with :class:`_Flooded` (the gate has noted it, and
        holds the account's next calls until it ends), so the piece moves on."""
        stats = self.stats[account]
        flooded = asyncio.Event()

        async def get(client: Any) -> bytes:
            try:
                return await _get_file(client, location, offset, limit)
            except (errors.FloodWaitError, errors.FloodPremiumWaitError) as exc:
                stats.floods += 1
                stats.blocked_until = max(stats.blocked_until, self.clock() + exc.seconds)
                flooded.set()
                raise

        pacer = self._pacers[account]
        async with pacer.admit():
            call = asyncio.ensure_future(
                self.pool.call(
                    get,
                    chat_id=None,
                    accounts=[account],
                    method="upload.getFile",
                    limited=False,
                    timeout=self.piece_timeout,
                )
            )
            flood = asyncio.ensure_future(flooded.wait())
            try:
                await asyncio.wait({call, flood}, return_when=asyncio.FIRST_COMPLETED)
                answered = call.done() and not call.cancelled() and call.exception() is None
                if flooded.is_set() and not answered:
                    pacer.flooded()
                    raise _Flooded(f"bot {account} is in a flood wait")
                data: bytes = call.result()
                pacer.answered()
                return data
            finally:
                waiters = [w for w in (call, flood) if not w.done()]
                for waiter in waiters:
                    waiter.cancel()
                if waiters:
                    await asyncio.wait(waiters)

    def _choose(self, tried: set[int], *, healthy_only: bool = False) -> int | None:
        """The least loaded healthy bot not tried for this piece yet; else the one whose
        flood ends first, if it ends within ``piece_timeout`` (never one that cannot
        read the storage channel, nor one the gate paused)."""
        now = self.clock()
        candidates = [
            s for a, s in self.stats.items()
            if a not in tried and s.can_read_storage and not self.pool.gate.account(a).paused
        ]  # fmt: skip
        healthy = [s for s in candidates if s.healthy(now)]
        if healthy:
            return min(healthy, key=lambda s: (s.in_flight, s.last_used)).account_id
        waiting = [s for s in candidates if s.blocked_until - now <= self.piece_timeout]
        if healthy_only or not waiting:
            return None
        return min(waiting, key=lambda s: s.blocked_until).account_id

    # -- where the file is -------------------------------------------------------------

    async def locate(
        self, file: StoredFile, *, stale: int | None = None, account: int | None = None
    ) -> _Location:
        """The file's location as ``account`` reads it from the stored message (each bot
        gets its own file reference; by default the first bot that can read the
        storage channel); read again when the one of version ``stale`` expired. Reads
        of one bot for one file are shared: many pieces that met one expired
        reference read the message once."""
        if account is None:
            readers = [a for a, s in self.stats.items() if s.can_read_storage]
            if not readers:
                raise StreamFailed(f"file {file.id}: {self._why_none(None)}")
            account = readers[0]
        elif not self.stats[account].can_read_storage:
            # Found out by another piece a moment ago: no second read to learn it again.
            raise StreamFailed(f"bot {account} {self.stats[account].reason}")
        key = (file.id, account)
        current = self._locations.get(key)
        if current is not None and (stale is None or current.version != stale):
            self._locations.move_to_end(key)
            return current
        pending = self._locating.get(key)
        if pending is None:
            version = 0 if current is None else current.version + 1
            pending = asyncio.ensure_future(self._read_location(file, account, version))
            self._locating[key] = pending
            pending.add_done_callback(lambda _: self._locating.pop(key, None))
        # Shielded: one piece that gives up must not cancel the read others wait for.
        return await asyncio.shield(pending)

    async def _read_location(self, file: StoredFile, account: int, version: int) -> _Location:
        async def read(client: Any) -> _Location:
            message = await client.get_messages(file.chat_id, ids=file.message_id)
            if message is None or message.media is None:
                raise _FileGone(f"file {file.id}: its stored message is gone")
            try:
                dc_id, location = utils.get_input_location(message.media)
            except TypeError:  # a web page, a poll...: the file is not there any more
                raise _FileGone(f"file {file.id}: its stored message holds no file") from None
            return _Location(location, dc_id, version)

        stats = self.stats[account]
        stats.locates += 1
        try:
            location: _Location = await self.pool.call(
                read, chat_id=file.chat_id, accounts=[account], method="channels.getMessages",
                limited=False, timeout=self.piece_timeout,
            )  # fmt: skip
        except Exception as exc:
            # ValueError: Telethon could not resolve the channel for this bot.
            if isinstance(exc, ValueError) or _cannot_read(exc):
                self._unreadable(stats, exc)
            raise
        key = (file.id, account)
        self._locations[key] = location
        self._locations.move_to_end(key)
        while len(self._locations) > _MAX_LOCATIONS:
            self._locations.popitem(last=False)
        return location

    def _unreadable(self, stats: BotStats, exc: BaseException) -> None:
        if stats.can_read_storage:
            stats.can_read_storage = False
            stats.reason = f"cannot read the storage channel ({type(exc).__name__})"
            log.warning("bot %s %s: it serves nothing", stats.account_id, stats.reason)

    def describe(self) -> list[dict[str, object]]:
        """Per bot: what it did and whether it is usable now (``/botstats``)."""
        now = self.clock()
        return [
            {
                "account_id": s.account_id, "in_flight": s.in_flight, "pieces": s.pieces,
                "bytes": s.bytes, "floods": s.floods, "failures": s.failures,
                "locates": s.locates, "blocked_for": max(0.0, s.blocked_until - now),
                "paused": self.pool.gate.account(s.account_id).paused,
                "healthy": s.healthy(now) and not self.pool.gate.account(s.account_id).paused,
                "can_read_storage": s.can_read_storage, "reason": s.reason,
            }
            for s in self.stats.values()
        ]  # fmt: skip
