"""Serving files through the Bot API, for a pool without MTProto credentials.

The cloud Bot API hands out files up to 20 MB (``getFile``, then a download from
``/file/bot<token>/<path>``); a local Bot API server in ``--local`` mode hands
out files up to 2 GB as paths on its own disk, read here in place. Neither is
as fast as the MTProto engine: the cloud download is one connection of one bot,
and ``getFile`` costs a round trip before the first byte of every stream (its
``file_path`` is kept for an hour, as Telegram promises it stays valid that
long). A range is asked for with a ``Range`` header; a server that ignores it
(answers 200) has the bytes before the range read and dropped, which is bounded
by the 20 MB cap. Every ``getFile`` goes through the gate (the bot's session
carries sluice's middleware); the download itself is not a Bot API method.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession

from sluice.apps.filelink._engine import StreamFailed
from sluice.apps.filelink._model import StoredFile

__all__ = ["BotApiSource"]

_PATH_TTL = 3600.0  # Telegram keeps a file_path valid for at least an hour
_CHUNK = 256 * 1024


class BotApiSource:
    """A :class:`~sluice.apps.filelink._model.ByteSource` through one bot's Bot API.

    Parameters:
        bot: the bot whose ``file_id`` the records hold (the one that receives files).
        clock: monotonic seconds (tests inject one).
    """

    def __init__(self, bot: Bot, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.bot = bot
        self.clock = clock
        self._paths: dict[int, tuple[str, float]] = {}
        self.streams = 0
        self.served = 0

    @property
    def local(self) -> bool:
        return bool(self.bot.session.api.is_local)

    async def _path(self, file: StoredFile) -> str:
        known = self._paths.get(file.id)
        if known is not None and self.clock() < known[1]:
            return known[0]
        answer = await self.bot.get_file(file.file_id)
        if not answer.file_path:
            raise StreamFailed(f"file {file.id}: the Bot API gave no path for it")
        self._paths[file.id] = (answer.file_path, self.clock() + _PATH_TTL)
        return answer.file_path

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        end = min(end, file.size)
        if start >= end:
            return
        path = await self._path(file)
        self.streams += 1
        try:
            chunks = self._local(path, start, end) if self.local else self._cloud(path, start, end)
            async for chunk in chunks:
                self.served += len(chunk)
                yield chunk
        finally:
            self.streams -= 1

    async def _local(self, path: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Read in place: the local server's file is on this machine's disk."""
        local = self.bot.session.api.wrap_local_file.to_local(path)
        handle = await asyncio.to_thread(open, local, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            position = start
            while position < end:
                data = await asyncio.to_thread(handle.read, min(_CHUNK, end - position))
                if not data:
                    raise StreamFailed("the local Bot API server's file is shorter than recorded")
                position += len(data)
                yield data
        finally:
            await asyncio.to_thread(handle.close)

    async def _cloud(self, path: str, start: int, end: int) -> AsyncIterator[bytes]:
        session = self.bot.session
        assert isinstance(session, AiohttpSession)
        client = await session.create_session()
        url = session.api.file_url(self.bot.token, path)
        headers = {"Range": f"bytes={start}-{end - 1}"}
        async with client.get(url, headers=headers) as response:
            if response.status not in (200, 206):
                raise StreamFailed(f"the Bot API answered {response.status} to a download")
            skip = start if response.status == 200 else 0
            left = end - start
            async for data in response.content.iter_chunked(_CHUNK):
                if skip:
                    dropped = min(skip, len(data))
                    data, skip = data[dropped:], skip - dropped
                if not data:
                    continue
                data = data[:left]
                left -= len(data)
                yield data
                if left <= 0:
                    return
            if left > 0:
                raise StreamFailed("the Bot API's download ended early")
