"""Sending as an MTProto account: messages.sendMessage, sendMedia, forwardMessages,
editMessage, deleteMessages and channels.deleteMessages, for bots and user accounts.

Messages are stored in the world as the Bot API stores them, so ``/_sim/`` and other
bots see them: a user account's message reaches the bots of its chat through
``emu.hub`` as a simulated user's does (``Simulator.deliver_private`` /
``deliver_group``); a bot's reaches no other bot, as a Bot API send (Telegram's bots
never see other bots' messages). The account's own updates come back in the answer.

Limits, checked before anything is stored: a bot has the Bot API's flood budget
(``emu.admit``, one budget whichever API it uses) and permission rules; a user
account has slow mode (per supergroup, ``/_sim/mtproto/slow_mode``), ``PEER_FLOOD``
past ``MtprotoConfig.peer_flood`` strangers, bans, restrictions and admin rights.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator._errors import ApiError
from sluice.emulator._files import FileRecord
from sluice.emulator._messages import (
    CONTENT_KEYS,
    MAX_CAPTION,
    MAX_TEXT,
    author_of,
    media_fields,
    media_object,
    origin_of,
    record_edit,
    snapshot,
)
from sluice.emulator._sim import Simulator
from sluice.emulator._world import Bot, Chat, StoredMessage, User
from sluice.emulator.mtproto import _m_upload  # noqa: F401  (registers upload.saveFilePart)
from sluice.emulator.mtproto._convert import (
    chat_tl,
    document_hash,
    is_member,
    message_tl,
    resolve_input_peer,
    user_tl,
)
from sluice.emulator.mtproto._m_upload import uploaded_file
from sluice.emulator.mtproto._rpc import Call, RpcError, from_api_error, rpc
from sluice.emulator.mtproto._updates import answering, is_channel, listen

if TYPE_CHECKING:
    from sluice.emulator.mtproto._state import MtprotoWorld

__all__ = ["entities_api", "set_slow_mode"]

_RANDOM_IDS_KEPT = 10_000  # random_ids remembered per account
_SLOW_MODES = (0, 10, 30, 60, 300, 900, 3600)  # the values Telegram offers

_ENTITY_KINDS = {
    types.MessageEntityMention: "mention",
    types.MessageEntityHashtag: "hashtag",
    types.MessageEntityCashtag: "cashtag",
    types.MessageEntityBotCommand: "bot_command",
    types.MessageEntityUrl: "url",
    types.MessageEntityEmail: "email",
    types.MessageEntityPhone: "phone_number",
    types.MessageEntityBold: "bold",
    types.MessageEntityItalic: "italic",
    types.MessageEntityUnderline: "underline",
    types.MessageEntityStrike: "strikethrough",
    types.MessageEntitySpoiler: "spoiler",
    types.MessageEntityCode: "code",
    types.MessageEntityBlockquote: "blockquote",
}


def entities_api(entities: list[Any] | None, text: str) -> list[dict[str, Any]]:
    """TL entities as Bot API MessageEntity dicts (both count UTF-16 code units)."""
    length16 = len(text.encode("utf-16-le")) // 2
    out: list[dict[str, Any]] = []
    for e in entities or []:
        if e.offset < 0 or e.length <= 0 or e.offset + e.length > length16:
            raise RpcError(400, "ENTITY_BOUNDS_INVALID")
        base: dict[str, Any] = {"offset": e.offset, "length": e.length}
        if (kind := _ENTITY_KINDS.get(type(e))) is not None:
            out.append(base | {"type": kind})
        elif isinstance(e, types.MessageEntityPre):
            out.append(base | {"type": "pre"} | ({"language": e.language} if e.language else {}))
        elif isinstance(e, types.MessageEntityTextUrl):
            out.append(base | {"type": "text_link", "url": e.url})
        elif isinstance(e, types.MessageEntityCustomEmoji):
            out.append(base | {"type": "custom_emoji", "custom_emoji_id": str(e.document_id)})
        elif isinstance(e, types.InputMessageEntityMentionName | types.MessageEntityMentionName):
            user_id = getattr(e.user_id, "user_id", e.user_id)
            out.append(base | {"type": "text_mention", "user": {"id": int(user_id)}})
    return sorted(out, key=lambda d: (d["offset"], -d["length"]))


@dataclass(slots=True)
class Place:
    """Where an account's message goes: the world's chat and conversation, and who
    sends it (a bot, or a user account)."""

    chat: Chat | User  # for a private chat: the User whose id is the conversation's chat id
    conversation: int  # store_message's bot_id: the private chat's other side, 0 elsewhere
    bot: Bot | None
    user: User | None
    target: Chat | User  # what the peer named

    @property
    def private(self) -> bool:
        return isinstance(self.chat, User)


def sender_of(call: Call) -> tuple[Bot | None, User | None]:
    world = call.emu.world
    account = call.account_id
    bot = world.bots.get(account)
    if bot is not None:
        return bot, None
    user = world.users.get(account)
    if user is None:
        raise RpcError(401, "AUTH_KEY_UNREGISTERED")
    return None, user


def place_of(call: Call, peer: Any) -> Place:
    """The conversation a peer names for the calling account."""
    world = call.emu.world
    bot, user = sender_of(call)
    target = resolve_input_peer(call.emu, call.account_id, peer)
    if isinstance(target, Chat):
        return Place(target, 0, bot, user, target)
    if bot is not None:
        if target.is_bot:
            raise RpcError(400, "USER_IS_BOT")
        return Place(target, bot.id, bot, None, target)
    assert user is not None
    if target.is_bot:
        return Place(user, target.id, None, user, target)
    low, high = sorted((user.id, target.id))
    return Place(world.users[low], high, None, user, target)


def _now() -> int:
    return int(time.time())


def check_send(call: Call, place: Place, n: int = 1) -> None:
    """Refuse a send the rules or limits refuse (nothing is counted or stored yet)."""
    world = call.emu.world
    if place.bot is not None:
        try:
            world.check_can_send(place.bot, place.target)
        except ApiError as error:
            raise _bot_refusal(error) from None
        return
    user = place.user
    assert user is not None
    target = place.target
    if isinstance(target, User):
        if not target.is_bot and target.id != user.id:
            _peer_flood(call, user, place)
        return
    target.expire(_now())
    if user.id in target.banned:
        raise RpcError(403, "USER_BANNED_IN_CHANNEL")
    if not is_member(target, user.id):
        raise RpcError(403, "CHAT_WRITE_FORBIDDEN")
    admin = user.id == target.owner_id or user.id in target.admins
    if target.type == "channel":
        rights = target.admins.get(user.id)
        can_post = user.id == target.owner_id or (
            rights is not None and rights.rights.get("can_post_messages", False)
        )
        if not can_post:
            raise RpcError(403, "CHAT_ADMIN_REQUIRED")
        return
    if target.send_refusal(user.id, _now()) is not None:
        raise RpcError(403, "CHAT_WRITE_FORBIDDEN")
    mt = call.mt
    seconds = mt.slow_mode.get(target.id, 0)
    last = mt.last_post.get((target.id, user.id))
    if seconds and not admin and last is not None:
        left = last + seconds - call.emu.clock()
        if left > 0:
            raise RpcError(420, f"SLOWMODE_WAIT_{math.ceil(left)}")


def _peer_flood(call: Call, user: User, place: Place) -> None:
    """Writing to a user who never wrote to the account counts; past the limit: PEER_FLOOD."""
    world = call.emu.world
    log = world.messages.get((place.chat.id, place.conversation), [])
    other = place.target.id
    if any(m.sender_id == other for m in log):
        return
    strangers = call.mt.strangers.setdefault(user.id, set())
    if other not in strangers and len(strangers) >= call.emu.config.mtproto.peer_flood:
        raise RpcError(400, "PEER_FLOOD")
    strangers.add(other)


def _bot_refusal(error: ApiError) -> RpcError:
    text = error.description.lower()
    if "blocked by the user" in text:
        return RpcError(400, "USER_IS_BLOCKED")
    if "administrator rights" in text:
        return RpcError(403, "CHAT_ADMIN_REQUIRED")
    if "kicked" in text:
        return RpcError(403, "USER_BANNED_IN_CHANNEL")
    return from_api_error(error)


def admit(call: Call, place: Place, n: int = 1) -> None:
    """Count the send into the bot's one flood budget (the Bot API's)."""
    if place.bot is None:
        return
    try:
        call.emu.admit(place.bot, place.target, n=n)
    except ApiError as error:
        raise from_api_error(error) from None


def check_random_ids(call: Call, random_ids: list[int]) -> None:
    used = call.mt.random_ids.get(call.account_id, {})
    if len(set(random_ids)) != len(random_ids) or any(r in used for r in random_ids):
        raise RpcError(500, "RANDOM_ID_DUPLICATE")


def remember_random_ids(call: Call, random_ids: list[int]) -> None:
    used = call.mt.random_ids.setdefault(call.account_id, {})
    for random_id in random_ids:
        used[random_id] = None
    while len(used) > _RANDOM_IDS_KEPT:
        del used[next(iter(used))]


def reply_of(call: Call, place: Place, reply_to: Any) -> dict[str, Any]:
    if reply_to is None or getattr(reply_to, "reply_to_msg_id", None) is None:
        return {}
    original = call.emu.world.find_message(place.chat, place.conversation, reply_to.reply_to_msg_id)
    if original is None:
        raise RpcError(400, "REPLY_MESSAGE_ID_INVALID")
    return {"reply_to_message": snapshot(original)}


def store(call: Call, place: Place, body: dict[str, Any], file: FileRecord | None) -> StoredMessage:
    """Store a message as the world does for a Bot API bot or a simulated user."""
    emu = call.emu
    world = emu.world
    listen(emu)
    call.mt.box(call.account_id)  # the sender's own events are counted from now on
    token = answering.set(call.connection)
    try:
        if place.bot is not None:
            bot = place.bot
            if file is not None:
                key, obj = media_object(emu, bot, file)
                body = body | {key: obj}
            message = author_of(bot, place.chat) | body
            stored = world.store_message(place.chat, place.conversation, bot.id, message, file)
        else:
            user = place.user
            assert user is not None
            sim = Simulator(emu)
            target = place.target
            if isinstance(target, Chat):
                api = sim.deliver_group(target, user, body, file)
                call.mt.last_post[(target.id, user.id)] = emu.clock()
            elif target.is_bot:
                world.started.add((target.id, user.id))
                world.blocked.discard((target.id, user.id))
                api = sim.deliver_private(target.id, user, body, file)
            else:
                message = {"from": user.to_api()} | body
                api = world.store_message(
                    place.chat, place.conversation, user.id, message, file
                ).api
            found = world.find_message(place.chat, place.conversation, int(api["message_id"]))
            assert found is not None
            stored = found
    finally:
        answering.reset(token)
    return stored


def own_pts(call: Call, place: Place) -> int:
    """The pts of the account's latest event in the place's sequence."""
    if is_channel(place.chat):
        return call.mt.channel_pts.get(place.chat.id, 1)
    return call.mt.box(call.account_id).pts


def sent_updates(call: Call, place: Place, sent: list[tuple[int, StoredMessage]]) -> Any:
    """``Updates`` with UpdateMessageID and the new messages, as Telegram answers a send."""
    emu = call.emu
    me = call.account_id
    channel = is_channel(place.chat)
    last = own_pts(call, place)
    first = last - len(sent) + 1
    updates: list[Any] = []
    for offset, (random_id, stored) in enumerate(sent):
        updates.append(types.UpdateMessageID(id=stored.message_id, random_id=random_id))
        message = message_tl(emu, me, stored)
        cls = types.UpdateNewChannelMessage if channel else types.UpdateNewMessage
        updates.append(cls(message=message, pts=first + offset, pts_count=1))
    return types.Updates(
        updates=updates,
        users=_users(call, place, [s for _, s in sent]),
        chats=[chat_tl(emu, me, place.chat)] if isinstance(place.chat, Chat) else [],
        date=_date(),
        seq=0,
    )


def _users(call: Call, place: Place, messages: list[StoredMessage]) -> list[Any]:
    ids = {call.account_id, place.target.id if isinstance(place.target, User) else 0}
    ids |= {m.sender_id for m in messages}
    return [user_tl(call.emu, call.account_id, i) for i in sorted(ids) if i]


def _date() -> Any:
    import datetime as dt

    return dt.datetime.now(tz=dt.UTC)


def _text(message: str, entities: list[Any] | None, *, caption: bool) -> dict[str, Any]:
    limit = MAX_CAPTION if caption else MAX_TEXT
    if len(message) > limit:
        raise RpcError(400, "MEDIA_CAPTION_TOO_LONG" if caption else "MESSAGE_TOO_LONG")
    if not caption and not message.strip():
        raise RpcError(400, "MESSAGE_EMPTY")
    if not message:
        return {}
    field = "caption" if caption else "text"
    body: dict[str, Any] = {field: message}
    if converted := entities_api(entities, message):
        body[f"{field}_entities" if caption else "entities"] = converted
    return body


@rpc(functions.messages.SendMessageRequest)
async def send_message(call: Call, request: Any) -> Any:
    place = place_of(call, request.peer)
    body = _text(request.message, request.entities, caption=False)
    body |= reply_of(call, place, request.reply_to)
    if request.no_webpage:
        body["link_preview_options"] = {"is_disabled": True}
    check_random_ids(call, [request.random_id])
    check_send(call, place)
    admit(call, place)
    stored = store(call, place, body, None)
    remember_random_ids(call, [request.random_id])
    if is_channel(place.chat):
        return sent_updates(call, place, [(request.random_id, stored)])
    return types.UpdateShortSentMessage(
        out=True,
        id=stored.message_id,
        pts=own_pts(call, place),
        pts_count=1,
        date=_date(),
        entities=request.entities or None,
    )


def _kind_of(media: Any) -> tuple[str, str | None, int]:
    """The FileRecord kind an uploaded document's attributes make, its name and duration."""
    kind, name, duration = "document", None, 0
    attributes = list(media.attributes or [])
    for attribute in attributes:
        if isinstance(attribute, types.DocumentAttributeFilename):
            name = attribute.file_name
        if media.force_file:
            continue
        if isinstance(attribute, types.DocumentAttributeAudio):
            kind, duration = ("voice" if attribute.voice else "audio"), int(attribute.duration)
        elif isinstance(attribute, types.DocumentAttributeVideo):
            kind = "video_note" if attribute.round_message else "video"
            duration = int(attribute.duration)
    animated = any(isinstance(a, types.DocumentAttributeAnimated) for a in attributes)
    if not media.force_file and kind == "video" and animated:
        kind = "animation"
    return kind, name, duration


