"""Download bodies: the bytes of some ranges, streamed under a per-address cap.

The response watches for the client leaving while it streams: a client that
goes away while Telegram is slow to answer must not keep a fetch (and a slot)
alive until the next chunk happens to arrive. Whatever ends the stream, the
source's iterator is closed and the slot released before the response returns.
The first bytes are fetched before the headers are sent, so a source that
cannot start is answered 503 (or its refusal), not a 200 cut short.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from sluice._exceptions import ServiceUnavailable
from sluice.apps.filelink._model import ByteSource, LinkRefused, StoredFile
from sluice.apps.filelink._ranges import ByteRange

__all__ = [
    "Body",
    "StreamSlots",
    "StreamedResponse",
    "client_key",
    "multipart_body",
    "plain_answer",
    "single_body",
]

log = logging.getLogger("sluice.apps.filelink")


@dataclass(frozen=True, slots=True)
class Body:
    """What a download sends: ``length`` bytes, as ``parts`` of the file framed by
    ``prefixes`` (one per part, bytes to send before it) and a ``trailer``."""

    parts: tuple[ByteRange, ...]
    prefixes: tuple[bytes, ...]
    trailer: bytes
    length: int


def single_body(part: ByteRange) -> Body:
    return Body((part,), (b"",), b"", part.length)


def multipart_body(parts: tuple[ByteRange, ...], size: int, content_type: str) -> tuple[Body, str]:
    """A ``multipart/byteranges`` body (RFC 9110 §14.6) and its boundary."""
    boundary = "sluice-" + secrets.token_hex(16)  # 128 random bits: never in the file
    # The CRLF before each delimiter belongs to it (RFC 2046 §5.1.1); the first has none.
    prefixes = tuple(
        (
            ("\r\n" if n else "")
            + f"--{boundary}\r\n"
            + f"Content-Type: {content_type}\r\n"
            + f"Content-Range: bytes {part.start}-{part.end}/{size}\r\n\r\n"
        ).encode("latin-1")
        for n, part in enumerate(parts)
    )
    trailer = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(map(len, prefixes)) + sum(p.length for p in parts) + len(trailer)
    return Body(parts, prefixes, trailer, length), boundary


def client_key(host: str | None) -> str:
    """Whose slots a request uses: its IPv4 address, or its IPv6 /64.

    One IPv6 subscriber routinely holds a whole /64, so counting single IPv6
    addresses would let one client open a stream from each of 2**64 of them.
    """
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return host or ""  # a Unix socket, or a name a test transport made up
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class StreamSlots:
    """How many bodies each client address is streaming, against a cap."""

    __slots__ = ("_limit", "_open")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, client: str) -> bool:
        count = self._open.get(client, 0)
        if count >= self._limit:
            return False
        self._open[client] = count + 1
        return True

    def release(self, client: str) -> None:
        count = self._open.get(client, 0) - 1
        if count > 0:
            self._open[client] = count
        else:
            self._open.pop(client, None)  # no entry per address ever seen

    def open_for(self, client: str) -> int:
        return self._open.get(client, 0)


class StreamedResponse(Response):
    """Streams ``body`` of ``file`` from ``source`` if ``client`` has a free slot,
    else answers 429 with ``Retry-After``."""

    def __init__(
        self,
        source: ByteSource,
        file: StoredFile,
        body: Body,
        *,
        status_code: int,
        headers: Mapping[str, str],
        slots: StreamSlots,
        client: str,
        retry_after: int,
    ) -> None:
        super().__init__(None, status_code, {**headers, "Content-Length": str(body.length)})
        self._source = source
        self._file = file
        self._body = body
        self._slots = slots
        self._client = client
        self._retry_after = retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._slots.acquire(self._client):
            refusal = plain_answer(
                429,
                "Too many downloads at once from your address: "
                f"retry in {self._retry_after} seconds.",
                self._retry_after,
            )
            await refusal(scope, receive, send)
            return
        chunks = _chunks(self._source, self._file, self._body)
        try:
            await self._stream_until_gone(chunks, scope, receive, send)
        finally:
            try:
                await chunks.aclose()  # reaches the source's iterator if it is still open
            finally:
                self._slots.release(self._client)

    async def _stream_until_gone(
        self, chunks: AsyncGenerator[bytes, None], scope: Scope, receive: Receive, send: Send
    ) -> None:
        # Plain asyncio tasks, not an anyio cancel scope: a cancelled scope would
        # cancel every await of the finally blocks that close the source, too.
        pump = asyncio.ensure_future(self._pump(chunks, scope, receive, send))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            pump.cancel()
            gone.cancel()
            await asyncio.wait((pump, gone))
        failure = None if pump.cancelled() else pump.exception()
        if failure is not None:
            raise failure  # after the headers: the server can only close the connection

    async def _pump(
        self, chunks: AsyncGenerator[bytes, None], scope: Scope, receive: Receive, send: Send
    ) -> None:
        # The first bytes come before the headers: a source that cannot start
        # (Telegram refusing, every bot flooded) is still a proper error answer.
        try:
            first = await anext(chunks)
        except LinkRefused as refused:
            await plain_answer(refused.status, refused.reason)(scope, receive, send)
            return
        except Exception:
            log.warning("could not start stored file %s", self._file.id, exc_info=True)
            message = "The file cannot be fetched right now: retry in a moment."
            await plain_answer(503, message, self._retry_after)(scope, receive, send)
            return
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            # Once the client has gone, send() returns at once; with a source that
            # never waits either (a cache), this loop would never let the watcher
            # that notices the disconnect run.
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def plain_answer(status: int, text: str, retry_after: int | None = None) -> PlainTextResponse:
    """A short text answer that no cache keeps and no browser sniffs."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return PlainTextResponse(text + "\n", status_code=status, headers=headers)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _chunks(source: ByteSource, file: StoredFile, body: Body) -> AsyncGenerator[bytes, None]:
    """The body's bytes: each part exactly as long as announced (Content-Length is sent)."""
    for prefix, part in zip(body.prefixes, body.parts, strict=True):
        wanted = part.length
        stream = source.stream(file, part.start, part.end + 1)
        try:
            async for chunk in stream:
                piece = chunk[:wanted] if len(chunk) > wanted else chunk
                if piece:
                    # The part's headers go with its first bytes, so the body's
                    # first item always carries the source's first answer.
                    yield prefix + piece if prefix else piece
                    prefix = b""
                    wanted -= len(piece)
                if not wanted:
                    break
        finally:
            # One generator, no nested ones: closing it (GeneratorExit at a yield,
            # or the cancellation of a fetch) runs this and closes the source's.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        if wanted:
            # Sending less than Content-Length and carrying on would desynchronise a
            # kept-alive connection: failing makes the server close it instead.
            raise ServiceUnavailable(
                f"the byte source ended {wanted} bytes early in bytes "
                f"{part.start}-{part.end} of stored file {file.id}: the download was cut"
            )
    if body.trailer:
        yield body.trailer
