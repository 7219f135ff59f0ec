"""Fetch a Telegram file to disk, hashing it on the way, with progress.

Through the cloud Bot API, ``getFile`` serves files up to 20 MB and the
bytes are streamed to disk a megabyte at a time. A local Bot API server
(``TELEGRAM_API_SERVER``, run with ``--local``) serves files up to 2 GB and
answers ``getFile`` with an absolute path on its own disk: the file is read
in place, never copied. Without one, files over 20 MB come through MTProto
(:class:`MtprotoDownloader`): a Telethon client logged in as the bot fetches
the message and streams its media to disk; the call goes through sluice's
gate, so a flood wait moves it to a client of another account (or waits it
out), and the next attempt resumes where the last one stopped. Nothing is
held in memory whole.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import Bot

from sluice._ffmpeg import MediaError
from sluice.apps.transcribe._pipeline import sha256_file

if TYPE_CHECKING:  # Telethon is the optional `telethon` extra
    from sluice.integrations.telethon import TelethonPool

__all__ = ["CLOUD_LIMIT", "LOCAL_LIMIT", "MtprotoDownloader", "download", "download_limit"]

MB = 1024 * 1024
CLOUD_LIMIT = 20 * MB
LOCAL_LIMIT = 2000 * MB
_BLOCK = MB
_PART = 512 * 1024  # the largest upload.getFile part (MTProto)

Progress = Callable[[float], Awaitable[None]]


def download_limit(bot: Bot, mtproto: MtprotoDownloader | None = None) -> int:
    """The largest file ``bot`` can fetch: 2 GB from a local server or through
    MTProto, else the cloud Bot API's 20 MB."""
    return LOCAL_LIMIT if bot.session.api.is_local or mtproto is not None else CLOUD_LIMIT


class MtprotoDownloader:
    """Downloads through a :class:`~sluice.integrations.telethon.TelethonPool` whose
    clients are logged in as the bot (one or several api_id/api_hash pairs).

    ``accounts``: the pool accounts that may fetch (by default all of them);
    the message is looked up by its chat and id, which only the bot that
    received it (or another bot in the same group) can see.
    """

    def __init__(self, pool: TelethonPool, *, accounts: list[int] | None = None) -> None:
        self.pool = pool
        self.accounts = accounts

    async def download(
        self, chat_id: int, message_id: int, dest: Path, *, progress: Progress | None = None
    ) -> tuple[Path, str]:
        from telethon import errors  # type: ignore[import-untyped]  # the pool's clients'

        done = 0  # bytes on disk: the next attempt (after a flood wait, on any client) goes on

        async def fetch(client: Any) -> Path:
            nonlocal done
            refreshed_at = -1
            while True:
                message = await client.get_messages(chat_id, ids=message_id)
                if message is None or message.media is None:
                    raise MediaError(
                        dest, f"message {message_id} has no media this account can see"
                    )
                total = message.file.size if message.file is not None else None
                try:
                    with dest.open("r+b" if done else "wb") as out:
                        out.seek(done)
                        out.truncate()  # a part written only in half is fetched again
                        # Whole parts from a multiple of the part size: Telegram's offset rules.
                        parts = client.iter_download(message.media, offset=done, request_size=_PART)
                        async for part in parts:
                            await asyncio.to_thread(out.write, part)
                            done += len(part)
                            if progress is not None and total:
                                await progress(min(1.0, done / total))
                    return dest
                except errors.FileReferenceExpiredError:
                    # A long download outlived the message's file reference: the message
                    # fetched again carries a fresh one (once per stretch of progress).
                    if refreshed_at == done:
                        raise
                    refreshed_at = done

        path = await self.pool.call(
            fetch, chat_id=chat_id, accounts=self.accounts, method="download", limited=False
        )
        return path, await asyncio.to_thread(sha256_file, path)


async def download(
    bot: Bot, file_id: str, dest: Path, *, size: int | None = None, progress: Progress | None = None
) -> tuple[Path, str]:
    """The file's path on this machine and its SHA-256.

    ``dest`` is where a streamed download goes (a local server's file is read
    where it is). ``size`` (from the message) makes progress exact; without it
    the size ``getFile`` reports is used.
    """
    file = await bot.get_file(file_id)
    if not file.file_path:
        raise MediaError(file_id, "Telegram gave no path for this file")
    total = size or file.file_size or 0
    if bot.session.api.is_local and Path(file.file_path).is_absolute():
        path = Path(file.file_path)
        if progress is not None:
            await progress(0.0)
        digest = await asyncio.to_thread(sha256_file, path)
        if progress is not None:
            await progress(1.0)
        return path, digest
    url = bot.session.api.file_url(bot.token, file.file_path)
    digest_ = hashlib.sha256()
    received = 0
    with dest.open("wb") as out:
        async for block in bot.session.stream_content(url, timeout=600, chunk_size=_BLOCK):
            await asyncio.to_thread(out.write, block)
            digest_.update(block)
            received += len(block)
            if progress is not None and total:
                await progress(min(1.0, received / total))
    return dest, digest_.hexdigest()
