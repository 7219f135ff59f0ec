"""The simulated Telegram: bots, users, chats and the messages between them.

Pure state and rules, no HTTP. A private chat's id is the user's id (as on
Telegram), but each bot has its own conversation with a user, with its own
message ids; groups and channels have one message sequence shared by all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sluice.emulator._config import TOKEN_RE
from sluice.emulator._errors import ApiError, bad_request, forbidden
from sluice.emulator._files import FileRecord

__all__ = [
    "CHAT_PERMISSIONS",
    "SERVICE_KEYS",
    "Bot",
    "Chat",
    "ChatAdmin",
    "InviteLink",
    "PollRecord",
    "Restriction",
    "StoredMessage",
    "User",
    "World",
    "conversation_key",
]

ChatType = Literal["private", "group", "supergroup", "channel"]
CHAT_TYPES: tuple[str, ...] = ("private", "group", "supergroup", "channel")


# Fields that make a message a service message (a pin, members joining, a payment...).
SERVICE_KEYS = frozenset(
    {
        "pinned_message",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "successful_payment",
    }
)


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    phone: str | None = None  # a user account's, to sign in over MTProto; never in to_api

    def to_api(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                obj[key] = value
        return obj


@dataclass(slots=True)
class Bot:
    id: int
    secret: str | None  # None until the bot's first API call binds its token
    user: User
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    # setMyName/Description/ShortDescription: (field, language_code) -> text; the
    # default name is user.first_name, which getMe answers.
    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    menu_buttons: dict[int, dict[str, Any]] = field(default_factory=dict)  # user id; 0: default
    inline: bool = False  # inline mode and its feedback are switched on in BotFather
    inline_feedback: bool = False

    def to_api(self) -> dict[str, Any]:
        return self.user.to_api() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.inline,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


# ChatPermissions: what members who are not administrators may do.
CHAT_PERMISSIONS: tuple[str, ...] = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_edit_tag",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)


@dataclass(slots=True)
class ChatAdmin:
    rights: dict[str, bool]  # ChatAdministratorRights fields
    promoted_by: int | None = None  # the bot that promoted them; None: a user did
    custom_title: str | None = None


@dataclass(slots=True)
class Restriction:
    permissions: dict[str, bool]
    until_date: int = 0  # 0: forever
    is_member: bool = True


@dataclass(slots=True)
class InviteLink:
    invite_link: str
    creator_id: int
    creates_join_request: bool = False
    is_primary: bool = False
    is_revoked: bool = False
    name: str | None = None
    expire_date: int | None = None
    member_limit: int | None = None


@dataclass(slots=True)
class Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    member_user_ids: set[int] = field(default_factory=set)
    bot_ids: set[int] = field(default_factory=set)
    admin_bot_ids: set[int] = field(default_factory=set)
    is_forum: bool = False  # a supergroup organised in topics
    # Administration. A bot in admin_bot_ids but not in admins has every right;
    # bans and restrictions end at their until_date (0: never).
    owner_id: int | None = None
    admins: dict[int, ChatAdmin] = field(default_factory=dict)
    banned: dict[int, int] = field(default_factory=dict)  # member id -> until_date
    restricted: dict[int, Restriction] = field(default_factory=dict)
    permissions: dict[str, bool] = field(
        default_factory=lambda: dict.fromkeys(CHAT_PERMISSIONS, True)
    )
    invite_links: dict[str, InviteLink] = field(default_factory=dict)

    def expire(self, now: int) -> None:
        """Lift the bans and restrictions whose until_date has passed."""
        for member_id, until in list(self.banned.items()):
            if 0 < until <= now:
                del self.banned[member_id]
        for member_id, restriction in list(self.restricted.items()):
            if 0 < restriction.until_date <= now:
                del self.restricted[member_id]  # a member stays one, with the chat's permissions

    def send_refusal(self, user_id: int, now: int) -> str | None:
        """Why a user may not write in this chat now (banned or restricted), or None."""
        self.expire(now)
        if user_id in self.banned:
            return f"user {user_id} is banned in chat {self.id}"
        if user_id not in self.member_user_ids:
            return None  # the caller says "not a member"
        if user_id == self.owner_id or user_id in self.admins:
            return None
        restriction = self.restricted.get(user_id)
        permissions = restriction.permissions if restriction is not None else self.permissions
        if not permissions.get("can_send_messages", False):
            restricted = "restricted" if restriction is not None else "not allowed"
            return f"user {user_id} is {restricted} to send messages in chat {self.id}"
        return None

    def to_api(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            obj["title"] = self.title
        if self.username is not None:
            obj["username"] = self.username
        if self.is_forum:
            obj["is_forum"] = True
        return obj


@dataclass(slots=True)
class PollRecord:
    """A poll a bot sent. ``poll`` is the Poll object its message holds (the same dict), so
    the message shows the current votes; ``votes`` maps a voter to their option ids."""

    poll: dict[str, Any]
    bot_id: int  # the sender: its poll and poll_answer updates go there
    votes: dict[int, list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class StoredMessage:
    api: dict[str, Any]
    sender_id: int
    bot_id: int | None
    file: FileRecord | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    seq: int = 0  # the order in which the server accepted messages, across conversations
    pinned: bool = False
    # A reply keyboard, its removal or a force-reply: what the user sees, though
    # Telegram does not echo it in the message object.
    keyboard: dict[str, Any] | None = None
    # Who reacted how (user or bot id -> its ReactionType list); Telegram does not put
    # reactions in the Message object.
    reactions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def message_id(self) -> int:
        return int(self.api["message_id"])


# Told of every message stored, edited or deleted: ("new" | "edit" | "delete", chat, messages).
MessageListener = Callable[[str, "Chat | User", "list[StoredMessage]"], None]


def conversation_key(chat: Chat | User, bot_id: int) -> tuple[int, int]:
    """Private chats are per (user, bot); other chats are one conversation.

    Two user accounts' private chat (MTProto) is keyed like a bot's: the lower id's
    chat with the higher id in the bot's place."""
    return (chat.id, bot_id) if isinstance(chat, User) else (chat.id, 0)


