"""Message methods: send, edit, delete, forward and copy, text and media."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import IO, Any

from starlette.datastructures import UploadFile

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._markup import (
    formatted_text,
    inline_keyboard,
    reply_parameters,
    user_keyboard,
)
from sluice.emulator._params import Params
from sluice.emulator._world import Bot, Chat, StoredMessage, User

__all__ = ["media_object", "store_upload"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO = 10 * 1024 * 1024
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _target(emu: Emulator, bot: Bot, p: Params) -> Chat | User:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_send(bot, chat)
    return chat


def _author(bot: Bot, chat: Chat | User) -> dict[str, Any]:
    if isinstance(chat, Chat) and chat.type == "channel":
        return {"sender_chat": chat.to_api()}
    return {"from": bot.user.to_api()}


def _snapshot(stored: StoredMessage) -> dict[str, Any]:
    return {k: v for k, v in stored.api.items() if k != "reply_to_message"}


def _reply_to(emu: Emulator, bot: Bot, chat: Chat | User, p: Params) -> dict[str, Any]:
    message_id, allow_without = reply_parameters(p)
    if message_id is None:
        return {}
    original = emu.world.find_message(chat, bot.id, message_id)
    if original is None:
        if allow_without:
            return {}
        raise bad_request("message to be replied not found")
    return {"reply_to_message": _snapshot(original)}


def _send(
    emu: Emulator,
    bot: Bot,
    chat: Chat | User,
    p: Params,
    body: dict[str, Any],
    file: FileRecord | None = None,
) -> dict[str, Any]:
    """Admit the call into the chat's limits, then store the message and return it."""
    markup = inline_keyboard(p)
    keyboard = user_keyboard(p)
    extra = _reply_to(emu, bot, chat, p)
    protect = p.flag("protect_content")  # read before admit: a refused call must not count
    emu.admit(bot, chat, paid=p.flag("allow_paid_broadcast"))
    message = _author(bot, chat) | body | extra
    if markup is not None:
        message["reply_markup"] = markup
    if protect:
        message["has_protected_content"] = True
    stored = emu.world.store_message(chat, bot.id, bot.id, message, file)
    stored.keyboard = keyboard
    return stored.api


@method("sendMessage")
async def send_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _target(emu, bot, p)
    text, entities = formatted_text(
        p,
        text_field="text",
        entities_field="entities",
        max_length=MAX_TEXT,
        empty_error="message text is empty",
        too_long_error="message is too long",
        users=emu.world.user_api,
    )
    body: dict[str, Any] = {"text": text}
    if entities:
        body["entities"] = entities
    return _send(emu, bot, chat, p, body)


def _edit_target(emu: Emulator, bot: Bot, p: Params) -> tuple[Chat | User, StoredMessage]:
    if p.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the emulator")
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(chat, bot.id, message_id)
    if stored is None:
        raise bad_request("message to edit not found")
    if stored.sender_id != bot.id:
        raise bad_request("message can't be edited")
    return chat, stored


def _apply_edit(
    emu: Emulator, bot: Bot, chat: Chat | User, stored: StoredMessage, changes: dict[str, Any]
) -> Any:
    api = stored.api
    if all(api.get(key) == value for key, value in changes.items()):
        raise bad_request(_NOT_MODIFIED)
    emu.admit(bot, chat)
    previous = {k: copy.deepcopy(api[k]) for k in changes if k in api}
    stored.history.append(previous | {"date": api.get("edit_date", api["date"])})
    for key, value in changes.items():
        if value is None:
            api.pop(key, None)
        else:
            api[key] = value
    api["edit_date"] = int(time.time())
    return api


