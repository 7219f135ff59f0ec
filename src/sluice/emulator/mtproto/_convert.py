"""The world as an MTProto account sees it: users, chats, channels and messages
as Telethon's TL objects, with per-account access hashes and file references.

Marked ids: a user is its id; a basic group ``-N`` is ``PeerChat(N)``; a
supergroup or channel ``-100N`` is ``PeerChannel(N)``, as Telegram's Bot API and
Telethon's ``utils.get_peer_id`` agree.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import inspect
import struct
from typing import TYPE_CHECKING, Any

from telethon.tl import types  # type: ignore[import-untyped]

from sluice.emulator._world import Chat, StoredMessage, User
from sluice.emulator.mtproto._rpc import RpcError

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator._files import FileRecord

__all__ = [
    "access_hash",
    "channel_id",
    "chat_tl",
    "document_hash",
    "file_reference",
    "fit",
    "marked_id",
    "media_tl",
    "message_tl",
    "peer_of",
    "read_file_reference",
    "resolve_input_peer",
    "user_tl",
]

_CHANNEL_BASE = 1_000_000_000_000


@functools.cache
def _fields(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls).parameters)


def fit(cls: type, **fields: Any) -> Any:
    """``cls(**fields)`` without the fields this Telethon's layer does not have (a field
    newer than the installed Telethon, e.g. ``topics`` of ``messages.Messages``), so the
    emulator serves the layer of whichever Telethon it runs with."""
    known = _fields(cls)
    return cls(**{name: value for name, value in fields.items() if name in known})


def _tag(emu: Emulator, text: str) -> bytes:
    return hmac.new(emu._secret, text.encode(), hashlib.sha256).digest()


def access_hash(emu: Emulator, viewer_id: int, peer_id: int) -> int:
    """The access hash ``viewer_id``'s account knows ``peer_id`` (a marked id) by."""
    return int(struct.unpack("<q", _tag(emu, f"peer:{viewer_id}:{peer_id}")[:8])[0])


def document_hash(emu: Emulator, record: FileRecord) -> int:
    return int(struct.unpack("<q", _tag(emu, f"doc:{record.internal_id}")[:8])[0])


def file_reference(emu: Emulator, record: FileRecord) -> bytes:
    """A file reference issued now: the file, the emulator-clock time, and a tag."""
    issued_ms = int(emu.clock() * 1000)
    body = struct.pack("<qq", record.internal_id, issued_ms)
    return body + _tag(emu, "ref:" + body.hex())[:8]


def read_file_reference(emu: Emulator, reference: bytes) -> tuple[int, float] | None:
    """(file internal id, issue time in emulator-clock seconds) of a genuine reference."""
    if len(reference) != 24:
        return None
    body, tag = reference[:16], reference[16:]
    if not hmac.compare_digest(tag, _tag(emu, "ref:" + body.hex())[:8]):
        return None
    internal_id, issued_ms = struct.unpack("<qq", body)
    return internal_id, issued_ms / 1000


def marked_id(peer: Any) -> int:
    if isinstance(peer, types.PeerUser):
        return int(peer.user_id)
    if isinstance(peer, types.PeerChat):
        return -int(peer.chat_id)
    return -(_CHANNEL_BASE + int(peer.channel_id))


def channel_id(chat_id: int) -> int:
    return -chat_id - _CHANNEL_BASE


def peer_of(chat_id: int) -> Any:
    """The Peer of a marked id."""
    if chat_id > 0:
        return types.PeerUser(user_id=chat_id)
    if chat_id <= -_CHANNEL_BASE:
        return types.PeerChannel(channel_id=channel_id(chat_id))
    return types.PeerChat(chat_id=-chat_id)


def _date(timestamp: int | float | None) -> dt.datetime | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)


def user_tl(emu: Emulator, viewer_id: int, user_id: int) -> Any:
    """The User ``viewer_id`` sees (UserEmpty for an unknown id)."""
    world = emu.world
    user: User | None = world.users.get(user_id)
    if user is None and (bot := world.bots.get(user_id)) is not None:
        user = bot.user
    if user is None:
        return types.UserEmpty(id=user_id)
    phone = getattr(user, "phone", None)
    return types.User(
        id=user.id,
        is_self=user.id == viewer_id,
        bot=user.is_bot or None,
        bot_info_version=1 if user.is_bot else None,
        access_hash=access_hash(emu, viewer_id, user.id),
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        phone=phone if user.id == viewer_id else None,
        lang_code=user.language_code if user.id == viewer_id else None,
    )


