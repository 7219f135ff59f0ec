"""``sluice bench mtproto``: how fast the emulator's MTProto side serves ``upload.getFile``.

Two measures, each against ``sluice emulator`` started as its own process (so its
CPU time is its own, read from ``/proc``):

1. **The emulator is not the bottleneck.** The per-account download model off; one
   Telethon client (cryptg) signed in as a bot downloads a 512 MiB synthetic file
   from a channel, 1 MiB a request, one request after another as
   ``iter_download`` does: MB/s, and the CPU the emulator and the client used.
2. **The model, on its defaults.** MB/s one account gets with sequential 1 MiB
   requests, and with 4 in flight at once (one connection, Telethon multiplexing):
   the gap is what a streaming engine's prefetch window buys.

Everything runs on loopback; each download is bounded in size and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from telethon import TelegramClient
from telethon.crypto import rsa
from telethon.sessions import MemorySession
from telethon.tl import functions, types

from sluice.emulator import Sim, synthetic_bytes

MB = 1024 * 1024
TOKEN = "4200001:" + "M" * 35  # an obviously fake bot token
BOT_ID = 4200001
API_ID, API_HASH = 4242, "0123456789abcdef0123456789abcdef"  # an obviously fake app
OFF_SIZE = 512 * MB
ON_SIZE = 48 * MB
SEED = 20261205
_TICKS = os.sysconf("SC_CLK_TCK")

Progress = Callable[[str], None]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


@contextlib.asynccontextmanager
async def _emulator(*flags: str) -> AsyncIterator[tuple[str, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sluice.cli",
        "emulator",
        "--port",
        "0",
        *flags,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        match = re.search(r"listening on (http://\S+)", line)
        if match is None:
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield match.group(1), proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _client(url: str) -> TelegramClient:
    async with httpx.AsyncClient(trust_env=False) as http:
        info = (await http.get(f"{url}/_sim/mtproto")).json()
    rsa.add_key(info["rsa_public_key_pem"], old=False)
    session = MemorySession()
    dc = info["dcs"][0]
    session.set_dc(dc["id"], dc["host"], dc["port"])
    client = TelegramClient(session, API_ID, API_HASH, flood_sleep_threshold=0)
    await client.connect()
    await client.sign_in(bot_token=TOKEN)
    return client


async def _file_in_channel(url: str, size: int) -> tuple[int, int]:
    """A channel the bot administers, holding one synthetic document: (chat id, message id)."""
    async with Sim.connect(url) as sim:
        await sim.get("config")  # wait for the server
        async with httpx.AsyncClient(trust_env=False) as http:
            (await http.get(f"{url}/bot{TOKEN}/getMe")).raise_for_status()
        channel = await sim.chat("channel", title="bench", admin_bot_ids=[BOT_ID])
        sent = await sim.synthetic(
            int(channel["id"]), size, seed=SEED, kind="document", file_name="bench.bin"
        )
    return int(channel["id"]), int(sent["message"]["message_id"])


async def _location(client: TelegramClient, chat_id: int, message_id: int) -> Any:
    message = await client.get_messages(chat_id, ids=message_id)
    document = message.media.document
    return types.InputDocumentFileLocation(
        id=document.id,
        access_hash=document.access_hash,
        file_reference=document.file_reference,
        thumb_size="",
    )


async def _fetch(client: TelegramClient, location: Any, offset: int) -> bytes:
    result = await client(
        functions.upload.GetFileRequest(location=location, offset=offset, limit=MB)
    )
    return bytes(result.bytes)


async def _download(client: TelegramClient, location: Any, size: int, parallel: int) -> float:
    """Seconds to fetch ``size`` bytes in 1 MiB requests, ``parallel`` in flight; checks
    the first and last block against the generator."""
    blocks = iter(range(0, size, MB))
    got: dict[int, bytes] = {}

    async def worker() -> None:
        for offset in blocks:
            data = await _fetch(client, location, offset)
            if offset in (0, size - MB):
                got[offset] = data
            elif len(data) != MB:
                raise AssertionError(f"{len(data)} bytes at {offset}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    elapsed = time.perf_counter() - started
    for offset, data in got.items():
        if (
            hashlib.sha256(data).digest()
            != hashlib.sha256(synthetic_bytes(SEED, offset, MB)).digest()
        ):
            raise AssertionError(f"the block at {offset} differs from the generator's")
    return elapsed


async def model_off(progress: Progress) -> dict[str, Any]:
    async with _emulator("--no-download-model") as (url, pid):
        chat_id, message_id = await _file_in_channel(url, OFF_SIZE)
        client = await _client(url)
        try:
            location = await _location(client, chat_id, message_id)
            progress(f"model off: downloading {OFF_SIZE // MB} MiB, 1 MiB a request")
            await _download(client, location, 16 * MB, 1)  # warm up
            cpu_before, client_before = _cpu_seconds(pid), time.process_time()
            elapsed = await _download(client, location, OFF_SIZE, 1)
            emulator_cpu = _cpu_seconds(pid) - cpu_before
            client_cpu = time.process_time() - client_before
        finally:
            await client.disconnect()
    return {
        "size_mb": OFF_SIZE / MB,
        "seconds": round(elapsed, 2),
        "mb_s": round(OFF_SIZE / MB / elapsed, 1),
        "emulator_cpu_s": round(emulator_cpu, 2),
        "emulator_cpu_pct": round(100 * emulator_cpu / elapsed, 1),
        "emulator_cpu_ms_per_mb": round(1000 * emulator_cpu / (OFF_SIZE / MB), 2),
        "client_cpu_pct": round(100 * client_cpu / elapsed, 1),
    }


async def model_on(progress: Progress) -> dict[str, Any]:
    async with _emulator() as (url, _pid):
        chat_id, message_id = await _file_in_channel(url, ON_SIZE)
        async with httpx.AsyncClient(trust_env=False) as http:
            config = (await http.get(f"{url}/_sim/config")).json()
        client = await _client(url)
        try:
            location = await _location(client, chat_id, message_id)
            progress(f"model on: {ON_SIZE // MB} MiB sequentially")
            sequential = await _download(client, location, ON_SIZE, 1)
            await asyncio.sleep(2)  # the request window of the first run passes
            progress(f"model on: {ON_SIZE // MB} MiB, 4 requests in flight")
            parallel = await _download(client, location, ON_SIZE, 4)
        finally:
            await client.disconnect()
    return {
        "model": config.get("mtproto", {}).get("download"),
        "size_mb": ON_SIZE / MB,
        "sequential_mb_s": round(ON_SIZE / MB / sequential, 1),
        "parallel4_mb_s": round(ON_SIZE / MB / parallel, 1),
    }


async def run_all(progress: Progress) -> dict[str, Any]:
    return {"model_off": await model_off(progress), "model_on": await model_on(progress)}


def as_markdown(results: dict[str, Any]) -> str:
    off, on = results["model_off"], results["model_on"]
    return "\n".join(
        [
            "| measure | value |",
            "|---|---:|",
            f"| model off: one client, sequential 1 MiB requests | {off['mb_s']:,.1f} MB/s |",
            f"| model off: emulator CPU | {off['emulator_cpu_pct']:.0f} % of a core "
            f"({off['emulator_cpu_ms_per_mb']:.2f} ms/MB) |",
            f"| model off: client CPU (Telethon + cryptg) | {off['client_cpu_pct']:.0f} % |",
            f"| model on: one account, sequential | {on['sequential_mb_s']:,.1f} MB/s |",
            f"| model on: one account, 4 in flight | {on['parallel4_mb_s']:,.1f} MB/s |",
        ]
    )
