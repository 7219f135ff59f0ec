"""``sluice bench stream``: the file-to-link streaming engine against the sequential
downloader of TG-FileStreamBot's Python forks.

The engine is :class:`~sluice.apps.filelink.MtprotoSource` over a ``TelethonPool`` of
1 to 8 bots, measured where its bytes come out of ``source.stream(...)`` (the HTTP
layer adds nothing it waits for). The contender asks ``upload.getFile`` for 1 MiB
at a time, one request after another, on one bot, with the same Telethon client.
Both read synthetic files from a storage channel of ``sluice emulator``, run as its
own process on loopback with a per-account download model like Telegram's
(:class:`Model`; docs/benchmarks.md says why these figures). Each phase signs in
bots of its own, so what one phase left queued on an account cannot slow the next.
Every phase is bounded in count and time; ``Plan.soak_seconds`` sets the long one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from telethon import TelegramClient, utils
from telethon.crypto import rsa
from telethon.tl import functions

from bench.harness import emulator_process, fake_token
from sluice.accounts import MTProtoCredential
from sluice.apps.filelink import MtprotoSource, StoredFile
from sluice.emulator import Sim
from sluice.gate import Gate
from sluice.integrations.telethon import TelethonPool

MIB = 1024 * 1024
FIRST_BOT = 7100001
API_ID, API_HASH = 4243, "0123456789abcdef0123456789abcdef"  # an obviously fake app
VIDEO_SIZE = 256 * MIB  # what the time-to-first-byte samples open
BIG_SIZE = 2 * 1024 * MIB  # the 2 GiB file the seeks, the throughput and the soak read
MAX_BOT_ADMINS = 50  # Telegram's cap on a channel's bot admins
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Model:
    """The emulator's per-account download model: what one bot gets from Telegram."""

    latency_ms: float = 100.0
    bot_mib_s: float = 6.0
    requests: str = "30/1"  # upload.getFile per account before FLOOD_WAIT

    def flags(self) -> tuple[str, ...]:
        return (
            "--download-latency-ms", f"{self.latency_ms:g}",
            "--download-mb-s", f"{self.bot_mib_s:g}",
            "--download-requests", self.requests,
        )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """How much of each measure: the defaults take about 13 minutes, 10 of them the soak."""

    model: Model = field(default_factory=Model)
    ttfb_bots: int = 8
    ttfb_samples: int = 40
    cold_samples: int = 20
    seek_samples: int = 40
    seconds: float = 8.0  # each MiB/s measure
    single_bots: tuple[int, ...] = (1, 4, 8)
    aggregate_bots: tuple[int, ...] = (1, 2, 4, 8)
    aggregate_streams: int = 50
    aggregate_ramp: float = 2.0  # the streams open one after another over this long
    aggregate_warmup: float = 3.0
    rss_bots: int = 8
    rss_streams: int = 200
    rss_ramp: float = 20.0
    player_mib_s: float = 0.125  # each soak viewer plays a 1 Mbit/s video
    watch_seconds: tuple[float, float] = (20.0, 120.0)  # then it seeks or leaves
    soak_seconds: float = 600.0
    soak_warmup: float = 120.0  # RSS growth counts from here (at most a quarter of the soak)
    retry_after_failure: float = 1.0  # a viewer whose stream failed asks again after this
    seed: int = 20261206

    def bots_needed(self) -> int:
        return self.ttfb_bots + 1 + sum(self.single_bots) + sum(self.aggregate_bots) + self.rss_bots


@dataclass
class _World:
    url: str
    emulator_pid: int | None
    dc: tuple[int, str, int]
    data_dir: Path
    video: StoredFile
    big: StoredFile
    bots: Iterator[int]  # bots no phase signed in yet


@dataclass
class _Unretrieved:
    """Exceptions of tasks nobody awaited, which asyncio would print one by one."""

    count: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if error is None:
            loop.default_exception_handler(context)
            return
        self.count += 1
        name = type(error).__name__
        self.kinds[name] = self.kinds.get(name, 0) + 1


