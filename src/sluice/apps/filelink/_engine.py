"""The streaming engine: a file's bytes over MTProto ``upload.getFile``, through
every bot of the pool at once.

A stream is cut into requests Telegram accepts (:func:`plan`): a small first
piece, so the first byte leaves after one round trip, then aligned 1 MiB
blocks. A window of them is in flight, each on the least loaded healthy bot,
and they are handed out in order as each arrives: no batch waits for its
slowest member. A piece whose bot is flooded, fails or stalls is asked of
another bot (the first answer wins); an expired file reference fetches the
stored message again, once, and the stream goes on. The window is the
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
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sluice._exceptions import SluiceError
from sluice.apps.filelink._model import StoredFile
from sluice.integrations.telethon import TelethonPool

__all__ = ["BotStats", "MtprotoSource", "StreamFailed", "plan"]

log = logging.getLogger("sluice.apps.filelink")

KIB = 1024
MIB = 1024 * KIB
HEAD = 64 * KIB  # the first piece of a stream: one round trip, little transfer


class StreamFailed(SluiceError):
    """No bot of the pool could fetch a piece of the file (the stream ends short)."""


def _floor_pow2(n: int) -> int:
    return 1 << (n.bit_length() - 1)


def plan(start: int, end: int, *, head: int = HEAD) -> Iterator[tuple[int, int]]:
    """The ``(offset, limit)`` requests that cover bytes ``[start, end)``.

    Telegram's rules: offset and limit multiples of 4 KiB, 1 MiB a multiple of
    limit, no request across a 1 MiB boundary. The first is at most ``head``
    bytes from ``start`` rounded down to 4 KiB; then whole aligned blocks (the
    first of which may repeat a few bytes of the head; they are cut away).
    """
    if start >= end:
        return
    offset = start - start % (4 * KIB)
    room = MIB - offset % MIB  # to the next 1 MiB boundary
    limit = _floor_pow2(min(head, room))
    yield offset, limit
    covered = offset + limit
    block = covered - covered % MIB
    while block < end:
        if block + MIB > covered:
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
    blocked_until: float = 0.0
    last_used: float = 0.0
    can_read_storage: bool = True
    reason: str = ""  # why it cannot read the storage channel

    def healthy(self, now: float) -> bool:
        return self.blocked_until <= now


@dataclass
class _Location:
    """Where a file's bytes are fetched from, as one stored message last told."""

    input_location: Any
    dc_id: int | None
    version: int = 0
    refreshing: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Flooded(Exception):
    """Raised inside a piece's attempt so that it moves at once (the gate has the flood)."""


