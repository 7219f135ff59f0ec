"""Message methods: send, edit, delete, forward and copy, text and media."""

from __future__ import annotations

import asyncio
import copy
import secrets
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
from sluice.emulator._world import Bot, Chat, PollRecord, StoredMessage, User

__all__ = ["caption_of", "media_fields", "media_object", "new_poll_id", "store_upload"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_PHOTO = 10 * 1024 * 1024
# What a Telegram user may send (2 GB; Premium accounts 4 GB, not emulated).
USER_MAX_UPLOAD = 2000 * 1024 * 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def send_target(emu: Emulator, bot: Bot, p: Params) -> Chat | User:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_send(bot, chat)
    return chat


def author_of(bot: Bot, chat: Chat | User) -> dict[str, Any]:
    if isinstance(chat, Chat) and chat.type == "channel":
        return {"sender_chat": chat.to_api()}
    return {"from": bot.user.to_api()}


def snapshot(stored: StoredMessage) -> dict[str, Any]:
    return {k: v for k, v in stored.api.items() if k != "reply_to_message"}


def reply_to(emu: Emulator, bot: Bot, chat: Chat | User, p: Params) -> dict[str, Any]:
    message_id, allow_without = reply_parameters(p)
    if message_id is None:
        return {}
    original = emu.world.find_message(chat, bot.id, message_id)
    if original is None:
        if allow_without:
            return {}
        raise bad_request("message to be replied not found")
    return {"reply_to_message": snapshot(original)}


def topic_of(
    emu: Emulator, bot_id: int, chat: Chat | User, p: Params, reply: dict[str, Any]
) -> dict[str, Any]:
    """The forum topic ``message_thread_id`` names (or the replied message's): its id is its
    creation message's, and a message in it answers that message unless it answers another."""
    thread_id = p.integer("message_thread_id")
    if not thread_id or thread_id < 0:
        replied = reply.get("reply_to_message", {})
        if not replied.get("is_topic_message"):
            return {}
        thread_id = replied["message_thread_id"]
    topic = emu.world.find_message(chat, bot_id, thread_id)
    if topic is None or topic.api.get("message_thread_id") != thread_id:
        raise bad_request("message thread not found")
    return {
        "message_thread_id": thread_id,
        "is_topic_message": True,
        "reply_to_message": snapshot(topic),
    }


def store_sent(
    emu: Emulator,
    bot: Bot,
    chat: Chat | User,
    body: dict[str, Any],
    file: FileRecord | None = None,
    *,
    protect: bool = False,
) -> StoredMessage:
    """Store a message of the bot's whose call was admitted."""
    message = author_of(bot, chat) | body
    if protect:
        message["has_protected_content"] = True
    return emu.world.store_message(chat, bot.id, bot.id, message, file)


def send_body(
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
    reply = reply_to(emu, bot, chat, p)
    extra = topic_of(emu, bot.id, chat, p, reply) | reply
    protect = p.flag("protect_content")  # read before admit: a refused call must not count
    emu.admit(bot, chat, paid=p.flag("allow_paid_broadcast"))
    message = body | extra
    if markup is not None:
        message["reply_markup"] = markup
    stored = store_sent(emu, bot, chat, message, file, protect=protect)
    stored.keyboard = keyboard
    return stored.api


@method("sendMessage")
async def send_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = send_target(emu, bot, p)
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
    return send_body(emu, bot, chat, p, body)


def caption_of(emu: Emulator, p: Params) -> tuple[str | None, list[dict[str, Any]]]:
    """A call's ``caption`` after its parse mode or ``caption_entities``, and its entities."""
    return formatted_text(
        p,
        text_field="caption",
        entities_field="caption_entities",
        max_length=MAX_CAPTION,
        empty_error=None,
        too_long_error="message caption is too long",
        users=emu.world.user_api,
    )


def edit_target(emu: Emulator, bot: Bot, p: Params) -> tuple[Chat | User, StoredMessage]:
    if p.has("inline_message_id"):
        raise bad_request("inline messages are not supported by the emulator")
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(chat, bot.id, message_id)
    if stored is None:
        raise bad_request("message to edit not found")
    if stored.sender_id != bot.id and not _edits_others(bot, chat):
        raise bad_request("message can't be edited")
    return chat, stored


def _edits_others(bot: Bot, chat: Chat | User) -> bool:
    """A channel's admin with the right to edit messages edits any post of the channel
    (a file-to-link bot adds buttons to its admins' posts that way)."""
    if not isinstance(chat, Chat) or chat.type != "channel" or bot.id not in chat.admin_bot_ids:
        return False
    admin = chat.admins.get(bot.id)  # an admin bot without a ChatAdmin has every right
    return admin is None or bool(admin.rights.get("can_edit_messages"))


def apply_edit(
    emu: Emulator, bot: Bot, chat: Chat | User, stored: StoredMessage, changes: dict[str, Any]
) -> Any:
    api = stored.api
    if all(api.get(key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    emu.admit(bot, chat)
    edited = record_edit(stored, changes)
    emu.world.notify("edit", chat, [stored])
    return edited


def record_edit(stored: StoredMessage, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a message (a None value removes the field), keeping what it was in its history."""
    api = stored.api
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
    chat, stored = edit_target(emu, bot, p)
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
    return apply_edit(emu, bot, chat, stored, changes)


@method("editMessageCaption")
async def edit_message_caption(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat, stored = edit_target(emu, bot, p)
    if stored.file is None:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = caption_of(emu, p)
    changes = {
        "caption": caption or None,
        "caption_entities": entities or None,
        "reply_markup": inline_keyboard(p),
    }
    return apply_edit(emu, bot, chat, stored, changes)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat, stored = edit_target(emu, bot, p)
    return apply_edit(emu, bot, chat, stored, {"reply_markup": inline_keyboard(p)})


@method("deleteMessage")
async def delete_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(chat, bot.id, message_id)
    if stored is None:
        raise bad_request("message to delete not found")
    if not can_delete(bot, chat, stored):
        raise bad_request("message can't be deleted")
    stored.deleted = True
    emu.world.notify("delete", chat, [stored])
    return True


def can_delete(bot: Bot, chat: Chat | User, stored: StoredMessage) -> bool:
    """Its own messages, anything in a private chat, anything where it is an admin."""
    is_admin = isinstance(chat, Chat) and bot.id in chat.admin_bot_ids
    return not isinstance(chat, Chat) or stored.sender_id == bot.id or is_admin


def read_source_chat(emu: Emulator, bot: Bot, p: Params) -> Chat | User:
    source_chat = emu.world.resolve_chat(p.chat_id("from_chat_id"))
    emu.world.check_can_read(bot, source_chat)
    return source_chat


def _source(emu: Emulator, bot: Bot, p: Params, not_found: str) -> StoredMessage:
    source_chat = read_source_chat(emu, bot, p)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    assert message_id is not None
    stored = emu.world.find_message(source_chat, bot.id, message_id)
    if stored is None:
        raise bad_request(not_found)
    if stored.api.get("has_protected_content"):
        raise bad_request("message can't be forwarded")
    return stored


CONTENT_KEYS = (
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
    "animation",
    "sticker",
    "location",
    "venue",
    "contact",
    "dice",
    "poll",
)


def content_for(
    emu: Emulator, bot: Bot, stored: StoredMessage, *, copying: bool = False
) -> dict[str, Any]:
    content = {k: copy.deepcopy(stored.api[k]) for k in CONTENT_KEYS if k in stored.api}
    if stored.file is not None:
        content |= media_fields(emu, bot, stored.file)
    if "poll" in stored.api:
        content["poll"] = _carried_poll(emu, bot, stored.api["poll"], copying=copying)
    return content


def _carried_poll(
    emu: Emulator, bot: Bot, poll: dict[str, Any], *, copying: bool
) -> dict[str, Any]:
    """A forward shows the same poll (its votes go on); a copy is a new poll of the bot's."""
    if not copying:
        return poll
    record = emu.world.polls.get(poll["id"])
    owner = record.bot_id if record is not None else None
    if poll["type"] == "quiz" and owner != bot.id and not poll["is_closed"]:
        raise bad_request("message can't be copied")  # its correct answers are not the bot's
    fresh = copy.deepcopy(poll) | {"id": new_poll_id(), "total_voter_count": 0, "is_closed": False}
    for option in fresh["options"]:
        option["voter_count"] = 0
    if fresh.get("open_period"):
        fresh["close_date"] = int(time.time()) + fresh["open_period"]
    emu.world.polls[fresh["id"]] = PollRecord(fresh, bot.id)
    return fresh


def new_poll_id() -> str:
    """A poll id as Telegram writes them: a 64-bit number in decimal."""
    return str(secrets.randbits(62) + 2**62)


def origin_of(emu: Emulator, stored: StoredMessage) -> dict[str, Any]:
    if "forward_origin" in stored.api:  # a forward of a forward names the first sender
        return copy.deepcopy(stored.api["forward_origin"])
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
    chat = send_target(emu, bot, p)
    stored = _source(emu, bot, p, "message to forward not found")
    body = content_for(emu, bot, stored) | {"forward_origin": origin_of(emu, stored)}
    # forwardMessage takes no keyboard and no reply: only these options apply.
    kept = ("protect_content", "allow_paid_broadcast", "message_thread_id")
    options = Params({k: p.raw(k) for k in kept if p.has(k)})
    return send_body(emu, bot, chat, options, body, stored.file)


@method("copyMessage")
async def copy_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = send_target(emu, bot, p)
    stored = _source(emu, bot, p, "message to copy not found")
    body = content_for(emu, bot, stored, copying=True)
    if p.has("caption"):
        caption, entities = caption_of(emu, p)
        body.pop("caption_entities", None)
        body["caption"] = caption
        if entities:
            body["caption_entities"] = entities
    sent = send_body(emu, bot, chat, p, body, stored.file)
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
    if kind == "sticker":
        sticker_format = record.path.suffix
        sticker: dict[str, Any] = {"width": record.width, "height": record.height}
        if record.emoji:
            sticker["emoji"] = record.emoji
        return kind, sticker | base | {
            "is_animated": sticker_format == ".tgs",
            "is_video": sticker_format == ".webm",
            "type": "regular",
        }
    if kind in {"voice", "audio", "video", "animation"}:
        base["duration"] = record.duration
    if kind in {"video", "animation"}:
        base |= {"width": record.width, "height": record.height}
    if record.mime_type:
        base["mime_type"] = record.mime_type
    if record.file_name and kind in {"document", "audio", "video", "animation"}:
        base["file_name"] = record.file_name
    return kind, base


def media_fields(emu: Emulator, bot: Bot, record: FileRecord) -> dict[str, Any]:
    """The message fields describing a file, as ``bot`` sees it: an animation sets
    ``document`` too, as Telegram does for clients that predate animations."""
    key, obj = media_object(emu, bot, record)
    fields = {key: obj}
    if key == "animation":
        fields["document"] = {k: v for k, v in obj.items() if k not in _ANIMATION_ONLY}
    return fields


_ANIMATION_ONLY = frozenset({"duration", "width", "height"})


async def store_upload(
    emu: Emulator,
    source: IO[bytes],
    kind: str,
    *,
    mime_type: str | None,
    file_name: str | None,
    duration: int,
    max_size: int | None = None,
) -> FileRecord:
    """Store an upload; ``max_size`` (a bot's upload limit by default) caps all but photos."""
    limit = MAX_PHOTO if kind == "photo" else max_size or emu.config.max_upload
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


async def input_file(emu: Emulator, bot: Bot, p: Params, kind: str) -> FileRecord:
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
        chat = send_target(emu, bot, p)
        caption, entities = caption_of(emu, p)
        record = await input_file(emu, bot, p, kind)
        key, obj = media_object(emu, bot, record)
        body: dict[str, Any] = {key: obj}
        if caption and kind != "video_note":
            body["caption"] = caption
            if entities:
                body["caption_entities"] = entities
        return send_body(emu, bot, chat, p, body, record)

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
