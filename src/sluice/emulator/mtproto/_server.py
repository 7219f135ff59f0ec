"""The MTProto side's TCP listeners: two data centres on two loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.emulator.mtproto._connection import Connection
from sluice.emulator.mtproto._crypto import RsaKey
from sluice.emulator.mtproto._state import DcAddress, MtprotoWorld
from sluice.emulator.mtproto._transport import TransportError, open_transport

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator

__all__ = ["DC_IDS", "MtprotoServer", "default_key_dir", "mtproto_world"]

log = logging.getLogger("sluice.emulator.mtproto")
DC_IDS = (1, 2)
_FIRST_BYTES_TIMEOUT = 10.0  # a connection that says nothing is closed


def default_key_dir() -> Path:
    """Where the emulator keeps its RSA key when it has no data dir."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sluice" / "emulator"


def mtproto_world(data_dir: str | None) -> MtprotoWorld:
    """The MTProto state of a new emulator, with the RSA key of its data dir."""
    from sluice.emulator.mtproto import (
        _m_core,  # noqa: F401  (registers the handlers)
        _methods,  # noqa: F401
    )

    directory = Path(data_dir) if data_dir is not None else default_key_dir()
    return MtprotoWorld(RsaKey.load_or_create(directory))


class MtprotoServer:
    """Listens for MTProto clients on one port per DC (``port`` for DC 1, the next for DC 2
    when given, free ports otherwise)."""

    def __init__(self, emu: Emulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if emu.mtproto is None:
            raise RuntimeError("this emulator has its MTProto side switched off")
        self.emu = emu
        self.mt: MtprotoWorld = emu.mtproto
        self.host = host
        self.port = port
        self._servers: list[asyncio.Server] = []
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        for index, dc in enumerate(DC_IDS):
            wanted = self.port + index if self.port else 0
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, wanted))
            server = await asyncio.start_server(
                functools.partial(self._serve, dc), sock=sock, limit=2**20
            )
            self._servers.append(server)
            bound = sock.getsockname()[1]
            self.mt.dcs[dc] = DcAddress(dc, self.host, bound)
        self.port = self.mt.dcs[DC_IDS[0]].port

    async def _serve(
        self, dc: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers[task] = writer
            task.add_done_callback(self._handlers.pop)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            framing = await asyncio.wait_for(open_transport(reader, writer), _FIRST_BYTES_TIMEOUT)
        except (TimeoutError, TransportError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        connection = Connection(self.emu, self.mt, dc, framing, writer)
        try:
            await connection.serve()
        except Exception:  # one connection's bug must not take the server down
            log.exception("mtproto connection failed")
            connection.close()

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for connection in list(self.mt.connections):
            connection.close()
        for writer in self._handlers.values():
            writer.close()  # those still telling their transport
        if self._handlers:
            # Each handler ends once its connection is closed: none is cancelled mid-answer.
            await asyncio.wait(list(self._handlers), timeout=1.0)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()
