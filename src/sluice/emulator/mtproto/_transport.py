"""MTProto's TCP transports, the server's side: full, intermediate, padded
intermediate and abridged, each optionally obfuscated, told apart by the first
bytes a client sends (core.telegram.org/mtproto/mtproto-transports).

Written here because the transports are a few lines each and only clients
exist as libraries. A packet's length is checked before its body is read.
"""

from __future__ import annotations

import asyncio
import os
import struct
from zlib import crc32

from telethon.crypto import AESModeCTR  # type: ignore[import-untyped]

__all__ = ["MAX_PACKET", "Framing", "TransportError", "open_transport"]

# The largest packet a client may send: a 512 KiB file part, its request and
# MTProto's envelope fit well under it; anything longer closes the connection.
MAX_PACKET = 1024 * 1024 + 4096

_ABRIDGED = 0xEF
_INTERMEDIATE = b"\xee\xee\xee\xee"
_PADDED = b"\xdd\xdd\xdd\xdd"


class TransportError(Exception):
    """The client broke the transport's framing: the connection is closed."""


class _Stream:
    """Reads and writes the connection, through AES-CTR when obfuscated."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decrypt: AESModeCTR | None = None,
        encrypt: AESModeCTR | None = None,
    ) -> None:
        self.reader, self.writer = reader, writer
        self._decrypt, self._encrypt = decrypt, encrypt

    async def read(self, n: int) -> bytes:
        data = await self.reader.readexactly(n)
        return bytes(self._decrypt.decrypt(data)) if self._decrypt is not None else data

    def write(self, data: bytes) -> None:
        self.writer.write(bytes(self._encrypt.encrypt(data)) if self._encrypt else data)


class Framing:
    """One connection's transport: ``await read()`` a packet, ``encode()`` one."""

    def __init__(self, name: str, stream: _Stream) -> None:
        self.name = name
        self._stream = stream
        self._seq_in = 0
        self._seq_out = 0

    @property
    def obfuscated(self) -> bool:
        return self._stream._decrypt is not None

    async def read(self) -> bytes:
        s = self._stream
        if self.name == "abridged":
            first = (await s.read(1))[0]
            length = (first if first < 0x7F else int.from_bytes(await s.read(3), "little")) * 4
            return await s.read(_checked(length))
        if self.name in ("intermediate", "padded"):
            (length,) = struct.unpack("<i", await s.read(4))
            return await s.read(_checked(length))
        header = await s.read(8)
        length, seq = struct.unpack("<ii", header)
        body = await s.read(_checked(length - 8))
        if len(body) < 4 or seq != self._seq_in:
            raise TransportError("bad sequence number")
        self._seq_in += 1
        if struct.unpack("<I", body[-4:])[0] != crc32(header + body[:-4]):
            raise TransportError("bad checksum")
        return body[:-4]

    def write(self, payload: bytes) -> None:
        if self.name == "abridged":
            words = len(payload) // 4
            head = bytes([words]) if words < 0x7F else b"\x7f" + words.to_bytes(3, "little")
            self._stream.write(head + payload)
        elif self.name == "intermediate":
            self._stream.write(struct.pack("<i", len(payload)) + payload)
        elif self.name == "padded":
            padding = os.urandom(os.urandom(1)[0] % 16)
            self._stream.write(struct.pack("<i", len(payload) + len(padding)) + payload + padding)
        else:
            data = struct.pack("<ii", len(payload) + 12, self._seq_out) + payload
            self._seq_out += 1
            self._stream.write(data + struct.pack("<I", crc32(data)))

    async def drain(self) -> None:
        await self._stream.writer.drain()


def _checked(length: int) -> int:
    if not 4 <= length <= MAX_PACKET:
        raise TransportError(f"packet length {length} out of bounds")
    return length


async def open_transport(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Framing:
    """Tell the client's transport from its first bytes."""
    first = await reader.readexactly(1)
    if first[0] == _ABRIDGED:
        return Framing("abridged", _Stream(reader, writer))
    head = first + await reader.readexactly(3)
    if head == _INTERMEDIATE:
        return Framing("intermediate", _Stream(reader, writer))
    if head == _PADDED:
        return Framing("padded", _Stream(reader, writer))
    seq = await reader.readexactly(4)
    if seq == bytes(4):
        # The full transport: its first packet's length and sequence number 0 (the
        # length is checked as the packet is read).
        prefixed = _Prefixed(head + seq, reader)
        return Framing("full", _Stream(prefixed, writer))  # type: ignore[arg-type]
    return await _obfuscated(head + seq + await reader.readexactly(56), reader, writer)


async def _obfuscated(
    init: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Framing:
    # The client's 64 random bytes carry both directions' keys: its key and iv read
    # forwards, the server's (its sending direction) the same bytes reversed.
    decrypt = AESModeCTR(init[8:40], init[40:56])
    reversed_init = init[55:7:-1]
    encrypt = AESModeCTR(reversed_init[:32], reversed_init[32:48])
    tag = bytes(decrypt.decrypt(init))[56:60]
    names = {b"\xef\xef\xef\xef": "abridged", _INTERMEDIATE: "intermediate", _PADDED: "padded"}
    name = names.get(tag)
    if name is None:
        raise TransportError("unknown transport")
    return Framing(name, _Stream(reader, writer, decrypt, encrypt))


class _Prefixed:
    """A reader that first returns bytes already read while telling the transport."""

    def __init__(self, prefix: bytes, reader: asyncio.StreamReader) -> None:
        self._prefix = prefix
        self._reader = reader

    async def readexactly(self, n: int) -> bytes:
        if not self._prefix:
            return await self._reader.readexactly(n)
        taken, self._prefix = self._prefix[:n], self._prefix[n:]
        if len(taken) < n:
            taken += await self._reader.readexactly(n - len(taken))
        return taken