def is_member(chat: Chat, account_id: int) -> bool:
    return (
        account_id in chat.bot_ids
        or account_id in chat.member_user_ids
        or account_id == chat.owner_id
    ) and account_id not in chat.banned


def chat_tl(emu: Emulator, viewer_id: int, chat: Chat) -> Any:
    if chat.type == "group":
        return types.Chat(
            id=-chat.id,
            title=chat.title or "",
            photo=types.ChatPhotoEmpty(),
            participants_count=len(chat.member_user_ids) + len(chat.bot_ids),
            date=_date(0),
            version=1,
            left=not is_member(chat, viewer_id) or None,
        )
    admin = viewer_id in chat.admin_bot_ids or viewer_id in chat.admins
    return types.Channel(
        id=channel_id(chat.id),
        title=chat.title or "",
        photo=types.ChatPhotoEmpty(),
        date=_date(0),
        creator=viewer_id == chat.owner_id or None,
        left=not is_member(chat, viewer_id) or None,
        broadcast=chat.type == "channel" or None,
        megagroup=chat.type == "supergroup" or None,
        forum=chat.is_forum or None,
        access_hash=access_hash(emu, viewer_id, chat.id),
        username=chat.username,
        admin_rights=types.ChatAdminRights(
            post_messages=True, edit_messages=True, delete_messages=True
        )
        if admin
        else None,
    )


def _attributes(record: FileRecord) -> list[Any]:
    kind = record.kind
    attributes: list[Any] = []
    if kind in ("video", "video_note", "animation"):
        attributes.append(
            types.DocumentAttributeVideo(
                duration=record.duration,
                w=record.width,
                h=record.height,
                round_message=kind == "video_note" or None,
                supports_streaming=kind == "video" or None,
            )
        )
    if kind == "animation":
        attributes.append(types.DocumentAttributeAnimated())
    if kind in ("audio", "voice"):
        attributes.append(
            types.DocumentAttributeAudio(duration=record.duration, voice=kind == "voice" or None)
        )
    if kind == "sticker":
        attributes.append(
            types.DocumentAttributeSticker(
                alt=record.emoji or "", stickerset=types.InputStickerSetEmpty()
            )
        )
        attributes.append(types.DocumentAttributeImageSize(w=record.width, h=record.height))
    if record.file_name:
        attributes.append(types.DocumentAttributeFilename(file_name=record.file_name))
    return attributes


_MIME = {
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "video": "video/mp4",
    "video_note": "video/mp4",
    "animation": "video/mp4",
    "sticker": "image/webp",
    "document": "application/octet-stream",
}


def media_tl(emu: Emulator, record: FileRecord, *, spoiler: bool = False) -> Any:
    """The MessageMedia of a file, with a file reference issued now."""
    reference = file_reference(emu, record)
    if record.kind == "photo":
        photo = types.Photo(
            id=record.internal_id,
            access_hash=document_hash(emu, record),
            file_reference=reference,
            date=_date(0),
            sizes=[types.PhotoSize(type="y", w=record.width, h=record.height, size=record.size)],
            dc_id=record.dc,
        )
        return types.MessageMediaPhoto(photo=photo, spoiler=spoiler or None)
    document = types.Document(
        id=record.internal_id,
        access_hash=document_hash(emu, record),
        file_reference=reference,
        date=_date(0),
        mime_type=record.mime_type or _MIME.get(record.kind, "application/octet-stream"),
        size=record.size,
        dc_id=record.dc,
        attributes=_attributes(record),
    )
    return types.MessageMediaDocument(
        document=document,
        video=record.kind in ("video", "video_note") or None,
        round=record.kind == "video_note" or None,
        voice=record.kind == "voice" or None,
        spoiler=spoiler or None,
    )


_ENTITY = {
    "mention": types.MessageEntityMention,
    "hashtag": types.MessageEntityHashtag,
    "cashtag": types.MessageEntityCashtag,
    "bot_command": types.MessageEntityBotCommand,
    "url": types.MessageEntityUrl,
    "email": types.MessageEntityEmail,
    "phone_number": types.MessageEntityPhone,
    "bold": types.MessageEntityBold,
    "italic": types.MessageEntityItalic,
    "underline": types.MessageEntityUnderline,
    "strikethrough": types.MessageEntityStrike,
    "spoiler": types.MessageEntitySpoiler,
    "code": types.MessageEntityCode,
    "blockquote": types.MessageEntityBlockquote,
}