# -- measuring the machine --------------------------------------------------------------


def _rss_mib() -> float:
    resident = int(Path("/proc/self/statm").read_text().split()[1])
    return resident * _PAGE / MIB


def _reset_peak_rss() -> bool:
    """Start VmHWM (the peak RSS) again from now; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _emulator_pid() -> int | None:
    """The ``sluice emulator`` process this one started (harness.emulator_process)."""
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):  # a kernel without children files: no CPU figure
            for pid in (task / "children").read_text().split():
                if b"emulator" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                    return int(pid)
    return None


class _Cpu:
    """The CPU this process and the emulator used since it was made, in % of one core."""

    def __init__(self, emulator_pid: int | None) -> None:
        self.pid = emulator_pid
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.emulator = _cpu_seconds(emulator_pid)

    def stop(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.wall
        return {
            "client_cpu_pct": round(100 * (time.process_time() - self.own) / elapsed, 1),
            "emulator_cpu_pct": round(100 * (_cpu_seconds(self.pid) - self.emulator) / elapsed, 1),
        }


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


# -- the world: an emulator, a storage channel, its bots ---------------------------------


async def _stored(sim: Sim, chat_id: int, size: int, seed: int) -> StoredFile:
    name = f"{seed}.mp4"
    posted = await sim.synthetic(
        chat_id, size, seed=seed, kind="video", file_name=name, mime_type="video/mp4"
    )
    file = posted["file"]
    return StoredFile(
        id=seed, unique_id=file["file_unique_id"], file_id=file.get("file_id", ""), kind="video",
        name=name, mime="video/mp4", size=size, chat_id=chat_id,
        message_id=int(posted["message"]["message_id"]), created_at=0.0,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _world(plan: Plan) -> AsyncIterator[_World]:
    bots = list(range(FIRST_BOT, FIRST_BOT + plan.bots_needed()))
    if len(bots) > MAX_BOT_ADMINS:
        raise ValueError(f"the plan needs {len(bots)} bots; a channel takes {MAX_BOT_ADMINS}")
    with tempfile.TemporaryDirectory(prefix="sluice-bench-stream-") as tmp:
        async with emulator_process("--seed", "1", *plan.model.flags()) as url:
            async with httpx.AsyncClient(base_url=url, trust_env=False) as http:
                for bot in bots:  # the emulator meets each bot
                    (await http.get(f"/bot{fake_token(bot)}/getMe")).raise_for_status()
                info = (await http.get("/_sim/mtproto")).json()
            rsa.add_key(info["rsa_public_key_pem"], old=False)
            # Telethon caches the DC list for every client of the process (a class
            # attribute): a run before this one may have cached another emulator's.
            TelegramClient._config = None
            dc = next(d for d in info["dcs"] if d["id"] == 1)
            async with Sim.connect(url) as sim:
                channel = await sim.chat("channel", title="storage", admin_bot_ids=bots)
                chat_id = int(channel["id"])
                video = await _stored(sim, chat_id, VIDEO_SIZE, plan.seed)
                big = await _stored(sim, chat_id, BIG_SIZE, plan.seed + 1)
            yield _World(
                url, _emulator_pid(), (int(dc["id"]), str(dc["host"]), int(dc["port"])),
                Path(tmp), video, big, iter(bots),
            )  # fmt: skip


@contextlib.asynccontextmanager
async def _pool(world: _World, bots: int) -> AsyncIterator[TelethonPool]:
    """A pool of ``bots`` bots no other phase used, signed in over MTProto."""
    tokens = [fake_token(next(world.bots)) for _ in range(bots)]
    pool = TelethonPool.for_bots(
        Gate(), MTProtoCredential(API_ID, API_HASH), tokens, data_dir=world.data_dir, dc=world.dc
    )
    await pool.connect()
    try:
        yield pool
    finally:
        await pool.disconnect()


async def _floods(world: _World) -> int:
    async with Sim.connect(world.url) as sim:
        return sum(account["flood_waits"] for account in (await sim.downloads()).values())


async def _locate_everywhere(source: MtprotoSource, file: StoredFile) -> None:
    """Every bot of the pool reads where the file is (each gets its own file reference):
    a warm source, as after a first viewer."""
    await asyncio.gather(*(source.locate(file, account=bot) for bot in source.pool.accounts))


def _plural(bots: int) -> str:
    return f"{bots} bot{'s' if bots > 1 else ''}"


# -- time to first byte -----------------------------------------------------------------


async def _first_byte(source: MtprotoSource, file: StoredFile, start: int) -> float:
    """Milliseconds from asking for ``[start, size)`` to its first bytes; then it closes."""
    started = time.perf_counter()
    async with contextlib.aclosing(source.stream(file, start, file.size)) as stream:
        async for _ in stream:
            return 1000 * (time.perf_counter() - started)
    raise AssertionError(f"file {file.id} streamed nothing from {start}")


async def first_bytes(world: _World, plan: Plan, progress: Progress) -> dict[str, Any]:
    """Warm (the location known) and cold (a fresh source) from the start of a video,
    and warm after a seek to a random offset of the 2 GiB file."""
    rng = random.Random(plan.seed)
    async with _pool(world, plan.ttfb_bots) as pool:
        source = MtprotoSource(pool)
        # A closed stream's requests are answered all the same: the next sample waits
        # until its window, spread over the bots, has left their pipes.
        per_bot = math.ceil(source.window() / plan.ttfb_bots)
        rest = plan.model.latency_ms / 1000 + per_bot / plan.model.bot_mib_s + 0.1
        await _locate_everywhere(source, world.video)
        await _locate_everywhere(source, world.big)
        warm, cold, seek = [], [], []
        for index in range(plan.ttfb_samples):
            progress(f"time to first byte, warm: {index + 1}/{plan.ttfb_samples}")
            warm.append(await _first_byte(source, world.video, 0))
            await asyncio.sleep(rest)
        for index in range(plan.cold_samples):
            progress(f"time to first byte, cold: {index + 1}/{plan.cold_samples}")
            cold.append(await _first_byte(MtprotoSource(pool), world.video, 0))
            await asyncio.sleep(rest)
        for index in range(plan.seek_samples):
            progress(f"seek to first byte: {index + 1}/{plan.seek_samples}")
            seek.append(await _first_byte(source, world.big, rng.randrange(world.big.size)))
            await asyncio.sleep(rest)
    return {
        "bots": plan.ttfb_bots,
        "warm_p50": round(statistics.median(warm), 1),
        "warm_p95": round(_percentile(warm, 95), 1),
        "cold_p50": round(statistics.median(cold), 1),
        "cold_p95": round(_percentile(cold, 95), 1),
        "seek_p50": round(statistics.median(seek), 1),
        "seek_p95": round(_percentile(seek, 95), 1),
    }


# -- one stream -------------------------------------------------------------------------


async def sequential(world: _World, plan: Plan, progress: Progress) -> dict[str, Any]:
    """The contender: 1 MiB ``upload.getFile`` requests one after another on one bot,
    as the Python forks of TG-FileStreamBot stream (no gate: they have none)."""
    progress(f"the sequential contender, 1 bot, {plan.seconds:g} s")
    async with _pool(world, 1) as pool:
        client = pool.clients[0]
        message = await client.get_messages(world.big.chat_id, ids=world.big.message_id)
        _, location = utils.get_input_location(message.media)
        got, offset = 0, 0
        started = time.perf_counter()
        while time.perf_counter() - started < plan.seconds:
            request = functions.upload.GetFileRequest(location=location, offset=offset, limit=MIB)
            got += len((await client(request)).bytes)
            offset += MIB
        elapsed = time.perf_counter() - started
    return {"mib_s": round(got / MIB / elapsed, 2)}


async def single_stream(world: _World, plan: Plan, bots: int, progress: Progress) -> dict[str, Any]:
    """One stream from the start of the 2 GiB file, read as fast as it comes."""
    progress(f"one stream, {_plural(bots)}, {plan.seconds:g} s")
    async with _pool(world, bots) as pool:
        source = MtprotoSource(pool)
        await _locate_everywhere(source, world.big)
        cpu = _Cpu(world.emulator_pid)
        got, elapsed = 0, 0.0
        started = time.perf_counter()
        async with contextlib.aclosing(source.stream(world.big, 0, world.big.size)) as stream:
            async for chunk in stream:
                got += len(chunk)
                elapsed = time.perf_counter() - started
                if elapsed >= plan.seconds:
                    break
        pieces = {str(s["account_id"]): s["pieces"] for s in source.describe()}
        return {"mib_s": round(got / MIB / elapsed, 2), "pieces_per_bot": pieces, **cpu.stop()}


# -- many streams -----------------------------------------------------------------------


@dataclass
class _Viewers:
    """Viewers of the 2 GiB file, each a task streaming from a random offset."""

    source: MtprotoSource
    file: StoredFile
    plan: Plan
    rng: random.Random
    served: int = 0
    opened: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # streams that ended early, by error
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def open(self, count: int, ramp: float, viewer: Callable[[float], Any]) -> None:
        """``count`` viewers, arriving one after another over ``ramp`` seconds."""
        self.tasks = [asyncio.create_task(viewer(i * ramp / count)) for i in range(count)]

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def stream(self) -> AsyncIterator[AsyncIterator[bytes]]:
        """A stream from a random offset; a failure counts, and the viewer asks again
        after a moment, as a player does."""
        self.opened += 1
        start = self.rng.randrange(self.file.size - 512 * MIB)
        stream = self.source.stream(self.file, start, self.file.size)
        try:
            async with contextlib.aclosing(stream):
                yield stream
        except Exception as error:  # a viewer counts it and goes on, as a player does
            name = type(error).__name__
            self.failed[name] = self.failed.get(name, 0) + 1
            await asyncio.sleep(self.plan.retry_after_failure)

    async def download(self, delay: float) -> None:
        """Read as fast as the bytes come (a download, or a player filling its buffer)."""
        await asyncio.sleep(delay)
        while True:
            async with self.stream() as stream:
                async for chunk in stream:
                    self.served += len(chunk)

    async def play(self, delay: float) -> None:
        """Read no faster than a player plays (its buffer full), so the engine holds what
        it fetched ahead; after a while, seek elsewhere or leave for another viewer."""
        await asyncio.sleep(delay)
        pace = self.plan.player_mib_s * MIB
        while True:
            watch = self.rng.uniform(*self.plan.watch_seconds)
            played, started = 0, time.perf_counter()
            async with self.stream() as stream:
                async for chunk in stream:
                    played += len(chunk)
                    self.served += len(chunk)
                    elapsed = time.perf_counter() - started
                    if elapsed >= watch:
                        break
                    await asyncio.sleep(max(0.0, played / pace - elapsed))


async def aggregate(world: _World, plan: Plan, bots: int, progress: Progress) -> dict[str, Any]:
    """``aggregate_streams`` streams at once, each read as fast as it comes: MiB/s for
    ``seconds`` once they have all opened and warmed up."""
    progress(f"{plan.aggregate_streams} streams, {_plural(bots)}")
    async with _pool(world, bots) as pool:
        source = MtprotoSource(pool)
        await _locate_everywhere(source, world.big)
        floods = await _floods(world)
        viewers = _Viewers(source, world.big, plan, random.Random(plan.seed + bots))
        viewers.open(plan.aggregate_streams, plan.aggregate_ramp, viewers.download)
        try:
            await asyncio.sleep(plan.aggregate_ramp + plan.aggregate_warmup)
            before, cpu = viewers.served, _Cpu(world.emulator_pid)
            started = time.perf_counter()
            await asyncio.sleep(plan.seconds)
            served, elapsed = viewers.served - before, time.perf_counter() - started
            usage = cpu.stop()
        finally:
            await viewers.close()
        return {
            "mib_s": round(served / MIB / elapsed, 2),
            "streams": plan.aggregate_streams,
            "opened": viewers.opened,
            "failed_streams": viewers.failed,
            "flood_waits": await _floods(world) - floods,
            **usage,
        }


# -- memory -----------------------------------------------------------------------------


async def soak(world: _World, plan: Plan, progress: Progress) -> dict[str, Any]:
    """``rss_streams`` players at once for ``soak_seconds`` once they have all opened:
    peak RSS over the baseline per stream, and RSS growth from the end of the warm-up
    to the end."""
    streams, bots = plan.rss_streams, plan.rss_bots
    async with _pool(world, bots) as pool:
        source = MtprotoSource(pool)
        await _locate_everywhere(source, world.big)
        floods = await _floods(world)
        gc.collect()
        baseline = peak = _rss_mib()
        exact_peak = _reset_peak_rss()
        viewers = _Viewers(source, world.big, plan, random.Random(plan.seed))
        viewers.open(streams, plan.rss_ramp, viewers.play)
        warmup = min(plan.soak_warmup, plan.soak_seconds / 4)
        samples: list[tuple[float, float]] = []  # (seconds since all opened, RSS MiB)
        served_at_open: int | None = None
        try:
            started = time.perf_counter() + plan.rss_ramp
            cpu = _Cpu(world.emulator_pid)
            while (now := time.perf_counter() - started) < plan.soak_seconds:
                if now >= 0 and served_at_open is None:
                    served_at_open = viewers.served
                rss = _rss_mib()
                peak = max(peak, rss)
                samples.append((now, rss))
                progress(
                    f"{streams} players, {_plural(bots)}: "
                    + (f"opening, {-now:.0f} s" if now < 0 else
                       f"soak {now:.0f}/{plan.soak_seconds:g} s")
                    + f"; RSS {rss:,.0f} MiB (baseline {baseline:,.0f}, peak {peak:,.0f})"
                )  # fmt: skip
                await asyncio.sleep(0.5)
            usage = cpu.stop()
            if exact_peak:
                peak = max(peak, _peak_rss_mib())
        finally:
            await viewers.close()
    served = viewers.served - (served_at_open or 0)  # while all of them were open
    # RSS moves as windows fill and drain: compare means over a few seconds.
    span = max(1.0, min(10.0, plan.soak_seconds / 10))
    at_warmup = [r for t, r in samples if warmup - span <= t < warmup] or [samples[-1][1]]
    at_end = [r for t, r in samples if t >= plan.soak_seconds - span] or [samples[-1][1]]
    warm, end = statistics.fmean(at_warmup), statistics.fmean(at_end)
    settled = [(t, r) for t, r in samples if t >= warmup] or samples[-1:]
    trend = (  # MiB a minute after the warm-up: steps of the allocator, or a leak
        60 * statistics.linear_regression(*zip(*settled, strict=True)).slope
        if len(settled) > 1 else 0.0
    )  # fmt: skip
    return {
        "bots": bots,
        "streams": streams,
        "baseline_mib": round(baseline, 1),
        "peak_mib": round(peak, 1),
        "rss_mib_per_stream": round((peak - baseline) / streams, 2),
        "soak_s": plan.soak_seconds,
        "warmup_s": warmup,
        "rss_after_warmup_mib": round(warm, 1),
        "rss_end_mib": round(end, 1),
        "growth_pct": round(100 * (end - warm) / warm, 2),
        "rss_range_after_warmup_mib": [
            round(min(r for _, r in settled), 1),
            round(max(r for _, r in settled), 1),
        ],
        "rss_trend_mib_per_min": round(trend, 1),
        "served_mib_s": round(served / MIB / plan.soak_seconds, 2),
        "demand_mib_s": round(streams * plan.player_mib_s, 2),
        "opened": viewers.opened,
        "failed_streams": viewers.failed,
        "flood_waits": await _floods(world) - floods,
        **usage,
    }


# -- the run ----------------------------------------------------------------------------


async def run_all(plan: Plan, progress: Progress = lambda _: None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    unretrieved, handler = _Unretrieved(), loop.get_exception_handler()
    loop.set_exception_handler(unretrieved)
    try:
        async with _world(plan) as world:
            results: dict[str, Any] = {"model": asdict(plan.model)}
            results["first_byte"] = await first_bytes(world, plan, progress)
            results["sequential"] = await sequential(world, plan, progress)
            results["single"] = {
                str(bots): await single_stream(world, plan, bots, progress)
                for bots in plan.single_bots
            }
            results["aggregate"] = {
                str(bots): await aggregate(world, plan, bots, progress)
                for bots in plan.aggregate_bots
            }
            results["soak"] = await soak(world, plan, progress)
        gc.collect()  # tasks nobody awaited report their exceptions as they go
    finally:
        loop.set_exception_handler(handler)
    results["unretrieved_task_exceptions"] = {"count": unretrieved.count, **unretrieved.kinds}
    return results


def as_json(results: dict[str, Any]) -> dict[str, Any]:
    first = results["first_byte"]
    return {
        "request_latency_ms": results["model"]["latency_ms"],
        "ttfb_ms": {
            "warm_p50": first["warm_p50"],
            "warm_p95": first["warm_p95"],
            "cold_p95": first["cold_p95"],
        },
        "seek_ms_p95": first["seek_p95"],
        "sequential_mb_s": results["sequential"]["mib_s"],
        "single_stream_mb_s": {k: v["mib_s"] for k, v in results["single"].items()},
        "aggregate_mb_s": {k: v["mib_s"] for k, v in results["aggregate"].items()},
        "rss_mb_per_stream": results["soak"]["rss_mib_per_stream"],
        "soak_rss_growth_pct": results["soak"]["growth_pct"],
    }


# -- the table --------------------------------------------------------------------------

GROWTH_TOLERANCE_PCT = 2.0  # "no growth": within the noise of windows filling and draining


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, figure, target, met) for every figure, the targets beside them."""
    model, first, soaked = results["model"], results["first_byte"], results["soak"]
    latency, contender = model["latency_ms"], results["sequential"]["mib_s"]
    pipe = model["bot_mib_s"]
    pool = _plural(first["bots"])

    def met(ok: bool) -> str:
        return "yes" if ok else "NO"

    table = [
        (f"time to first byte, warm p50, {pool}", f"{first['warm_p50']:.0f} ms",
         f"≤ {latency + 50:g} ms", met(first["warm_p50"] <= latency + 50)),
        (f"time to first byte, warm p95, {pool}", f"{first['warm_p95']:.0f} ms", "", ""),
        (f"time to first byte, cold p95, {pool}", f"{first['cold_p95']:.0f} ms", "", ""),
        (f"seek to first byte p95, 2 GiB file, {pool}", f"{first['seek_p95']:.0f} ms",
         f"≤ {latency + 50:g} ms", met(first["seek_p95"] <= latency + 50)),
        ("contender: sequential 1 MiB, 1 bot", f"{contender:.2f} MiB/s", "", ""),
    ]  # fmt: skip
    for bots, row in results["single"].items():
        ratio = row["mib_s"] / contender
        figure = f"{row['mib_s']:.2f} MiB/s ({ratio:.1f}×)"
        if bots == "1":  # one bot's pipe caps any engine: a baseline, not a target
            table.append(("one stream, 1 bot", figure, f"(1 bot's pipe: {pipe:g} MiB/s)", ""))
        else:
            table.append(
                (f"one stream, {bots} bots", figure, "≥ 2.5× contender", met(ratio >= 2.5))
            )
    base = results["aggregate"].get("1", {}).get("mib_s")
    for bots, row in results["aggregate"].items():
        label = f"{row['streams']} streams, {_plural(int(bots))}"
        figure = f"{row['mib_s']:.2f} MiB/s"
        if bots == "1" or not base:
            table.append((label, figure, "", ""))
            continue
        # Within 10 % either way: far above linear says the 1-bot figure fell short.
        linear = row["mib_s"] / (base * int(bots))
        table.append((label, f"{figure} ({100 * linear:.0f} % of linear)", "90-110 % of linear",
                      met(0.9 <= linear <= 1.1)))  # fmt: skip
    table += [
        (f"RSS per stream, {soaked['streams']} streams", f"{soaked['rss_mib_per_stream']:.2f} MiB",
         "≤ 16 MiB", met(soaked["rss_mib_per_stream"] <= 16)),
        (f"RSS growth over a {soaked['soak_s']:g} s soak", f"{soaked['growth_pct']:+.1f} %",
         f"none (≤ {GROWTH_TOLERANCE_PCT:g} %)", met(soaked["growth_pct"] <= GROWTH_TOLERANCE_PCT)),
    ]  # fmt: skip
    return table