def private_chat_api(user: User) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": user.id, "type": "private", "first_name": user.first_name}
    for key in ("last_name", "username"):
        value = getattr(user, key)
        if value is not None:
            obj[key] = value
    return obj


class World:
    """Every bot, user, chat and message the emulator knows."""

    def __init__(self, allowed_tokens: tuple[str, ...] | None = None) -> None:
        self._allowed = set(allowed_tokens) if allowed_tokens is not None else None
        self.bots: dict[int, Bot] = {}
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.usernames: dict[str, int] = {}
        self.started: set[tuple[int, int]] = set()  # (bot_id, user_id)
        self.blocked: set[tuple[int, int]] = set()
        self.messages: dict[tuple[int, int], list[StoredMessage]] = {}
        self._message_index: dict[tuple[int, int], dict[int, StoredMessage]] = {}
        self._next_user_id = 10_000_001
        self._next_group = 1
        self._next_seq = 1
        self._private_ids: dict[int, int] = {}  # bot id -> its last private message id
        self.callbacks: dict[str, tuple[int, bool]] = {}  # id -> (bot_id, answered)
        self.profile_photos: dict[int, list[FileRecord]] = {}  # user id -> newest first
        self.polls: dict[str, PollRecord] = {}  # poll id -> the poll and its votes
        self.phones: dict[str, int] = {}  # a user account's phone (digits) -> user id
        self.listeners: list[MessageListener] = []

    def notify(self, event: str, chat: Chat | User, messages: list[StoredMessage]) -> None:
        """Tell the listeners (the MTProto side's updates) a message changed."""
        for listener in self.listeners:
            listener(event, chat, messages)

    def bot_for_token(self, token: str) -> Bot:
        """The bot a token names, or 401 as Telegram answers it."""
        match = TOKEN_RE.match(token)
        if match is None or (self._allowed is not None and token not in self._allowed):
            raise ApiError(401, "Unauthorized")
        bot_id, secret = int(match.group(1)), match.group(2)
        if bot_id in self.users:
            raise ApiError(401, "Unauthorized")
        bot = self.ensure_bot(bot_id)
        if bot.secret is None:
            bot.secret = secret
        elif bot.secret != secret:
            raise ApiError(401, "Unauthorized")
        return bot

    def ensure_bot(self, bot_id: int) -> Bot:
        """The bot with this id, created (token not yet bound) if unknown."""
        bot = self.bots.get(bot_id)
        if bot is None:
            if bot_id in self.users or not 0 < bot_id < 2**63:
                raise bad_request(f"{bot_id} is not a bot id")
            username = f"emu{bot_id}_bot"
            user = User(bot_id, f"Emulated bot {bot_id}", username=username, is_bot=True)
            bot = self.bots[bot_id] = Bot(bot_id, None, user)
            self.usernames[username.lower()] = bot_id
        return bot

    def add_user(
        self,
        first_name: str,
        language_code: str | None = None,
        username: str | None = None,
        last_name: str | None = None,
        phone: str | None = None,
    ) -> User:
        if username is not None and username.lower() in self.usernames:
            raise bad_request("username is already taken")
        if phone is not None:
            phone = phone.removeprefix("+").replace(" ", "")
            if not (phone.isdigit() and 5 <= len(phone) <= 15):
                raise bad_request("phone must be 5 to 15 digits, optionally after a +")
            if phone in self.phones:
                raise bad_request("phone is already taken")
        user = User(self._next_user_id, first_name, last_name, username, language_code)
        user.phone = phone
        while user.id in self.bots:
            user.id += 1
        self._next_user_id = user.id + 1
        self.users[user.id] = user
        if username is not None:
            self.usernames[username.lower()] = user.id
        if phone is not None:
            self.phones[phone] = user.id
        return user

    def add_chat(
        self,
        chat_type: str,
        title: str | None,
        username: str | None,
        member_user_ids: set[int],
        bot_ids: set[int],
        admin_bot_ids: set[int],
        *,
        is_forum: bool = False,
        owner_user_id: int | None = None,
    ) -> Chat:
        if chat_type not in CHAT_TYPES or chat_type == "private":
            raise bad_request("type must be one of group, supergroup, channel")
        if is_forum and chat_type != "supergroup":
            raise bad_request("only a supergroup can be a forum")
        owner = {owner_user_id} if owner_user_id is not None else set()
        for user_id in member_user_ids | owner:
            if user_id not in self.users:
                raise bad_request(f"user {user_id} not found")
        if username is not None and username.lower() in self.usernames:
            raise bad_request("username is already taken")
        number = self._next_group
        self._next_group += 1
        chat_id = -(700_000_000 + number) if chat_type == "group" else -(1_002_000_000_000 + number)
        chat = Chat(
            chat_id,
            chat_type,
            title or f"{chat_type.title()} {number}",
            username,
            set(member_user_ids),
            bot_ids | admin_bot_ids,
            set(admin_bot_ids),
            is_forum,
        )
        if owner_user_id is not None:
            chat.owner_id = owner_user_id
            chat.member_user_ids.add(owner_user_id)
        self.chats[chat_id] = chat
        if username is not None:
            self.usernames[username.lower()] = chat_id
        return chat

    def resolve_chat(self, chat_ref: int | str) -> Chat | User:
        """A chat by id or @username; 400 "chat not found" otherwise."""
        if isinstance(chat_ref, str):
            name = chat_ref.removeprefix("@").lower()
            target = self.usernames.get(name) if chat_ref.startswith("@") else None
            if target is None:
                raise bad_request("chat not found")
            chat_ref = target
        found: Chat | User | None = self.chats.get(chat_ref) or self.users.get(chat_ref)
        if found is None:
            raise bad_request("chat not found")
        return found

    def user_api(self, user_id: int) -> dict[str, Any] | None:
        """The whole User object of a user or bot, as Telegram sends it; None if unknown."""
        if (user := self.users.get(user_id)) is not None:
            return user.to_api()
        if (bot := self.bots.get(user_id)) is not None:
            return bot.user.to_api()
        return None

    def chat_api(self, chat: Chat | User) -> dict[str, Any]:
        return private_chat_api(chat) if isinstance(chat, User) else chat.to_api()

    def check_can_read(self, bot: Bot, chat: Chat | User) -> None:
        """Bots see only chats they are in."""
        if isinstance(chat, User):
            if (bot.id, chat.id) not in self.started:
                raise bad_request("chat not found")
        elif bot.id in chat.banned:
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        elif bot.id not in chat.bot_ids:
            raise bad_request("chat not found")

    def check_can_send(self, bot: Bot, chat: Chat | User) -> None:
        if isinstance(chat, User):
            if (bot.id, chat.id) in self.blocked:
                raise forbidden("bot was blocked by the user")
            if (bot.id, chat.id) not in self.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        if bot.id in chat.banned:
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        if chat.type == "channel":
            admin = chat.admins.get(bot.id)
            can_post = admin is None or admin.rights.get("can_post_messages", False)
            if bot.id in chat.admin_bot_ids and can_post:
                return
            if bot.id in chat.bot_ids:
                raise bad_request("need administrator rights in the channel chat")
            raise forbidden("bot is not a member of the channel chat")
        if bot.id not in chat.bot_ids:
            raise forbidden(f"bot is not a member of the {chat.type} chat")

    def store_message(
        self,
        chat: Chat | User,
        bot_id: int,
        sender_id: int,
        body: dict[str, Any],
        file: FileRecord | None = None,
    ) -> StoredMessage:
        """Append a message to the conversation and give it the next message id."""
        key = conversation_key(chat, bot_id)
        log = self.messages.setdefault(key, [])
        if isinstance(chat, User) and bot_id in self.bots:
            # A bot's private chats share one sequence of ids, as on Telegram: an id
            # names one message of the bot's (what MTProto's messages.getMessages takes).
            message_id = self._private_ids.get(bot_id, 0) + 1
            self._private_ids[bot_id] = message_id
        else:
            message_id = (log[-1].message_id + 1) if log else 1
        api = {"message_id": message_id, "date": int(time.time()), "chat": self.chat_api(chat)}
        api.update(body)
        stored = StoredMessage(api, sender_id, bot_id if isinstance(chat, User) else None, file)
        stored.seq = self._next_seq
        self._next_seq += 1
        log.append(stored)
        self._message_index.setdefault(key, {})[message_id] = stored
        if self.listeners:
            self.notify("new", chat, [stored])
        return stored

    def find_message(self, chat: Chat | User, bot_id: int, message_id: int) -> StoredMessage | None:
        stored = self._message_index.get(conversation_key(chat, bot_id), {}).get(message_id)
        return None if stored is None or stored.deleted else stored

    def conversations_of(self, chat_id: int) -> list[tuple[int, int]]:
        return [key for key in self.messages if key[0] == chat_id]