def entities_tl(entities: list[dict[str, Any]] | None) -> list[Any] | None:
    """Bot API MessageEntity dicts as TL entities (both count UTF-16 code units)."""
    if not entities:
        return None
    out: list[Any] = []
    for e in entities:
        offset, length, kind = int(e["offset"]), int(e["length"]), e["type"]
        if kind in _ENTITY:
            out.append(_ENTITY[kind](offset=offset, length=length))
        elif kind == "pre":
            out.append(types.MessageEntityPre(offset, length, e.get("language", "")))
        elif kind == "text_link":
            out.append(types.MessageEntityTextUrl(offset, length, e["url"]))
        elif kind == "text_mention":
            out.append(types.MessageEntityMentionName(offset, length, int(e["user"]["id"])))
        elif kind == "custom_emoji":
            out.append(types.MessageEntityCustomEmoji(offset, length, int(e["custom_emoji_id"])))
        else:
            out.append(types.MessageEntityUnknown(offset=offset, length=length))
    return out


def message_tl(emu: Emulator, viewer_id: int, stored: StoredMessage) -> Any:
    """A stored message as ``viewer_id`` sees it (MessageEmpty once deleted)."""
    api = stored.api
    chat_id = int(api["chat"]["id"])
    private = api["chat"]["type"] == "private"
    if stored.deleted:
        return types.MessageEmpty(id=stored.message_id, peer_id=None)
    if private:
        # The conversation is between the user (chat id) and the bot: each sees the other.
        other = stored.bot_id if viewer_id == chat_id else chat_id
        peer = types.PeerUser(user_id=other or chat_id)
    else:
        peer = peer_of(chat_id)
    post = api["chat"]["type"] == "channel"
    from_id = None
    if not private and not post and "from" in api:
        from_id = types.PeerUser(user_id=int(api["from"]["id"]))
    reply = api.get("reply_to_message")
    return types.Message(
        id=stored.message_id,
        peer_id=peer,
        date=_date(api.get("date")),
        message=api.get("text", api.get("caption", "")) or "",
        out=stored.sender_id == viewer_id or None,
        post=post or None,
        from_id=from_id,
        reply_to=types.MessageReplyHeader(reply_to_msg_id=int(reply["message_id"]))
        if reply
        else None,
        media=media_tl(emu, stored.file) if stored.file is not None else None,
        entities=entities_tl(api.get("entities", api.get("caption_entities"))),
        edit_date=_date(api.get("edit_date")),
        pinned=stored.pinned or None,
        views=1 if post else None,
        forwards=0 if post else None,  # TL: views and forwards come together
    )


def resolve_input_peer(emu: Emulator, viewer_id: int, peer: Any) -> Chat | User:
    """The chat or user an InputPeer names, checking the viewer's access hash."""
    world = emu.world
    if isinstance(peer, types.InputPeerSelf):
        found = world.users.get(viewer_id) or (b.user if (b := world.bots.get(viewer_id)) else None)
        if found is None:
            raise RpcError(400, "PEER_ID_INVALID")
        return found
    if isinstance(peer, types.InputPeerChat):
        chat = world.chats.get(-int(peer.chat_id))
        if chat is None or chat.type != "group":
            raise RpcError(400, "CHAT_ID_INVALID")
        return chat
    if isinstance(peer, types.InputPeerChannel | types.InputChannel):
        marked = -(_CHANNEL_BASE + int(peer.channel_id))
        chat = world.chats.get(marked)
        if chat is None:
            raise RpcError(400, "CHANNEL_INVALID")
        # A bot may name a chat it is in with access_hash 0 (Telethon does, knowing only
        # the id from a Bot API update); anyone else needs its own hash.
        zero_ok = peer.access_hash == 0 and viewer_id in world.bots and is_member(chat, viewer_id)
        if not zero_ok and peer.access_hash != access_hash(emu, viewer_id, marked):
            raise RpcError(400, "CHANNEL_INVALID")
        return chat
    if isinstance(peer, types.InputPeerUser | types.InputUser):
        user_id = int(peer.user_id)
        user = world.users.get(user_id) or (b.user if (b := world.bots.get(user_id)) else None)
        # A bot may name a user who started it with access_hash 0, as above.
        zero_ok = peer.access_hash == 0 and (viewer_id, user_id) in world.started
        if user is None or (
            user_id != viewer_id
            and not zero_ok
            and peer.access_hash != access_hash(emu, viewer_id, user_id)
        ):
            raise RpcError(400, "PEER_ID_INVALID")
        return user
    if isinstance(peer, types.InputUserSelf):
        return resolve_input_peer(emu, viewer_id, types.InputPeerSelf())
    raise RpcError(400, "PEER_ID_INVALID")