def _existing(call: Call, input_file: Any, photo: bool) -> FileRecord:
    if isinstance(input_file, types.InputDocumentEmpty | types.InputPhotoEmpty):
        raise RpcError(400, "MEDIA_EMPTY")
    record = call.emu.files.by_internal_id(int(input_file.id))
    if record is None or input_file.access_hash != document_hash(call.emu, record):
        raise RpcError(400, "MEDIA_INVALID")
    if photo != (record.kind == "photo"):
        raise RpcError(400, "MEDIA_INVALID")
    return record


async def media_file(call: Call, media: Any) -> tuple[FileRecord, bool]:
    """The file of an InputMedia (uploaded now, or sent before) and its spoiler flag."""
    spoiler = bool(getattr(media, "spoiler", False))
    if isinstance(media, types.InputMediaUploadedPhoto):
        record = await uploaded_file(
            call, media.file, "photo", mime_type=None, file_name=None, duration=0
        )
        return record, spoiler
    if isinstance(media, types.InputMediaUploadedDocument):
        kind, name, duration = _kind_of(media)
        record = await uploaded_file(
            call, media.file, kind, mime_type=media.mime_type, file_name=name, duration=duration
        )
        return record, spoiler
    if isinstance(media, types.InputMediaDocument):
        return _existing(call, media.id, photo=False), spoiler
    if isinstance(media, types.InputMediaPhoto):
        return _existing(call, media.id, photo=True), spoiler
    raise RpcError(400, "MEDIA_INVALID")


