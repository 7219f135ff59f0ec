"""Fetch a Telegram file to disk, hashing it on the way, with progress.

Through the cloud Bot API, ``getFile`` serves files up to 20 MB and the
bytes are streamed to disk a megabyte at a time. A local Bot API server
(``TELEGRAM_API_SERVER``, run with ``--local``) serves files up to 2 GB and
answers ``getFile`` with an absolute path on its own disk: the file is read
in place, never copied. Either way nothing is held in memory whole.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiogram import Bot

from sluice._ffmpeg import MediaError
from sluice.apps.transcribe._pipeline import sha256_file

__all__ = ["CLOUD_LIMIT", "LOCAL_LIMIT", "download", "download_limit"]

MB = 1024 * 1024
CLOUD_LIMIT = 20 * MB
LOCAL_LIMIT = 2000 * MB
_BLOCK = MB

Progress = Callable[[float], Awaitable[None]]


def download_limit(bot: Bot) -> int:
    """The largest file ``bot`` can fetch: 2 GB from a local server, else 20 MB."""
    return LOCAL_LIMIT if bot.session.api.is_local else CLOUD_LIMIT


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
