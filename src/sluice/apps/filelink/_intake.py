"""Files in: what a message carries, and one copy of it in the storage channel."""

from __future__ import annotations

import contextlib
import mimetypes
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import Message

from sluice.apps.filelink._model import StoredFile
from sluice.apps.filelink._records import Records

__all__ = ["CLOUD_LIMIT", "Intake", "Media", "media_of"]

CLOUD_LIMIT = 20 * 1024 * 1024  # what the cloud Bot API's getFile serves
_KINDS = ("document", "video", "audio", "voice", "animation", "video_note")
_DEFAULT_MIME = {
    "video": "video/mp4",
    "animation": "video/mp4",
    "video_note": "video/mp4",
    "audio": "audio/mpeg",
    "voice": "audio/ogg",
    "photo": "image/jpeg",
}


@dataclass(frozen=True, slots=True)
class Media:
    """The file a message carries, as the Bot API describes it."""

    kind: str
    file_id: str
    unique_id: str
    name: str
    mime: str
    size: int


def media_of(message: Message) -> Media | None:
    """The file in ``message`` (the largest size of a photo), or None."""
    for kind in _KINDS:
        item = getattr(message, kind)
        if item is None:
            continue
        mime = getattr(item, "mime_type", None) or _DEFAULT_MIME.get(
            kind, "application/octet-stream"
        )
        name = getattr(item, "file_name", None) or _name(kind, item.file_unique_id, mime)
        return Media(kind, item.file_id, item.file_unique_id, name, mime, item.file_size or 0)
    if message.photo:
        photo = max(message.photo, key=lambda size: (size.file_size or 0, size.width * size.height))
        name = _name("photo", photo.file_unique_id, "image/jpeg")
        return Media(
            "photo", photo.file_id, photo.file_unique_id, name, "image/jpeg", photo.file_size or 0
        )
    return None


def _name(kind: str, unique_id: str, mime: str) -> str:
    extension = mimetypes.guess_extension(mime) or ".bin"
    return f"{kind}_{unique_id}{extension}"


class Intake:
    """Keeps one copy of each file (by ``file_unique_id``) in the storage channel.

    Parameters:
        bot: the bot that receives files (a member, and admin, of ``storage_channel``).
        records: where the stored files are recorded.
        storage_channel: the channel id (``-100...``).
    """

    def __init__(self, bot: Bot, records: Records, storage_channel: int) -> None:
        self.bot = bot
        self.records = records
        self.storage_channel = storage_channel

    async def keep(self, message: Message, media: Media) -> tuple[StoredFile, bool]:
        """The stored file for ``media`` and whether it was new: the one kept already
        when the same file came before, else a copy of ``message`` made now."""
        known = await self.records.find(media.unique_id)
        if known is not None:
            return known, False
        copy = await self.bot.copy_message(
            self.storage_channel, message.chat.id, message.message_id, disable_notification=True
        )
        file, new = await self.records.add(
            unique_id=media.unique_id, file_id=media.file_id, kind=media.kind, name=media.name,
            mime=media.mime, size=media.size, chat_id=self.storage_channel,
            message_id=copy.message_id,
        )  # fmt: skip
        if not new:  # the same file came twice at once: keep the first copy only
            with contextlib.suppress(TelegramAPIError):
                await self.bot.delete_message(self.storage_channel, copy.message_id)
        return file, new