@rpc(functions.messages.SendMediaRequest)
async def send_media(call: Call, request: Any) -> Any:
    place = place_of(call, request.peer)
    body = _text(request.message or "", request.entities, caption=True)
    body |= reply_of(call, place, request.reply_to)
    check_random_ids(call, [request.random_id])
    check_send(call, place)
    admit(call, place)
    record, _spoiler = await media_file(call, request.media)
    stored = store(call, place, body, record)
    remember_random_ids(call, [request.random_id])
    return sent_updates(call, place, [(request.random_id, stored)])


def source_place(call: Call, peer: Any) -> Place:
    place = place_of(call, peer)
    if isinstance(place.target, Chat) and not is_member(place.target, call.account_id):
        raise RpcError(400, "CHANNEL_PRIVATE")
    return place


@rpc(functions.messages.ForwardMessagesRequest)
async def forward_messages(call: Call, request: Any) -> Any:
    ids = list(request.id)
    random_ids = list(request.random_id)
    if not ids or len(ids) > 100:
        raise RpcError(400, "MESSAGE_IDS_EMPTY" if not ids else "MESSAGE_ID_INVALID")
    if len(random_ids) != len(ids):
        raise RpcError(400, "RANDOM_ID_INVALID")
    source = source_place(call, request.from_peer)
    place = place_of(call, request.to_peer)
    originals: list[StoredMessage] = []
    for message_id in ids:
        found = call.emu.world.find_message(source.chat, source.conversation, message_id)
        if found is None:
            raise RpcError(400, "MESSAGE_ID_INVALID")
        if found.api.get("has_protected_content"):
            raise RpcError(400, "CHAT_FORWARDS_RESTRICTED")
        originals.append(found)
    check_random_ids(call, random_ids)
    check_send(call, place, len(ids))
    admit(call, place, len(ids))
    sent: list[tuple[int, StoredMessage]] = []
    for random_id, original in zip(random_ids, originals, strict=True):
        body = {k: copy.deepcopy(original.api[k]) for k in CONTENT_KEYS if k in original.api}
        for key in ("document", "audio", "voice", "video", "video_note", "photo", "animation"):
            body.pop(key, None)  # the file is described again for whoever sees the copy
        if not request.drop_author:
            body["forward_origin"] = origin_of(call.emu, original)
        sent.append((random_id, store(call, place, body, original.file)))
    remember_random_ids(call, random_ids)
    return sent_updates(call, place, sent)