@method("editMessageText")
async def edit_message_text(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat, stored = _edit_target(emu, bot, p)
    if "text" not in stored.api:
        raise bad_request("there is no text in the message to edit")
    text, entities = formatted_text(
        p,
        text_field="text",
        entities_field="entities",
        max_length=MAX_TEXT,
        empty_error="message text is empty",
        too_long_error="MESSAGE_TOO_LONG",
        users=emu.world.user_api,
    )
    changes = {"text": text, "entities": entities or None, "reply_markup": inline_keyboard(p)}
    return _apply_edit(emu, bot, chat, stored, changes)


@method("editMessageCaption")
async def edit_message_caption(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat, stored = _edit_target(emu, bot, p)
    if stored.file is None:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = formatted_text(
        p,
        text_field="caption",
        entities_field="caption_entities",
        max_length=MAX_CAPTION,
        empty_error=None,
        too_long_error="message caption is too long",
        users=emu.world.user_api,
    )
    changes = {
        "caption": caption or None,
        "caption_entities": entities or None,
        "reply_markup": inline_keyboard(p),
    }
    return _apply_edit(emu, bot, chat, stored, changes)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat, stored = _edit_target(emu, bot, p)
    return _apply_edit(emu, bot, chat, stored, {"reply_markup": inline_keyboard(p)})


@method("deleteMessage")
async def delete_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(chat, bot.id, message_id)
    if stored is None:
        raise bad_request("message to delete not found")
    is_admin = isinstance(chat, Chat) and bot.id in chat.admin_bot_ids
    if isinstance(chat, Chat) and stored.sender_id != bot.id and not is_admin:
        raise bad_request("message can't be deleted")
    stored.deleted = True
    return True


def _source(emu: Emulator, bot: Bot, p: Params, not_found: str) -> StoredMessage:
    source_chat = emu.world.resolve_chat(p.chat_id("from_chat_id"))
    emu.world.check_can_read(bot, source_chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(source_chat, bot.id, message_id)
    if stored is None:
        raise bad_request(not_found)
    if stored.api.get("has_protected_content"):
        raise bad_request("message can't be forwarded")
    return stored


_CONTENT_KEYS = (
    "text",
    "entities",
    "caption",
    "caption_entities",
    "document",
    "audio",
    "voice",
    "video",
    "video_note",
    "photo",
)


def _content_for(emu: Emulator, bot: Bot, stored: StoredMessage) -> dict[str, Any]:
    content = {k: copy.deepcopy(stored.api[k]) for k in _CONTENT_KEYS if k in stored.api}
    if stored.file is not None:
        key, obj = media_object(emu, bot, stored.file)
        content[key] = obj
    return content


def _origin(emu: Emulator, stored: StoredMessage) -> dict[str, Any]:
    chat = stored.api["chat"]
    if chat["type"] == "channel":
        return {
            "type": "channel",
            "date": stored.api["date"],
            "chat": chat,
            "message_id": stored.message_id,
        }
    sender = stored.api.get("from") or emu.world.users[stored.sender_id].to_api()
    return {"type": "user", "date": stored.api["date"], "sender_user": sender}


@method("forwardMessage")
async def forward_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _target(emu, bot, p)
    stored = _source(emu, bot, p, "message to forward not found")
    body = _content_for(emu, bot, stored) | {"forward_origin": _origin(emu, stored)}
    # forwardMessage takes no keyboard and no reply: only these options apply.
    options = Params({k: p.raw(k) for k in ("protect_content", "allow_paid_broadcast") if p.has(k)})
    return _send(emu, bot, chat, options, body, stored.file)


@method("copyMessage")
async def copy_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _target(emu, bot, p)
    stored = _source(emu, bot, p, "message to copy not found")
    body = _content_for(emu, bot, stored)
    if p.has("caption"):
        caption, entities = formatted_text(
            p,
            text_field="caption",
            entities_field="caption_entities",
            max_length=MAX_CAPTION,
            empty_error=None,
            too_long_error="message caption is too long",
            users=emu.world.user_api,
        )
        body.pop("caption_entities", None)
        body["caption"] = caption
        if entities:
            body["caption_entities"] = entities
    sent = _send(emu, bot, chat, p, body, stored.file)
    return {"message_id": sent["message_id"]}


def media_object(emu: Emulator, bot: Bot, record: FileRecord) -> tuple[str, Any]:
    """The message field and object describing a file, as ``bot`` sees it."""
    base: dict[str, Any] = {
        "file_id": emu.files.file_id(record, bot.id),
        "file_unique_id": record.unique_id,
        "file_size": record.size,
    }
    kind = record.kind
    if kind == "photo":
        return "photo", [base | {"width": record.width, "height": record.height}]
    if kind == "video_note":
        return kind, base | {"length": record.width, "duration": record.duration}
    if kind in {"voice", "audio", "video"}:
        base["duration"] = record.duration
    if kind == "video":
        base |= {"width": record.width, "height": record.height}
    if record.mime_type:
        base["mime_type"] = record.mime_type
    if record.file_name and kind in {"document", "audio", "video"}:
        base["file_name"] = record.file_name
    return kind, base


async def store_upload(
    emu: Emulator,
    source: IO[bytes],
    kind: str,
    *,
    mime_type: str | None,
    file_name: str | None,
    duration: int,
) -> FileRecord:
    limit = MAX_PHOTO if kind == "photo" else emu.config.max_upload
    try:
        return await asyncio.to_thread(
            emu.files.add,
            source,
            kind,
            mime_type=mime_type,
            file_name=file_name,
            duration=duration,
            max_size=limit,
        )
    except ValueError:
        raise bad_request("file is too big") from None


async def _input_file(emu: Emulator, bot: Bot, p: Params, kind: str) -> FileRecord:
    value = p.upload(kind)
    if isinstance(value, UploadFile):
        duration = p.integer("duration") or 0
        return await store_upload(
            emu,
            value.file,
            kind,
            mime_type=value.content_type
            if value.content_type != "application/octet-stream"
            else None,
            file_name=value.filename,
            duration=duration,
        )
    if not value:
        raise bad_request(f"there is no {kind.replace('_', ' ')} in the request")
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    record = emu.files.resolve(value, bot.id)
    if record is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    return record


def _register_media(kind: str, name: str) -> None:
    async def send_media(emu: Emulator, bot: Bot, p: Params) -> Any:
        chat = _target(emu, bot, p)
        caption, entities = formatted_text(
            p,
            text_field="caption",
            entities_field="caption_entities",
            max_length=MAX_CAPTION,
            empty_error=None,
            too_long_error="message caption is too long",
            users=emu.world.user_api,
        )
        record = await _input_file(emu, bot, p, kind)
        key, obj = media_object(emu, bot, record)
        body: dict[str, Any] = {key: obj}
        if caption and kind != "video_note":
            body["caption"] = caption
            if entities:
                body["caption_entities"] = entities
        return _send(emu, bot, chat, p, body, record)

    method(name)(send_media)


for _kind, _name in (
    ("document", "sendDocument"),
    ("audio", "sendAudio"),
    ("voice", "sendVoice"),
    ("video", "sendVideo"),
    ("video_note", "sendVideoNote"),
    ("photo", "sendPhoto"),
):
    _register_media(_kind, _name)