class MtprotoSource:
    """A :class:`~sluice.apps.filelink._model.ByteSource` over a pool of bots.

    Parameters:
        pool: started clients, one (or more) per bot; every call goes through its gate.
        window: pieces in flight (and held) per stream; at most 16 MiB each.
        hedge_after: seconds a piece may take before it is asked of another bot too.
        piece_timeout: seconds one bot gets for one piece, waits included.
        clock: monotonic seconds (tests inject one).
    """

    def __init__(
        self,
        pool: TelethonPool,
        *,
        window: int | None = None,
        hedge_after: float = 4.0,
        piece_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pool = pool
        self.hedge_after = hedge_after
        self.piece_timeout = piece_timeout
        self.clock = clock
        self._window = window
        self.stats: dict[int, BotStats] = {a: BotStats(a) for a in pool.accounts}
        self._locations: dict[int, _Location] = {}
        self._locating: dict[int, asyncio.Future[_Location]] = {}
        self.streams = 0  # open now
        self.served = 0  # bytes handed to readers

    def window(self) -> int:
        """Pieces in flight per stream: two per usable bot, from 4 to 12 (12 MiB held at most)."""
        if self._window is not None:
            return self._window
        return min(12, max(4, 2 * len(self.stats)))

    def set_storage_readers(self, readers: dict[int, str]) -> None:
        """Which bots can read the storage channel: account id -> "" or why not."""
        for account, reason in readers.items():
            if account in self.stats:
                self.stats[account].can_read_storage = not reason
                self.stats[account].reason = reason

    def forget(self, file: StoredFile) -> None:
        """Drop a file's cached location (its stored message moved)."""
        self._locations.pop(file.id, None)

    # -- streaming -----------------------------------------------------------------

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` of ``file``, in order, fetched ahead ``window`` pieces."""
        end = min(end, file.size)
        if start >= end:
            return
        self.streams += 1
        pieces = plan(start, end)
        in_flight: deque[tuple[int, asyncio.Task[bytes]]] = deque()
        position = start
        try:
            for _ in range(self.window()):
                if not self._launch(file, pieces, in_flight):
                    break
            while in_flight:
                offset, task = in_flight.popleft()
                data = await task
                self._launch(file, pieces, in_flight)  # keep the window full
                lo, hi = position - offset, min(len(data), end - offset)
                if hi <= lo:
                    if offset + len(data) < end and len(data) < MIB:
                        raise StreamFailed(f"file {file.id} ended at {offset + len(data)} bytes")
                    continue
                chunk = data[lo:hi] if (lo, hi) != (0, len(data)) else data
                position += len(chunk)
                self.served += len(chunk)
                yield chunk
            if position < end:
                raise StreamFailed(f"file {file.id} ended at {position} of {end} bytes")
        finally:
            self.streams -= 1
            for _, task in in_flight:
                task.cancel()
            for _, task in in_flight:
                with contextlib.suppress(BaseException):
                    await task

    def _launch(
        self,
        file: StoredFile,
        pieces: Iterator[tuple[int, int]],
        in_flight: deque[tuple[int, asyncio.Task[bytes]]],
    ) -> bool:
        piece = next(pieces, None)
        if piece is None:
            return False
        offset, limit = piece
        in_flight.append((offset, asyncio.create_task(self.piece(file, offset, limit))))
        return True

    # -- one piece -------------------------------------------------------------------

    async def piece(self, file: StoredFile, offset: int, limit: int) -> bytes:
        """One request's bytes, from whichever bot answers first.

        A bot in a flood wait hands the piece on at once; a slow one after
        ``hedge_after`` seconds (both go on, the first answer wins). When every
        bot was tried, the one whose flood ends first is tried again, for up to
        three rounds; then :class:`StreamFailed`.
        """
        attempts: dict[asyncio.Task[bytes], int] = {}
        tried: set[int] = set()
        rounds = 0
        last: BaseException | None = None
        try:
            while True:
                if not attempts:
                    account = self._choose(tried)
                    if account is None and tried and rounds < 3:
                        rounds += 1
                        tried.clear()
                        account = self._choose(tried)
                    if account is None:
                        raise StreamFailed(
                            f"no bot could fetch bytes {offset}-{offset + limit} of file "
                            f"{file.id} ({type(last).__name__ if last else 'no bot usable'})"
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
                    if task.exception() is None:
                        return task.result()
                    last = task.exception()
                    if not isinstance(last, _Flooded):
                        log.info("a bot could not fetch a piece of file %s: %r", file.id, last)
        finally:
            for task in attempts:
                task.cancel()

    def _attempt(
        self, file: StoredFile, account: int, offset: int, limit: int
    ) -> asyncio.Task[bytes]:
        return asyncio.create_task(self._fetch(file, account, offset, limit))

    async def _fetch(self, file: StoredFile, account: int, offset: int, limit: int) -> bytes:
        from telethon import errors  # type: ignore[import-untyped]

        stats = self.stats[account]
        stats.in_flight += 1
        stats.last_used = self.clock()
        try:
            location = await self.locate(file)
            for _ in range(2):  # a second time after an expired file reference
                try:
                    data = await self._get(account, location, offset, limit)
                except errors.FileReferenceExpiredError:
                    location = await self.locate(file, stale=location.version)
                    continue
                stats.pieces += 1
                stats.bytes += len(data)
                return data
            raise StreamFailed(f"file {file.id}: its file reference expired twice in a row")
        except _Flooded:
            raise
        except Exception:
            stats.failures += 1
            raise
        finally:
            stats.in_flight -= 1

    async def _get(self, account: int, location: _Location, offset: int, limit: int) -> bytes:
        """One ``upload.getFile`` on ``account``, through the gate. A flood wait there
        ends the attempt at once with :class:`_Flooded` (the gate has noted it, and
        holds the account's next calls until it ends), so the piece moves on."""
        from telethon import errors

        stats = self.stats[account]
        flooded = asyncio.Event()

        async def get(client: Any) -> bytes:
            try:
                async for data in client.iter_download(
                    location.input_location, offset=offset, request_size=limit, limit=1,
                    dc_id=location.dc_id,
                ):  # fmt: skip
                    return bytes(data)
                return b""
            except (errors.FloodWaitError, errors.FloodPremiumWaitError) as exc:
                stats.floods += 1
                stats.blocked_until = self.clock() + exc.seconds
                flooded.set()
                raise

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
            if call.done():
                return call.result()
            raise _Flooded(f"bot {account} is in a flood wait")
        finally:
            for waiter in (call, flood):
                if not waiter.done():
                    waiter.cancel()
                    with contextlib.suppress(BaseException):
                        await waiter

    def _choose(self, tried: set[int], *, healthy_only: bool = False) -> int | None:
        """The least loaded healthy bot not tried for this piece yet; else the one whose
        flood ends first (never one the gate paused)."""
        now = self.clock()
        candidates = [
            s for a, s in self.stats.items()
            if a not in tried and not self.pool.gate.account(a).paused
        ]  # fmt: skip
        healthy = [s for s in candidates if s.healthy(now)]
        if healthy:
            return min(healthy, key=lambda s: (s.in_flight, s.last_used)).account_id
        if healthy_only or not candidates:
            return None
        return min(candidates, key=lambda s: s.blocked_until).account_id

    # -- where the file is -------------------------------------------------------------

    async def locate(self, file: StoredFile, *, stale: int | None = None) -> _Location:
        """The file's location, fetched from its stored message by a bot that can read
        the storage channel; again when the one of version ``stale`` expired."""
        current = self._locations.get(file.id)
        if current is not None and (stale is None or current.version != stale):
            return current
        pending = self._locating.get(file.id)
        if pending is None:
            version = 0 if current is None else current.version + 1
            pending = asyncio.ensure_future(self._read_location(file, version))
            self._locating[file.id] = pending
            pending.add_done_callback(lambda _: self._locating.pop(file.id, None))
        location = await asyncio.shield(pending)
        self._locations[file.id] = location
        return location

    async def _read_location(self, file: StoredFile, version: int) -> _Location:
        from telethon import utils

        readers = [a for a, s in self.stats.items() if s.can_read_storage]

        async def read(client: Any) -> _Location:
            message = await client.get_messages(file.chat_id, ids=file.message_id)
            if message is None or message.media is None:
                raise StreamFailed(f"file {file.id}: its stored message is gone")
            dc_id, location = utils.get_input_location(message.media)
            return _Location(location, dc_id, version)

        return await self.pool.call(
            read, chat_id=file.chat_id, accounts=readers or None, method="channels.getMessages",
            limited=False, timeout=self.piece_timeout,
        )  # fmt: skip

    def describe(self) -> list[dict[str, object]]:
        """Per bot: what it did and whether it is usable now (``/botstats``)."""
        now = self.clock()
        return [
            {
                "account_id": s.account_id, "in_flight": s.in_flight, "pieces": s.pieces,
                "bytes": s.bytes, "floods": s.floods, "failures": s.failures,
                "blocked_for": max(0.0, s.blocked_until - now),
                "paused": self.pool.gate.account(s.account_id).paused,
                "can_read_storage": s.can_read_storage, "reason": s.reason,
            }
            for s in self.stats.values()
        ]  # fmt: skip