def _own_message(call: Call, place: Place, message_id: int) -> StoredMessage:
    stored = call.emu.world.find_message(place.chat, place.conversation, message_id)
    if stored is None:
        raise RpcError(400, "MESSAGE_ID_INVALID")
    if stored.sender_id != call.account_id:
        raise RpcError(403, "MESSAGE_AUTHOR_REQUIRED")
    return stored


@rpc(functions.messages.EditMessageRequest)
async def edit_message(call: Call, request: Any) -> Any:
    place = place_of(call, request.peer)
    stored = _own_message(call, place, request.id)
    if request.media is not None:
        raise RpcError(400, "MEDIA_NOT_EMULATED: editing a message's media")
    changes: dict[str, Any] = {}
    if request.message is not None:
        caption = stored.file is not None
        body = _text(request.message, request.entities, caption=caption)
        field = "caption" if caption else "text"
        entities = "caption_entities" if caption else "entities"
        changes = {field: body.get(field), entities: body.get(entities)}
    if not changes or all(stored.api.get(k) == v for k, v in changes.items()):
        raise RpcError(400, "MESSAGE_NOT_MODIFIED")
    admit(call, place)
    emu = call.emu
    stored.api = dict(stored.api)  # updates already queued keep the message as it was
    record_edit(stored, changes)
    token = answering.set(call.connection)
    try:
        listen(emu)
        emu.world.notify("edit", place.chat, [stored])
    finally:
        answering.reset(token)
    if place.user is not None:
        _edit_to_bots(call, place, stored)
    channel = is_channel(place.chat)
    cls = types.UpdateEditChannelMessage if channel else types.UpdateEditMessage
    update = cls(
        message=message_tl(emu, call.account_id, stored), pts=own_pts(call, place), pts_count=1
    )
    return types.Updates(
        updates=[update],
        users=_users(call, place, [stored]),
        chats=[chat_tl(emu, call.account_id, place.chat)] if isinstance(place.chat, Chat) else [],
        date=_date(),
        seq=0,
    )


