"""Bad bytes on the MTProto port: refused cheaply, the connection closed, nothing else hurt."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import struct
import time
from collections.abc import AsyncIterator
from hashlib import sha256

import pytest
from telethon.crypto import AES
from telethon.extensions import BinaryReader
from telethon.tl import functions, types

from mtproto_support import mtproto_info, signed_in_bot
from sluice.emulator import EmulatorServer
from sluice.emulator.mtproto import _server as mtproto_server
from sluice.emulator.mtproto._crypto import AuthKey
from support import BOT_A, TOKEN_A

_OPEN: list[asyncio.StreamWriter] = []


async def _dc1(server: EmulatorServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    info = await mtproto_info(server)
    dc = info["dcs"][0]
    reader, writer = await asyncio.open_connection(dc["host"], dc["port"])
    _OPEN.append(writer)
    return reader, writer


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    yield
    while _OPEN:
        writer = _OPEN.pop()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _closed(reader: asyncio.StreamReader) -> bool:
    """True once the server closed the connection (bounded wait)."""
    data = await asyncio.wait_for(reader.read(), 5)
    return data == b""


async def _still_serves(server: EmulatorServer) -> None:
    async with signed_in_bot(server, TOKEN_A) as client:
        assert (await client.get_me()).id == BOT_A


@pytest.mark.parametrize(
    "opening",
    [
        pytest.param(b"\xef\x7f\xff\xff\xff", id="abridged-16MiB-length"),
        pytest.param(b"\xee\xee\xee\xee" + struct.pack("<i", 1 << 30), id="intermediate-1GiB"),
        pytest.param(b"\xdd\xdd\xdd\xdd" + struct.pack("<i", -5), id="padded-negative"),
        pytest.param(struct.pack("<ii", 1 << 24, 0), id="full-16MiB"),
        pytest.param(os.urandom(64), id="random-64-bytes"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(40), id="http"),
    ],
)
async def test_a_bad_opening_is_closed_without_reading_on(
    server: EmulatorServer, opening: bytes
) -> None:
    reader, writer = await _dc1(server)
    writer.write(opening)
    await writer.drain()
    started = time.perf_counter()
    assert await _closed(reader)
    assert time.perf_counter() - started < 2  # refused at once, not after reading a gigabyte
    writer.close()
    await _still_serves(server)


async def test_a_silent_connection_is_closed(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mtproto_server, "_FIRST_BYTES_TIMEOUT", 0.2)
    reader, writer = await _dc1(server)
    assert await _closed(reader)
    writer.close()


def _intermediate(payload: bytes) -> bytes:
    return struct.pack("<i", len(payload)) + payload


async def _read_intermediate(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack("<i", await asyncio.wait_for(reader.readexactly(4), 5))
    return await reader.readexactly(length)


async def test_an_unknown_auth_key_is_answered_404(server: EmulatorServer) -> None:
    reader, writer = await _dc1(server)
    writer.write(b"\xee\xee\xee\xee" + _intermediate(struct.pack("<q", 1234) + os.urandom(64)))
    await writer.drain()
    assert await _read_intermediate(reader) == struct.pack("<i", -404)
    writer.close()


class _RawSession:
    """A client's half of MTProto 2.0, by hand, on a key a real client made."""

    def __init__(self, key: bytes, salt: int) -> None:
        self.key = key
        self.key_id = AuthKey(key).key_id
        self.salt = salt
        self.session = struct.unpack("<q", os.urandom(8))[0]
        self.last = 0

    def msg_id(self) -> int:
        msg_id = int(time.time() * 2**32) & ~3
        self.last = msg_id = max(msg_id, self.last + 4)
        return msg_id

    def _keys(self, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
        a = sha256(msg_key + self.key[x : x + 36]).digest()
        b = sha256(self.key[x + 40 : x + 76] + msg_key).digest()
        return a[:8] + b[8:24] + a[24:32], b[:8] + a[8:24] + b[24:32]

    def seal(self, body: bytes, *, msg_id: int | None = None, forge: bool = False) -> bytes:
        plain = (
            struct.pack("<qqqii", self.salt, self.session, msg_id or self.msg_id(), 1, len(body))
            + body
        )
        plain += os.urandom(-(len(plain) + 12) % 16 + 12)
        msg_key = sha256(self.key[88:120] + plain).digest()[8:24]
        if forge:
            msg_key = bytes(16)
        key, iv = self._keys(msg_key, 0)
        return struct.pack("<q", self.key_id) + msg_key + AES.encrypt_ige(plain, key, iv)

    def open(self, packet: bytes) -> list[object]:
        msg_key = packet[8:24]
        key, iv = self._keys(msg_key, 8)
        plain = AES.decrypt_ige(packet[24:], key, iv)
        reader = BinaryReader(plain[16:])
        reader.read_long()
        reader.read_int()
        reader.read_int()
        return [reader.tgread_object()]


async def _raw_session(
    server: EmulatorServer,
) -> tuple[_RawSession, asyncio.StreamReader, asyncio.StreamWriter]:
    async with signed_in_bot(server, TOKEN_A) as client:
        key = client.session.auth_key.key
    mt = server.emulator.mtproto
    assert mt is not None
    record = next(r for r in mt.keys.values() if r.auth_key.key == key)
    raw = _RawSession(key, record.salt)
    reader, writer = await _dc1(server)
    writer.write(b"\xee\xee\xee\xee")
    return raw, reader, writer


async def _answers(raw: _RawSession, reader: asyncio.StreamReader, count: int) -> list[object]:
    found: list[object] = []
    for _ in range(count):
        found += raw.open(await _read_intermediate(reader))
    return found


async def test_a_forged_message_closes_the_connection(server: EmulatorServer) -> None:
    raw, reader, writer = await _raw_session(server)
    writer.write(_intermediate(raw.seal(bytes(functions.PingRequest(ping_id=1)), forge=True)))
    await writer.drain()
    assert await _closed(reader)
    writer.close()
    await _still_serves(server)


async def test_a_ping_is_answered_and_an_unknown_constructor_is_an_rpc_error(
    server: EmulatorServer,
) -> None:
    raw, reader, writer = await _raw_session(server)
    writer.write(_intermediate(raw.seal(bytes(functions.PingRequest(ping_id=77)))))
    unknown_id = raw.msg_id()
    writer.write(
        _intermediate(raw.seal(struct.pack("<I", 0xDEADBEEF) + bytes(8), msg_id=unknown_id))
    )
    await writer.drain()
    answers = await _answers(raw, reader, 3)  # new_session_created, pong, rpc_result
    assert isinstance(answers[0], types.NewSessionCreated)
    assert any(isinstance(a, types.Pong) and a.ping_id == 77 for a in answers)
    results = [a for a in answers if not isinstance(a, types.NewSessionCreated | types.Pong)]
    assert len(results) == 1
    writer.close()


async def test_a_wrong_salt_is_answered_with_the_right_one(server: EmulatorServer) -> None:
    raw, reader, writer = await _raw_session(server)
    good = raw.salt
    raw.salt = good ^ 1
    writer.write(_intermediate(raw.seal(bytes(functions.PingRequest(ping_id=5)))))
    await writer.drain()
    answers = await _answers(raw, reader, 2)
    bad = [a for a in answers if isinstance(a, types.BadServerSalt)]
    assert len(bad) == 1
    assert bad[0].new_server_salt == good
    writer.close()


async def test_a_message_from_the_distant_past_is_refused(server: EmulatorServer) -> None:
    raw, reader, writer = await _raw_session(server)
    old = (int(time.time()) - 3600) << 32
    writer.write(_intermediate(raw.seal(bytes(functions.PingRequest(ping_id=5)), msg_id=old)))
    await writer.drain()
    answers = await _answers(raw, reader, 2)
    bad = [a for a in answers if isinstance(a, types.BadMsgNotification)]
    assert len(bad) == 1
    assert bad[0].error_code == 16
    writer.close()


async def test_a_gzip_bomb_is_refused_before_it_inflates(server: EmulatorServer) -> None:
    raw, reader, writer = await _raw_session(server)
    bomb = gzip.compress(bytes(64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    packed = struct.pack("<I", 0x3072CFA1) + _tl_bytes(bomb)
    writer.write(_intermediate(raw.seal(packed)))
    await writer.drain()
    started = time.perf_counter()
    while not await _eof_or_packet(reader):
        pass
    assert time.perf_counter() - started < 3
    writer.close()
    await _still_serves(server)


async def test_a_nested_container_closes_the_connection(server: EmulatorServer) -> None:
    raw, reader, writer = await _raw_session(server)
    inner = struct.pack("<Ii", 0x73F1F8DC, 0)
    outer = (
        struct.pack("<Ii", 0x73F1F8DC, 1) + struct.pack("<qii", raw.msg_id(), 0, len(inner)) + inner
    )
    writer.write(_intermediate(raw.seal(outer)))
    await writer.drain()
    while not await _eof_or_packet(reader):
        pass
    writer.close()


async def _eof_or_packet(reader: asyncio.StreamReader) -> bool:
    """Read one packet; True once the server has closed the connection."""
    try:
        await _read_intermediate(reader)
    except asyncio.IncompleteReadError:
        return True
    return False


def _tl_bytes(data: bytes) -> bytes:
    head = bytes([len(data)]) if len(data) < 254 else b"\xfe" + len(data).to_bytes(3, "little")
    raw = head + data
    return raw + bytes(-len(raw) % 4)
