"""The streaming engine against the emulator's MTProto side: byte-identical streams
through two bots, whatever happens to one of them mid-stream."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from sluice.apps.filelink._engine import MIB, MtprotoSource, plan
from sluice.apps.filelink._model import StoredFile
from sluice.emulator import EmulatorServer, synthetic_bytes
from sluice.integrations.telethon import TelethonPool
from support import BOT_A, BOT_B, Sim


async def _stored(sim: Sim, storage: int, size: int, seed: int, **extra: Any) -> StoredFile:
    posted = await sim.synthetic(storage, size, seed=seed, file_name="video.mp4", **extra)
    file = posted["file"]
    return StoredFile(
        id=seed, unique_id=file["file_unique_id"], file_id=file.get("file_id", ""), kind="video",
        name="video.mp4", mime="video/mp4", size=size, chat_id=storage,
        message_id=posted["message"]["message_id"], created_at=0.0,
    )  # fmt: skip


async def _read(source: MtprotoSource, file: StoredFile, start: int, end: int) -> bytes:
    digest = bytearray()
    async for chunk in source.stream(file, start, end):
        digest += chunk
    return bytes(digest)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (0, 64 * 1024), (5000, 5001), (MIB - 10, MIB + 10), (3 * MIB + 4097, 7 * MIB)],
)
def test_the_plan_keeps_telegrams_rules_and_covers_the_range(start: int, end: int) -> None:
    pieces = list(plan(start, end))
    covered = set()
    for offset, limit in pieces:
        assert offset % 4096 == 0
        assert limit % 4096 == 0
        assert MIB % limit == 0
        assert offset // MIB == (offset + limit - 1) // MIB
        covered.update(range(offset, offset + limit, 4096))
    assert pieces[0][0] <= start
    assert all(o in covered for o in range(start - start % 4096, end, 4096))


async def test_a_50_mb_video_streams_byte_identical_through_both_bots(
    server: EmulatorServer, sim: Sim, storage: int, pool: TelethonPool
) -> None:
    size = 50 * MIB + 12345
    file = await _stored(sim, storage, size, seed=7)
    source = MtprotoSource(pool)
    got = await _read(source, file, 0, size)
    assert hashlib.sha256(got).digest() == hashlib.sha256(synthetic_bytes(7, 0, size)).digest()
    stats = {s["account_id"]: s for s in source.describe()}
    assert stats[BOT_A]["pieces"] > 5
    assert stats[BOT_B]["pieces"] > 5
    middle = await _read(source, file, 20 * MIB + 3, 21 * MIB + 77)
    assert middle == synthetic_bytes(7, 20 * MIB + 3, MIB + 74)