def _edit_to_bots(call: Call, place: Place, stored: StoredMessage) -> None:
    """A user account's edit reaches the bots that got the message (as ``/_sim/edit``)."""
    emu = call.emu
    target = place.target
    if isinstance(target, Chat):
        receivers = sorted(target.bot_ids)
        kind = "edited_channel_post" if target.type == "channel" else "edited_message"
    elif target.is_bot:
        receivers, kind = [target.id], "edited_message"
    else:
        return
    for bot_id in receivers:
        bot = emu.world.bots[bot_id]
        api = stored.api
        if stored.file is not None:
            api = api | media_fields(emu, bot, stored.file)
        emu.hub.push(bot_id, kind, api)


def _may_delete(call: Call, place: Place, stored: StoredMessage) -> bool:
    account = call.account_id
    if stored.sender_id == account or place.private:
        return True
    chat = place.chat
    assert isinstance(chat, Chat)
    if account == chat.owner_id or account in chat.admin_bot_ids:
        return True
    admin = chat.admins.get(account)
    return admin is not None and admin.rights.get("can_delete_messages", False)


def _delete(call: Call, place: Place, ids: list[int]) -> int:
    """Delete what the account may (CHAT_ADMIN_REQUIRED for others' messages); the
    number of messages deleted."""
    world = call.emu.world
    found = [m for i in ids if (m := world.find_message(place.chat, place.conversation, i))]
    if any(not _may_delete(call, place, m) for m in found):
        raise RpcError(403, "CHAT_ADMIN_REQUIRED")
    for stored in found:
        stored.deleted = True
        stored.pinned = False
    if found:
        listen(call.emu)
        call.mt.box(call.account_id)
        token = answering.set(call.connection)
        try:
            world.notify("delete", place.chat, found)
        finally:
            answering.reset(token)
    return len(found)


