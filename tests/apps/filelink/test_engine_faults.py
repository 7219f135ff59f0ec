"""The streaming engine when things go wrong, against the emulator's MTProto side with
real Telethon clients: a flood wait, a dropped connection, expired file references,
a bot removed from the storage channel, a 4 GiB file's far end, a slow reader, a
restart, and a pool where no bot can serve."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtproto_support import API_HASH, API_ID, emulator_dc
from sluice.accounts import MTProtoCredential
from sluice.apps.filelink._engine import MIB, MtprotoSource, StreamFailed, plan
from sluice.apps.filelink._model import StoredFile
from sluice.emulator import Emulator, EmulatorConfig, EmulatorServer, synthetic_bytes
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, BOT_B, TOKEN_A, TOKEN_B, Sim
from vclock import ManualClock

KIB = 1024
GIB = 1024 * MIB
# Hedging is not what these tests are about: a slow CI box must not start one and
# make the request counts they check vary.
NO_HEDGE = 600.0


async def _stored(sim: Sim, storage: int, size: int, seed: int) -> StoredFile:
    posted = await sim.synthetic(storage, size, seed=seed, kind="video", file_name="v.mp4")
    file = posted["file"]
    return StoredFile(
        id=seed, unique_id=file["file_unique_id"], file_id="", kind="video", name="v.mp4",
        mime="video/mp4", size=size, chat_id=storage,
        message_id=posted["message"]["message_id"], created_at=0.0,
    )  # fmt: skip


async def _read(source: MtprotoSource, file: StoredFile, start: int, end: int) -> bytes:
    got = bytearray()
    async for chunk in source.stream(file, start, end):
        got += chunk
    return bytes(got)


def _pieces(start: int, end: int) -> int:
    return len(list(plan(start, end)))


def _stats(source: MtprotoSource) -> dict[int, dict[str, object]]:
    return {int(str(s["account_id"])): s for s in source.describe()}


async def _get_messages(sim: Sim, account: int) -> int:
    return int((await sim.mtproto_calls()).get(account, {}).get("channels.getMessages", 0))


async def _requests(sim: Sim, account: int) -> int:
    return int((await sim.downloads()).get(account, {}).get("requests", 0))


# -- the plan ------------------------------------------------------------------------------


def _check_plan(start: int, end: int) -> list[tuple[int, int]]:
    """Telegram's upload.getFile rules, the range covered, and no request wasted."""
    pieces = list(plan(start, end))
    covered = start  # every byte before it is fetched
    for offset, limit in pieces:
        assert offset % (4 * KIB) == 0
        assert limit % (4 * KIB) == 0
        assert 0 < limit <= MIB
        assert MIB % limit == 0
        assert offset // MIB == (offset + limit - 1) // MIB  # within one 1 MiB block
        assert offset <= covered < offset + limit  # no gap, and each adds bytes
        covered = offset + limit
    assert covered >= end
    return pieces


@given(
    start=st.integers(min_value=0, max_value=4 * GIB - 1),
    length=st.integers(min_value=1, max_value=5 * MIB),
)
def test_every_plan_keeps_telegrams_rules_covers_the_range_and_wastes_no_request(
    start: int, length: int
) -> None:
    _check_plan(start, min(start + length, 4 * GIB))


def test_a_range_the_first_piece_covers_is_one_request() -> None:
    assert list(plan(0, 1)) == [(0, 64 * KIB)]
    assert list(plan(5000, 5001)) == [(4096, 64 * KIB)]
    assert list(plan(MIB - 10, MIB - 5)) == [(MIB - 4 * KIB, 4 * KIB)]


