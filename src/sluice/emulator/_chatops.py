"""Bot API methods on sent messages: pins, reactions, and several forwarded, copied or deleted."""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import ApiError, bad_request, forbidden
from sluice.emulator._messages import (
    author_of,
    can_delete,
    content_for,
    media_object,
    origin_of,
    read_source_chat,
    send_target,
    snapshot,
    store_sent,
    topic_of,
)
from sluice.emulator._params import Params
from sluice.emulator._world import SERVICE_KEYS, Bot, Chat, StoredMessage, User, conversation_key

__all__ = ["choose_reactions", "set_reactions"]

# Telegram's list of emoji a ReactionTypeEmoji may carry (Bot API, ReactionTypeEmoji).
# fmt: off
_EMOJI = (
    "❤", "👍", "👎", "🔥", "🥰", "👏", "😁", "🤔", "🤯", "😱", "🤬", "😢",
    "🎉", "🤩", "🤮", "💩", "🙏", "👌", "🕊", "🤡", "🥱", "🥴", "😍", "🐳",
    "❤\u200d🔥", "🌚", "🌭", "💯", "🤣", "⚡", "🍌", "🏆", "💔", "🤨", "😐", "🍓",
    "🍾", "💋", "🖕", "😈", "😴", "😭", "🤓", "👻", "👨\u200d💻", "👀", "🎃", "🙈",
    "😇", "😨", "🤝", "✍", "🤗", "🫡", "🎅", "🎄", "☃", "💅", "🤪", "🗿",
    "🆒", "💘", "🙉", "🦄", "😘", "💊", "🙊", "😎", "👾", "🤷\u200d♂", "🤷", "🤷\u200d♀",
    "😡",
)
# fmt: on
# Clients send some of them with the emoji variation selector (U+FE0F): the same reaction.
_CANONICAL = {emoji.replace("\ufe0f", ""): emoji for emoji in _EMOJI}
_MAX_IDS = 100
_ID_TEXT = re.compile(r"-?\d+")
_INT32_MAX = 2**31 - 1
# What no bot can forward or copy: service messages, and what Telegram keeps to its chat.
_NOT_COPYABLE = frozenset({"invoice", "paid_media", "giveaway", "giveaway_winners"})


def _conversation(emu: Emulator, bot: Bot, chat: Chat | User) -> list[StoredMessage]:
    return emu.world.messages.get(conversation_key(chat, bot.id), [])


def _find(
    emu: Emulator, bot: Bot, chat: Chat | User, message_id: int | None, not_found: str
) -> StoredMessage:
    stored = emu.world.find_message(chat, bot.id, message_id or 0)
    if stored is None:
        raise bad_request(not_found)
    return stored


def _nested_for(emu: Emulator, bot_id: int, stored: StoredMessage) -> dict[str, Any]:
    """A message as it appears inside another one that ``bot_id`` receives: without its own
    reply, its file under that bot's file_id."""
    api = snapshot(stored)
    if stored.file is not None:
        key, obj = media_object(emu, emu.world.bots[bot_id], stored.file)
        api[key] = obj
    return api


# -- pins --------------------------------------------------------------------------


def _pin_chat(emu: Emulator, bot: Bot, p: Params) -> Chat | User:
    chat = emu.world.resolve_chat(p.chat_id())
    if isinstance(chat, User):
        emu.world.check_can_send(bot, chat)
    elif bot.id not in chat.bot_ids:
        raise forbidden(f"bot is not a member of the {chat.type} chat")
    return chat


def _check_pin_rights(bot: Bot, chat: Chat | User) -> None:
    """Anyone may pin in a private chat; elsewhere an administrator with the right to
    (TDLib's can_pin_messages: can_edit_messages in a channel, can_pin_messages elsewhere)."""
    if isinstance(chat, User):
        return
    right = "can_edit_messages" if chat.type == "channel" else "can_pin_messages"
    admin = chat.admins.get(bot.id)  # an admin bot without a ChatAdmin has every right
    if bot.id not in chat.admin_bot_ids or (admin is not None and not admin.rights.get(right)):
        raise bad_request("not enough rights to manage pinned messages in the chat")


