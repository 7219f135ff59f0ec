"""Serving the emulator over HTTP with uvicorn, in-process or as a command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING

import uvicorn

from sluice._exceptions import ConfigError
from sluice._redact import RedactingFilter
from sluice.emulator._app import create_app
from sluice.emulator._config import EmulatorConfig
from sluice.emulator._core import Emulator
from sluice.emulator._stt_dialects import DIALECTS

if TYPE_CHECKING:
    from sluice.emulator.mtproto import MtprotoServer

__all__ = ["EmulatorServer"]

_STOP_GRACE = 0.3  # seconds: calls take milliseconds; a stop must take under one


class _EmbeddedServer(uvicorn.Server):
    # uvicorn would re-raise a captured signal after shutdown; the emulator's
    # owner decides what SIGINT/SIGTERM mean (see ``start(handle_signals=...)``).
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class EmulatorServer:
    """Serves an :class:`Emulator` on a loopback port, inside the running event loop.

    Parameters:
        config: the emulator's configuration (ignored when ``emulator`` is given).
        host: address to bind, ``127.0.0.1`` by default.
        port: port to bind; 0 picks a free one (see :attr:`url` once started).
        emulator: an existing emulator to serve.
        mtproto_port: the MTProto side's DC 1 port (DC 2 takes the next); 0 picks
            free ones (see :attr:`mtproto` once started).

    Use as ``async with EmulatorServer() as server: ... server.url ...``.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        emulator: Emulator | None = None,
        mtproto_port: int = 0,
    ) -> None:
        self.emulator = emulator or Emulator(config)
        self.host = host
        self.port = port
        self.mtproto_port = mtproto_port
        self.mtproto: MtprotoServer | None = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8081`` (valid once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stt_url(self, provider: str) -> str:
        """The base URL of an emulated speech-to-text provider, as its SDK wants it.

        ``openai`` (``/openai/v1``), ``groq`` (``/groq/openai/v1``), ``together``
        (``/together/v1``), ``generic`` (``/v1``) or ``deepgram`` (``/deepgram/v1``),
        e.g. ``AsyncOpenAI(base_url=server.stt_url("groq"), api_key=...)``.
        """
        dialect = DIALECTS.get(provider)
        if dialect is None:
            raise ConfigError(
                f"{provider!r} is not a provider: expected one of {', '.join(DIALECTS)}"
            )
        return self.url + dialect.base

    async def start(self, *, handle_signals: bool = False) -> None:
        """Bind and serve; with ``handle_signals``, SIGINT and SIGTERM stop the server."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every answer (headers, then body) waits ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        # Request lines carry bot tokens. access_log=False is not enough: uvicorn's
        # httptools protocol logs whenever "uvicorn.access" has a handler (the
        # root logger's counts), so that logger also redacts what it logs.
        _redact_access_log()
        config = uvicorn.Config(
            create_app(self.emulator),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            # Long polls and injected latency are answered at once on stop (request_stop);
            # what is still in flight after this (a trickling upload) is cancelled, so a
            # stop takes well under a second. uvicorn annotates an int, but only hands the
            # value to asyncio.timeout().
            timeout_graceful_shutdown=_STOP_GRACE,  # type: ignore[arg-type]
        )
        self._server = server = _EmbeddedServer(config)
        if handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.request_stop)
        if self.emulator.mtproto is not None:
            from sluice.emulator.mtproto import MtprotoServer

            self.mtproto = MtprotoServer(self.emulator, host=self.host, port=self.mtproto_port)
            await self.mtproto.start()
        self._task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the emulator's HTTP server stopped while starting")
            await asyncio.sleep(0.005)

    def request_stop(self) -> None:
        """Ask the server to stop; :meth:`wait_closed` returns once it has."""
        if self._server is not None:
            # Long polls and injected latency would hold the shutdown for up to a minute.
            self.emulator.stop_waiting()
            self._server.should_exit = True
        if self.mtproto is not None:
            for connection in list(self.mtproto.mt.connections):
                connection.close()

    async def wait_closed(self) -> None:
        """Wait until the server stops (after :meth:`stop` or a signal)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self.request_stop()
            await self._task
            self._server = self._task = None
        if self.mtproto is not None:
            await self.mtproto.stop()
            self.mtproto = None
        await self.emulator.close()

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingFilter) for f in access.filters):
        access.addFilter(RedactingFilter())