async def test_the_far_end_of_a_4_gib_file_streams_byte_identical(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 4 * GIB - 12_345  # the last block is not whole
    file = await _stored(sim, storage, size, seed=5)
    source = MtprotoSource(pool, hedge_after=NO_HEDGE)
    last_mib = (size - MIB, size)
    boundary = size - size % MIB  # the last 1 MiB boundary before the end
    straddling = (boundary - 5000, boundary + 5000)
    for start, end in (last_mib, straddling):
        pieces = _check_plan(start, end)
        assert pieces[-1][0] + pieces[-1][1] >= end > pieces[-1][0]
        assert await _read(source, file, start, end) == synthetic_bytes(5, start, end - start)
    # Past the end is cut to the end: the last byte, once.
    assert await _read(source, file, size - 1, size + 10 * MIB) == synthetic_bytes(5, size - 1, 1)
    # One request a piece: a 1 MiB block is not split in two 512 KiB ones.
    answered = await _requests(sim, BOT_A) + await _requests(sim, BOT_B)
    assert answered == _pieces(*last_mib) + _pieces(*straddling) + 1


async def test_a_file_on_another_dc_streams_byte_identical(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 3 * MIB + 99
    file = await _stored(sim, storage, size, seed=6)
    await sim.file_dc(file.unique_id, 2)  # the bots live on DC 1: FILE_MIGRATE_2 there
    source = MtprotoSource(pool, hedge_after=NO_HEDGE)
    assert await _read(source, file, 0, size) == synthetic_bytes(6, 0, size)
    assert await _read(source, file, MIB - 7, MIB + 7) == synthetic_bytes(6, MIB - 7, 14)
    calls = await sim.mtproto_calls()
    assert calls[BOT_A].get("auth.exportAuthorization", 0) == 1  # once, not once a piece
    assert source.served == size + 14


# -- a flood wait and a dropped connection -----------------------------------------------


async def test_a_flood_wait_mid_stream_moves_the_block_to_the_other_bot_at_once(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 24 * MIB + 777
    file = await _stored(sim, storage, size, seed=11)
    # Bot A's fifth upload.getFile is answered FLOOD_WAIT_300.
    await sim.flood_mtproto(BOT_A, 300, after_requests=4)
    clock = ManualClock()  # the engine's: frozen, so A stays flooded the whole stream
    source = MtprotoSource(pool, hedge_after=NO_HEDGE, clock=clock)
    began = time.monotonic()
    got = await _read(source, file, 0, size)
    elapsed = time.monotonic() - began

    assert got == synthetic_bytes(11, 0, size)
    assert elapsed < 30  # a tenth of the flood: it was not waited out
    served = await sim.downloads()
    assert served[BOT_A]["flood_waits"] == 1
    assert served[BOT_B]["flood_waits"] == 0
    # Every piece answered exactly once: the refused one by B, and A was asked nothing
    # after its flood but what it had in flight already.
    assert served[BOT_A]["requests"] + served[BOT_B]["requests"] == _pieces(0, size)
    assert 4 <= served[BOT_A]["requests"] <= 5
    stats = _stats(source)
    # (twice if the piece A had in flight was refused by Telethon itself: it remembers
    # the flood wait of upload.getFile and raises it without asking)
    assert stats[BOT_A]["floods"] in (1, 2)
    assert stats[BOT_A]["blocked_for"] == 300
    assert stats[BOT_A]["healthy"] is False
    assert stats[BOT_A]["pieces"] == served[BOT_A]["requests"]
    assert stats[BOT_B]["pieces"] == served[BOT_B]["requests"]
    assert stats[BOT_B]["healthy"] is True
    assert source.served == size


async def test_a_connection_dropped_mid_stream_still_delivers_every_byte(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 16 * MIB + 5
    file = await _stored(sim, storage, size, seed=12)
    # A's connection closes when it asks for a part after its next 3 requests.
    await sim.drop_mtproto(BOT_A, after_requests=3)
    source = MtprotoSource(pool, hedge_after=NO_HEDGE)
    got = await _read(source, file, 0, size)
    assert got == synthetic_bytes(12, 0, size)
    served = await sim.downloads()
    assert served[BOT_A]["drops"] == 1
    assert served[BOT_A]["requests"] > 3  # A reconnected and served on
    assert source.served == size


# -- expired file references and a bot removed from the storage channel --------------------


class TestOnTheEmulatorsClock:
    """The emulator's clock is the test's: file references expire when it says."""

    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    async def server(
        self, emulator_config: EmulatorConfig, clock: ManualClock
    ) -> AsyncIterator[EmulatorServer]:
        async with EmulatorServer(emulator=Emulator(emulator_config, clock=clock)) as srv:
            yield srv

    async def test_an_expired_file_reference_is_read_again_once_per_bot(
        self,
        server: EmulatorServer,
        clock: ManualClock,
        sim: Sim,
        storage: int,
        pool: TelethonPool,
    ) -> None:
        size = 20 * MIB + 3
        file = await _stored(sim, storage, size, seed=13)
        ttl = server.emulator.config.mtproto.file_reference_ttl
        source = MtprotoSource(pool, window=8, hedge_after=NO_HEDGE)
        got = bytearray()
        async for chunk in source.stream(file, 0, size):
            got += chunk
            if len(got) >= 4 * MIB and clock.now < 1000 + ttl:
                # Both bots read the message and fetched with their reference; now
                # every reference handed out so far expires, with pieces in flight.
                assert await _get_messages(sim, BOT_A) == 1
                assert await _get_messages(sim, BOT_B) == 1
                clock.now += ttl + 1
        assert bytes(got) == synthetic_bytes(13, 0, size)
        # Up to four pieces per bot met the expired reference; each bot read the
        # stored message again once, and went on.
        assert await _get_messages(sim, BOT_A) == 2
        assert await _get_messages(sim, BOT_B) == 2
        stats = _stats(source)
        assert (stats[BOT_A]["locates"], stats[BOT_B]["locates"]) == (2, 2)
        assert stats[BOT_A]["failures"] == stats[BOT_B]["failures"] == 0

    async def test_a_bot_removed_mid_stream_is_found_out_and_the_other_carries_on(
        self,
        server: EmulatorServer,
        clock: ManualClock,
        sim: Sim,
        storage: int,
        pool: TelethonPool,
    ) -> None:
        size = 20 * MIB + 3
        file = await _stored(sim, storage, size, seed=14)
        ttl = server.emulator.config.mtproto.file_reference_ttl
        source = MtprotoSource(pool, hedge_after=NO_HEDGE)
        got = bytearray()
        async for chunk in source.stream(file, 0, size):
            got += chunk
            if len(got) >= 4 * MIB and clock.now < 1000 + ttl:
                assert await _requests(sim, BOT_B) > 0  # B served part of the stream
                await sim.remove_member(storage, bot_id=BOT_B)
                # Telegram refuses the reference of a bot that left at the latest when
                # it expires: the bot must read the message again, and cannot.
                clock.now += ttl + 1
        assert bytes(got) == synthetic_bytes(14, 0, size)
        stats = _stats(source)
        assert stats[BOT_B]["can_read_storage"] is False
        assert stats[BOT_B]["healthy"] is False
        assert "storage channel" in str(stats[BOT_B]["reason"])
        assert stats[BOT_A]["can_read_storage"] is True
        assert await _get_messages(sim, BOT_B) == 2  # its first read, and the refused one
        # Once refused, B is asked for nothing more: what it served, it served before.
        assert stats[BOT_B]["pieces"] == await _requests(sim, BOT_B)
        b_before = await _requests(sim, BOT_B)
        assert await _read(source, file, 0, 3 * MIB) == synthetic_bytes(14, 0, 3 * MIB)
        assert await _requests(sim, BOT_B) == b_before
        assert await _get_messages(sim, BOT_B) == 2


async def test_a_bot_removed_before_the_stream_serves_nothing(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 12 * MIB + 1
    file = await _stored(sim, storage, size, seed=15)
    await sim.remove_member(storage, bot_id=BOT_B)
    source = MtprotoSource(pool, hedge_after=NO_HEDGE)
    assert await _read(source, file, 0, size) == synthetic_bytes(15, 0, size)
    served = await sim.downloads()
    assert BOT_B not in served  # its reading the message failed: it fetched nothing
    assert served[BOT_A]["requests"] == _pieces(0, size)
    stats = _stats(source)
    assert (stats[BOT_B]["can_read_storage"], stats[BOT_B]["healthy"]) == (False, False)
    assert stats[BOT_A]["healthy"] is True
    assert await _get_messages(sim, BOT_B) == 1  # found out once, not once per piece


async def test_a_bot_the_start_reported_unable_is_never_asked(
    sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 3 * MIB
    file = await _stored(sim, storage, size, seed=16)
    source = MtprotoSource(pool, hedge_after=NO_HEDGE)
    source.set_storage_readers({BOT_A: "", BOT_B: "is left of the storage channel"})
    assert await _read(source, file, 0, size) == synthetic_bytes(16, 0, size)
    assert BOT_B not in await sim.downloads()
    assert await _get_messages(sim, BOT_B) == 0
    assert _stats(source)[BOT_B]["reason"] == "is left of the storage channel"


# -- no bot can serve ------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["removed", "flooded"])
async def test_when_no_bot_can_serve_the_stream_fails_at_once(
    sim: Sim, storage: int, pool: TelethonPool, fault: str
) -> None:
    size = 8 * MIB
    file = await _stored(sim, storage, size, seed=17)
    for bot in (BOT_A, BOT_B):
        if fault == "removed":
            await sim.remove_member(storage, bot_id=bot)
        else:  # for far longer than a piece may wait
            await sim.flood_mtproto(bot, 3000)
    source = MtprotoSource(pool, hedge_after=NO_HEDGE, piece_timeout=30)
    began = time.monotonic()
    async with asyncio.timeout(25):  # a hang fails the test instead of stalling it
        with pytest.raises(StreamFailed) as failed:
            await _read(source, file, 0, size)
    assert time.monotonic() - began < 10  # no piece_timeout was waited out
    assert source.streams == 0
    message = str(failed.value)
    stats = _stats(source)
    for bot in (BOT_A, BOT_B):
        assert f"bot {bot}" in message
        assert stats[bot]["healthy"] is False
        assert stats[bot]["in_flight"] == 0
    if fault == "removed":
        assert all(stats[bot]["can_read_storage"] is False for bot in (BOT_A, BOT_B))
        assert "storage channel" in message
    else:
        assert all(stats[bot]["floods"] == 1 for bot in (BOT_A, BOT_B))
        assert "flood wait" in message


# -- backpressure and closing ------------------------------------------------------------


class GetFileProbe:
    """Wraps the pool's calls: counts upload.getFile as the engine starts them, checks
    at each start that the reader is never more than ``window`` pieces behind, and can
    hold new ones before they reach the network."""

    def __init__(self, pool: TelethonPool, monkeypatch: pytest.MonkeyPatch, window: int) -> None:
        self.window = window
        self.consumed = 0  # pieces the reader took (the test counts them)
        self.started = 0
        self.running = 0
        self.cancelled = 0
        self.most_ahead = 0
        self.hold: asyncio.Event | None = None
        self.changed = asyncio.Condition()
        real: Callable[..., Awaitable[Any]] = pool.call

        async def call(fn: Any, **kw: Any) -> Any:
            if kw.get("method") != "upload.getFile":
                return await real(fn, **kw)
            self.started += 1
            self.running += 1
            # A request started is a piece fetched ahead of the reader.
            self.most_ahead = max(self.most_ahead, self.started - self.consumed)
            await self._notify()
            try:
                if self.hold is not None:
                    await self.hold.wait()
                return await real(fn, **kw)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            finally:
                self.running -= 1
                await self._notify()

        monkeypatch.setattr(pool, "call", call)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(20), self.changed:
            await self.changed.wait_for(predicate)

    async def settled(self, started: int) -> None:
        """Until ``started`` requests were made and every one of them answered."""
        await self.until(lambda: self.started >= started and self.running == 0)


async def test_a_slow_reader_holds_at_most_window_pieces_and_closing_stops_fetching(
    sim: Sim, storage: int, pool: TelethonPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = 3
    size = 12 * MIB
    total = _pieces(0, size)
    file = await _stored(sim, storage, size, seed=18)
    probe = GetFileProbe(pool, monkeypatch, window)
    source = MtprotoSource(pool, window=window, hedge_after=NO_HEDGE)

    # A reader that takes a piece only once everything the engine asked for arrived:
    # the engine had every chance to fetch more, and must not have.
    got = bytearray()
    async for chunk in source.stream(file, 0, size):
        got += chunk
        probe.consumed += 1
        wanted = min(probe.consumed + window, total)
        await probe.settled(wanted)
        assert probe.started == wanted
    assert bytes(got) == synthetic_bytes(18, 0, size)
    assert probe.most_ahead == window  # it did fetch ahead, and never further
    served = await sim.downloads()
    assert served[BOT_A]["requests"] + served[BOT_B]["requests"] == total

    # Closing the stream with a piece in flight: it is cancelled, nothing more is asked.
    probe.started = probe.consumed = probe.most_ahead = 0
    stream = source.stream(file, 0, size)
    for _ in range(2):
        await anext(stream)
        probe.consumed += 1
    await probe.settled(2 + window)
    assert probe.started == 2 + window
    probe.hold = asyncio.Event()
    await anext(stream)  # the window moves: one more request, held before the network
    probe.consumed += 1
    await probe.until(lambda: probe.running == 1)
    before = await sim.downloads()
    await stream.aclose()
    assert (probe.started, probe.running, probe.cancelled) == (3 + window, 0, 1)
    assert source.streams == 0
    assert all(s["in_flight"] == 0 for s in source.describe())
    # Nothing of the stream runs on to ask for more.
    assert [name for name in _task_names() if "MtprotoSource" in name or "Probe" in name] == []
    probe.hold.set()
    assert probe.started == 3 + window
    assert await sim.downloads() == before


def _task_names() -> list[str]:
    return [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]


# -- a restart -----------------------------------------------------------------------------


async def test_a_restart_reuses_the_sessions_and_streams_without_signing_in(
    server: EmulatorServer, sim: Sim, storage: int, pool: TelethonPool, tmp_path: Path
) -> None:
    size = 5 * MIB + 9
    file = await _stored(sim, storage, size, seed=19)
    assert await _read(MtprotoSource(pool), file, 0, size) == synthetic_bytes(19, 0, size)
    calls = await sim.mtproto_calls()
    assert calls[BOT_A]["auth.importBotAuthorization"] == 1
    assert calls[BOT_B]["auth.importBotAuthorization"] == 1
    await pool.disconnect()

    again = TelethonPool.for_bots(
        Gate(), MTProtoCredential(API_ID, API_HASH), [TOKEN_A, TOKEN_B],
        data_dir=tmp_path / "data", dc=await emulator_dc(server),
    )  # fmt: skip
    await again.connect()
    try:
        assert again.accounts == [BOT_A, BOT_B]
        source = MtprotoSource(again)
        assert await _read(source, file, 0, size) == synthetic_bytes(19, 0, size)
        assert all(s["healthy"] for s in source.describe())
    finally:
        await again.disconnect()
    calls = await sim.mtproto_calls()
    assert calls[BOT_A]["auth.importBotAuthorization"] == 1  # no bot signed in again
    assert calls[BOT_B]["auth.importBotAuthorization"] == 1
    assert calls[BOT_A]["channels.getMessages"] >= 2  # the new process read the message