def _rate(requests: str) -> str:
    count, _, per = requests.partition("/")
    return f"{count} requests a {'second' if float(per or 1) == 1 else f'{per} s'}"


def _failures(failed: dict[str, int]) -> str:
    if not failed:
        return "none failed"
    kinds = ", ".join(f"{count} {name}" for name, count in sorted(failed.items()))
    return f"{sum(failed.values())} failed ({kinds})"


def notes(results: dict[str, Any]) -> list[str]:
    """What the figures do not say by themselves: failures, floods, CPU."""
    model, soaked = results["model"], results["soak"]
    low, high = soaked["rss_range_after_warmup_mib"]
    lines = [
        f"model per bot: {model['latency_ms']:g} ms a request, {model['bot_mib_s']:g} MiB/s, "
        f"{_rate(model['requests'])} (MiB throughout)",
    ]
    for bots, row in results["single"].items():
        lines.append(
            f"one stream, {_plural(int(bots))}: pieces per bot "
            f"{list(row['pieces_per_bot'].values())}, "
            f"CPU client {row['client_cpu_pct']:.0f} %, emulator {row['emulator_cpu_pct']:.0f} %"
        )
    for bots, row in results["aggregate"].items():
        lines.append(
            f"many streams, {_plural(int(bots))}: {row['opened']} opened, "
            f"{_failures(row['failed_streams'])}, {row['flood_waits']} FLOOD_WAITs; "
            f"CPU client {row['client_cpu_pct']:.0f} %, emulator {row['emulator_cpu_pct']:.0f} %"
        )
    lines += [
        f"soak: RSS baseline {soaked['baseline_mib']:,.0f} MiB, peak {soaked['peak_mib']:,.0f}, "
        f"after {soaked['warmup_s']:g} s {soaked['rss_after_warmup_mib']:,.0f}, at the end "
        f"{soaked['rss_end_mib']:,.0f}, from {low:,.0f} to {high:,.0f} in between "
        f"({soaked['rss_trend_mib_per_min']:+.1f} MiB a minute)",
        f"soak: served {soaked['served_mib_s']:.1f} MiB/s of the players' "
        f"{soaked['demand_mib_s']:.1f}; {soaked['opened']} streams opened, "
        f"{_failures(soaked['failed_streams'])}, {soaked['flood_waits']} FLOOD_WAITs; "
        f"CPU client {soaked['client_cpu_pct']:.0f} %, emulator {soaked['emulator_cpu_pct']:.0f} %",
    ]
    unretrieved = results["unretrieved_task_exceptions"]
    if unretrieved["count"]:
        kinds = ", ".join(f"{k} {v}" for k, v in unretrieved.items() if k != "count")
        lines.append(f"task exceptions never retrieved (asyncio would log each): {kinds}")
    return lines


def as_table(results: dict[str, Any]) -> Table:
    table = Table(title="sluice bench stream", caption="\n".join(notes(results)))
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("target")
    table.add_column("met")
    for row in rows(results):
        table.add_row(*row, style=None if row[3] != "NO" else "red")
    return table


def as_markdown(results: dict[str, Any]) -> str:
    lines = ["| measure | figure | target | met |", "|---|---:|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows(results)]
    return "\n".join(lines)