def _my_conversations(call: Call) -> list[Place]:
    """The account's private chats and basic groups (where messages.deleteMessages looks)."""
    world = call.emu.world
    me = call.account_id
    bot, user = sender_of(call)
    places: list[Place] = []
    for chat_id, other in world.messages:
        if other == 0:
            chat = world.chats.get(chat_id)
            if chat is not None and chat.type == "group" and is_member(chat, me):
                places.append(Place(chat, 0, bot, user, chat))
        elif me in (chat_id, other):
            owner = world.users.get(chat_id)
            if owner is None:
                continue
            peer_id = other if chat_id == me else chat_id
            peer = world.users.get(peer_id) or (b.user if (b := world.bots.get(peer_id)) else None)
            if peer is not None:
                places.append(Place(owner, other, bot, user, peer))
    return places


@rpc(functions.messages.DeleteMessagesRequest)
async def delete_messages(call: Call, request: Any) -> Any:
    ids = list(request.id)
    if len(ids) > 100:
        raise RpcError(400, "MESSAGE_ID_INVALID")
    places = _my_conversations(call)
    # Refuse before deleting anything: no place may hold another's message we may not delete.
    for place in places:
        for message_id in ids:
            stored = call.emu.world.find_message(place.chat, place.conversation, message_id)
            if stored is not None and not _may_delete(call, place, stored):
                raise RpcError(403, "MESSAGE_DELETE_FORBIDDEN")
    count = sum(_delete(call, place, ids) for place in places)
    box = call.mt.box(call.account_id)
    return types.messages.AffectedMessages(pts=box.pts, pts_count=count)


@rpc(functions.channels.DeleteMessagesRequest)
async def delete_channel_messages(call: Call, request: Any) -> Any:
    place = source_place(call, request.channel)
    if not is_channel(place.chat):
        raise RpcError(400, "CHANNEL_INVALID")
    ids = list(request.id)
    if len(ids) > 100:
        raise RpcError(400, "MESSAGE_ID_INVALID")
    count = _delete(call, place, ids)
    return types.messages.AffectedMessages(pts=own_pts(call, place), pts_count=count)


def set_slow_mode(mt: MtprotoWorld, chat: Chat, seconds: int) -> None:
    """Slow mode of a supergroup (``POST /_sim/mtproto/slow_mode``)."""
    if chat.type != "supergroup":
        raise ValueError("slow mode is a supergroup's setting")
    if seconds not in _SLOW_MODES:
        raise ValueError("seconds must be one of " + ", ".join(map(str, _SLOW_MODES)))
    if seconds:
        mt.slow_mode[chat.id] = seconds
    else:
        mt.slow_mode.pop(chat.id, None)