def _announce_pin(emu: Emulator, bot: Bot, chat: Chat | User, pinned: StoredMessage) -> None:
    """Telegram's service message about the pin; the bot receives its own (the Bot API
    server does not skip an outgoing messagePinMessage), as does every other bot there."""
    body = author_of(bot, chat) | {"pinned_message": snapshot(pinned)}
    if pinned.api.get("is_topic_message"):
        body |= {"message_thread_id": pinned.api["message_thread_id"], "is_topic_message": True}
    service = emu.world.store_message(chat, bot.id, bot.id, body)
    kind = "channel_post" if isinstance(chat, Chat) and chat.type == "channel" else "message"
    for bot_id in [bot.id] if isinstance(chat, User) else sorted(chat.bot_ids):
        seen = service.api | {"pinned_message": _nested_for(emu, bot_id, pinned)}
        emu.hub.push(bot_id, kind, seen)


@method("pinChatMessage")
async def pin_chat_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _pin_chat(emu, bot, p)
    stored = _find(emu, bot, chat, p.integer("message_id"), "message to pin not found")
    _check_pin_rights(bot, chat)
    if not stored.pinned:
        stored.pinned = True
        _announce_pin(emu, bot, chat, stored)
    return True


@method("unpinChatMessage")
async def unpin_chat_message(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _pin_chat(emu, bot, p)
    message_id = p.integer("message_id")
    if message_id:
        stored = _find(emu, bot, chat, message_id, "message to unpin not found")
    else:  # the most recent pin, by sending date
        pinned = [m for m in _conversation(emu, bot, chat) if m.pinned and not m.deleted]
        if not pinned:
            raise bad_request("message to unpin not found")
        stored = max(pinned, key=lambda m: m.message_id)
    _check_pin_rights(bot, chat)
    stored.pinned = False
    return True


@method("unpinAllChatMessages")
async def unpin_all_chat_messages(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _pin_chat(emu, bot, p)
    _check_pin_rights(bot, chat)
    for stored in _conversation(emu, bot, chat):
        stored.pinned = False
    return True


# -- reactions -----------------------------------------------------------------------


def _reaction_type(item: object) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_request("can't parse ReactionType: expected an Object")
    kind = item.get("type")
    if not isinstance(kind, str):
        raise bad_request("can't parse ReactionType: Can't find field \"type\"")
    if kind == "emoji":
        emoji = item.get("emoji")
        if not isinstance(emoji, str):
            raise bad_request("can't parse ReactionType: Can't find field \"emoji\"")
        return {"type": "emoji", "emoji": emoji}
    if kind == "custom_emoji":
        custom = item.get("custom_emoji_id")
        if isinstance(custom, bool) or not isinstance(custom, int | str):
            raise bad_request("can't parse ReactionType: Can't find field \"custom_emoji_id\"")
        return {"type": "custom_emoji", "custom_emoji_id": str(custom)}
    raise bad_request("can't parse ReactionType: invalid reaction type specified")


def choose_reactions(
    stored: StoredMessage, wanted: list[dict[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """The reactions as Telegram stores them, or 400: an emoji of Telegram's list, or a
    custom emoji already on the message; at most ``limit`` (1 for bots)."""
    present = [r for reactions in stored.reactions.values() for r in reactions]
    chosen: list[dict[str, Any]] = []
    for reaction in wanted:
        if reaction["type"] == "emoji":
            emoji = _CANONICAL.get(reaction["emoji"].replace("\ufe0f", ""))
            if emoji is None:
                raise bad_request("REACTION_INVALID")
            reaction = {"type": "emoji", "emoji": emoji}
        elif reaction not in present:
            raise bad_request("REACTION_INVALID")
        if reaction not in chosen:
            chosen.append(reaction)
    if len(chosen) > limit:
        raise bad_request("REACTIONS_TOO_MANY")
    return chosen


def set_reactions(stored: StoredMessage, actor_id: int, reactions: list[dict[str, Any]]) -> None:
    if reactions:
        stored.reactions[actor_id] = reactions
    else:
        stored.reactions.pop(actor_id, None)


def _album_head(emu: Emulator, bot: Bot, chat: Chat | User, stored: StoredMessage) -> StoredMessage:
    """A reaction to an album goes to its first message still there."""
    album = stored.api.get("media_group_id")
    if album is None:
        return stored
    for message in _conversation(emu, bot, chat):
        if not message.deleted and message.api.get("media_group_id") == album:
            return message
    return stored


@method("setMessageReaction")
async def set_message_reaction(emu: Emulator, bot: Bot, p: Params) -> Any:
    value = p.json("reaction", "reaction types")
    if value is not None and not isinstance(value, list):
        raise bad_request("expected an Array of ReactionType")
    wanted = [_reaction_type(item) for item in value or []]
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    stored = _find(emu, bot, chat, p.integer("message_id"), "message to react not found")
    stored = _album_head(emu, bot, chat, stored)
    p.flag("is_big")  # accepted; only the animation differs
    # A bot's own reaction makes no message_reaction update (Telegram sends none for bots).
    set_reactions(stored, bot.id, choose_reactions(stored, wanted, limit=1))
    return True


# -- several at once -------------------------------------------------------------------


def _message_ids(p: Params) -> list[int]:
    """``message_ids`` as the Bot API server parses them, with its errors."""
    value = p.json("message_ids", "message_ids")
    if value is None or value == []:
        raise bad_request("message identifiers are not specified")
    if not isinstance(value, list):
        raise bad_request("expected an Array of message identifiers")
    if len(value) > _MAX_IDS:
        raise bad_request("too many message identifiers specified")
    ids: list[int] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise bad_request("message identifier must be a Number")
        text = str(item)
        if not _ID_TEXT.fullmatch(text) or abs(int(text)) > _INT32_MAX:
            raise bad_request("can't parse message identifier as Number")
        if int(text) <= 0:
            raise bad_request("invalid message identifier specified")
        ids.append(int(text))
    return ids


def _batch(
    emu: Emulator, bot: Bot, p: Params, *, copying: bool
) -> tuple[Chat | User, dict[str, Any], list[tuple[StoredMessage, dict[str, Any]]]]:
    """The target chat, its topic, and each source message that can go with its new body.

    Missing messages, protected ones and service messages are skipped, as Telegram does.
    """
    ids = _message_ids(p)
    chat = send_target(emu, bot, p)
    thread = topic_of(emu, bot.id, chat, p, {})
    source_chat = read_source_chat(emu, bot, p)
    if any(a >= b for a, b in itertools.pairwise(ids)):
        raise bad_request("message identifiers must be in a strictly increasing order")
    remove_caption = copying and p.flag("remove_caption")
    excluded = SERVICE_KEYS | _NOT_COPYABLE if copying else SERVICE_KEYS
    going: list[tuple[StoredMessage, dict[str, Any]]] = []
    for message_id in ids:
        source = emu.world.find_message(source_chat, bot.id, message_id)
        if source is None or source.api.get("has_protected_content"):
            continue
        if excluded & source.api.keys():
            continue
        try:  # a copy makes a new poll; another bot's open quiz cannot be copied
            body = content_for(emu, bot, source, copying=copying)
        except ApiError:
            continue
        if not body:  # nothing the emulator can reproduce
            continue
        if remove_caption:
            body.pop("caption", None)
            body.pop("caption_entities", None)
        if not copying:
            body["forward_origin"] = origin_of(emu, source)
        going.append((source, body))
    if not going:
        raise bad_request("messages can't be forwarded")
    return chat, thread, going


def _send_batch(emu: Emulator, bot: Bot, p: Params, *, copying: bool) -> list[dict[str, int]]:
    chat, thread, going = _batch(emu, bot, p, copying=copying)
    protect = p.flag("protect_content")
    emu.admit(bot, chat, n=len(going))
    albums: dict[str, str] = {}  # an album stays one album, under a new id
    sent: list[dict[str, int]] = []
    for source, body in going:
        album = source.api.get("media_group_id")
        if album is not None:
            body["media_group_id"] = albums.setdefault(album, str(secrets.randbits(62)))
        stored = store_sent(emu, bot, chat, body | thread, source.file, protect=protect)
        sent.append({"message_id": stored.message_id})
    return sent


@method("forwardMessages")
async def forward_messages(emu: Emulator, bot: Bot, p: Params) -> Any:
    return _send_batch(emu, bot, p, copying=False)


@method("copyMessages")
async def copy_messages(emu: Emulator, bot: Bot, p: Params) -> Any:
    return _send_batch(emu, bot, p, copying=True)


@method("deleteMessages")
async def delete_messages(emu: Emulator, bot: Bot, p: Params) -> Any:
    ids = _message_ids(p)
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    deleted = []
    for message_id in ids:
        stored = emu.world.find_message(chat, bot.id, message_id)
        if stored is not None and can_delete(bot, chat, stored):
            stored.deleted = True
            stored.pinned = False
            deleted.append(stored)
    if deleted:
        emu.world.notify("delete", chat, deleted)
    return True
