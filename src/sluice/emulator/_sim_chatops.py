"""Simulated users around messages: replies, forwards, topics, deep links, edits, reactions."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._chatops import choose_reactions, set_reactions
from sluice.emulator._errors import bad_request
from sluice.emulator._messages import (
    MAX_CAPTION,
    MAX_TEXT,
    NOT_MODIFIED,
    record_edit,
    snapshot,
    topic_of,
)
from sluice.emulator._params import Params
from sluice.emulator._sim import Simulator, sim_post
from sluice.emulator._text import detect_entities
from sluice.emulator._world import Chat, StoredMessage, User

__all__ = ["message_context", "start_message"]

# A deep link's payload (t.me/<bot>?start=<payload>), as Telegram allows it.
_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_TOPIC_NAME = 128
# The colours a topic icon may have (createForumTopic); the first is Telegram's default.
_TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
_FORWARD_KINDS = ("forward_from_user_id", "forward_from_chat_id", "forward_sender_name")
# A user's reactions: up to three, as for a Premium user (a bot may set one).
_MAX_USER_REACTIONS = 3


def _now() -> int:
    return int(time.time())


def start_message(payload: str | None) -> dict[str, Any]:
    """The ``/start`` message, with a deep link's payload after it: the command alone is
    the bot_command entity, as on Telegram."""
    if not payload:
        return {"text": "/start"}
    if not _PAYLOAD.fullmatch(payload):
        raise bad_request("payload must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    command = {"type": "bot_command", "offset": 0, "length": len("/start")}
    return {"text": f"/start {payload}", "entities": [command]}


def message_context(sim: Simulator, p: Params, chat: Chat | User, bot_id: int) -> dict[str, Any]:
    """A user's message's place: the message it replies to (one level deep), a forward's
    origin, its forum topic (named, or the replied message's)."""
    found: dict[str, Any] = {}
    reply_id = p.integer("reply_to_message_id")
    if reply_id is not None:
        replied = sim.emu.world.find_message(chat, bot_id, reply_id)
        if replied is None:
            raise bad_request("message to be replied not found")
        found["reply_to_message"] = snapshot(replied)
    if (origin := _forward_origin(sim, p)) is not None:
        found["forward_origin"] = origin
    return topic_of(sim.emu, bot_id, chat, p, found) | found


def _forward_origin(sim: Simulator, p: Params) -> dict[str, Any] | None:
    kinds = [kind for kind in _FORWARD_KINDS if p.has(kind)]
    if not kinds:
        if p.has("forward_message_id"):
            raise bad_request("forward_message_id needs forward_from_chat_id")
        return None
    if len(kinds) > 1:
        raise bad_request("a forward has one origin: one of " + ", ".join(_FORWARD_KINDS))
    world = sim.emu.world
    date = p.integer("forward_date") or _now()
    if kinds[0] == "forward_from_user_id":
        user_id = p.integer("forward_from_user_id")
        sender = world.user_api(user_id or 0)
        if sender is None:
            raise bad_request(f"user {user_id} not found")
        return {"type": "user", "date": date, "sender_user": sender}
    if kinds[0] == "forward_sender_name":
        name = p.text("forward_sender_name", empty_error="forward_sender_name is empty")
        return {"type": "hidden_user", "date": date, "sender_user_name": name}
    source = world.chats.get(p.integer("forward_from_chat_id") or 0)
    if source is None:
        raise bad_request("forward_from_chat_id: chat not found")
    origin: dict[str, Any]
    if source.type == "channel":
        message_id = p.integer(
            "forward_message_id", empty_error="forward_message_id is required for a channel post"
        )
        origin = {
            "type": "channel",
            "date": date,
            "chat": source.to_api(),
            "message_id": message_id,
        }
    else:  # a group's anonymous admin, writing as the group
        origin = {"type": "chat", "date": date, "sender_chat": source.to_api()}
    if signature := p.text("forward_signature"):
        origin["author_signature"] = signature
    return origin


def _place(sim: Simulator, p: Params, chat: Chat | User, user: User) -> int:
    """The conversation a user acts in: the private chat's bot id, or 0 in other chats."""
    if isinstance(chat, User):
        if chat.id != user.id:
            raise bad_request("a user can only act in their own private chat")
        return sim.private_bot(user, p)
    if user.id not in chat.member_user_ids:
        raise bad_request(f"user {user.id} is not a member of chat {chat.id}")
    return 0


def _bots_of(chat: Chat | User, bot_id: int) -> list[int]:
    return [bot_id] if isinstance(chat, User) else sorted(chat.bot_ids)


def _is_channel(chat: Chat | User) -> bool:
    return isinstance(chat, Chat) and chat.type == "channel"


@sim_post("topics")
async def create_topic(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A member opens a forum topic: its service message's id is the topic's thread id."""
    world = sim.emu.world
    user = sim.user(p, "from_user_id")
    chat = world.resolve_chat(p.chat_id())
    if not isinstance(chat, Chat) or not chat.is_forum:
        raise bad_request("the chat is not a forum (create it with is_forum: true)")
    _place(sim, p, chat, user)
    name = p.text("name", empty_error="name is required") or ""
    if len(name) > _MAX_TOPIC_NAME:
        raise bad_request(f"name must be 1-{_MAX_TOPIC_NAME} characters")
    color = p.integer("icon_color") or _TOPIC_COLORS[0]
    if color not in _TOPIC_COLORS:
        raise bad_request("icon_color must be one of " + ", ".join(map(str, _TOPIC_COLORS)))
    created = {"name": name, "icon_color": color}
    stored = world.store_message(
        chat, 0, user.id, {"from": user.to_api(), "forum_topic_created": created}
    )
    stored.api |= {"message_thread_id": stored.message_id, "is_topic_message": True}
    for bot_id in _bots_of(chat, 0):
        sim.emu.hub.push(bot_id, "message", sim.for_bot(bot_id, stored))
    return stored.api


def _message_of(sim: Simulator, p: Params, chat: Chat | User, bot_id: int) -> StoredMessage:
    message_id = p.integer("message_id", empty_error="message_id is required")
    stored = sim.emu.world.find_message(chat, bot_id, message_id or 0)
    if stored is None:
        raise bad_request(f"message {message_id} not found in chat {chat.id}")
    return stored


def _edit_changes(p: Params, stored: StoredMessage) -> dict[str, Any]:
    text, caption = p.text("text"), p.text("caption")
    if text is not None:
        if "text" not in stored.api:
            raise bad_request("there is no text in the message to edit")
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        return {"text": text, "entities": detect_entities(text) or None}
    if caption is not None:
        if stored.file is None:
            raise bad_request("there is no caption in the message to edit")
        if len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        return {"caption": caption or None, "caption_entities": detect_entities(caption) or None}
    raise bad_request("an edit needs text or caption")


@sim_post("edit")
async def edit(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A user edits their own message: bots get ``edited_message`` (``edited_channel_post``)."""
    world = sim.emu.world
    user = sim.user(p, "from_user_id")
    chat = world.resolve_chat(p.chat_id())
    bot_id = _place(sim, p, chat, user)
    stored = _message_of(sim, p, chat, bot_id)
    if stored.sender_id != user.id:
        raise bad_request("message can't be edited: the user did not send it")
    changes = _edit_changes(p, stored)
    if all(stored.api.get(key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    # A new object: updates already queued keep the message as it was when sent.
    stored.api = dict(stored.api)
    record_edit(stored, changes)
    world.notify("edit", chat, [stored])
    kind = "edited_channel_post" if _is_channel(chat) else "edited_message"
    for receiver in _bots_of(chat, bot_id):
        sim.emu.hub.push(receiver, kind, sim.for_bot(receiver, stored))
    return stored.api


@sim_post("react")
async def react(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A user sets their reactions on a message (an empty list clears them).

    Bots that may see who reacted get ``message_reaction``: the private chat's bot, and a
    group's administrator bots. A channel's reactions are anonymous: its administrator bots
    get ``message_reaction_count``. Either only if allowed_updates names it, as on Telegram.
    """
    world = sim.emu.world
    user = sim.user(p, "from_user_id")
    chat = world.resolve_chat(p.chat_id())
    bot_id = _place(sim, p, chat, user)
    stored = _message_of(sim, p, chat, bot_id)
    emoji = p.json("reaction", "reaction")
    if emoji is None:
        emoji = []
    if not isinstance(emoji, list) or not all(isinstance(e, str) for e in emoji):
        raise bad_request('reaction must be a list of emoji, such as ["👍"]')
    wanted = [{"type": "emoji", "emoji": e} for e in emoji]
    new = choose_reactions(stored, wanted, limit=_MAX_USER_REACTIONS)
    old = stored.reactions.get(user.id, [])
    set_reactions(stored, user.id, new)
    chat_api = world.chat_api(chat)
    if _is_channel(chat):
        kind, update = "message_reaction_count", _reaction_count(stored, chat_api)
    else:
        kind = "message_reaction"
        update = {
            "chat": chat_api,
            "message_id": stored.message_id,
            "user": user.to_api(),
            "date": _now(),
            "old_reaction": old,
            "new_reaction": new,
        }
    if old != new:
        receivers = [bot_id] if isinstance(chat, User) else sorted(chat.admin_bot_ids)
        for receiver in receivers:
            sim.emu.hub.push(receiver, kind, update)
    return update


def _reaction_count(stored: StoredMessage, chat_api: dict[str, Any]) -> dict[str, Any]:
    counts: Counter[tuple[tuple[str, Any], ...]] = Counter(
        tuple(sorted(reaction.items()))
        for reactions in stored.reactions.values()
        for reaction in reactions
    )
    return {
        "chat": chat_api,
        "message_id": stored.message_id,
        "date": _now(),
        "reactions": [
            {"type": dict(reaction), "total_count": total}
            for reaction, total in counts.most_common()
        ],
    }
