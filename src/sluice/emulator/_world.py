"""The simulated Telegram: bots, users, chats and the messages between them.

Pure state and rules, no HTTP. A private chat's id is the user's id (as on
Telegram), but each bot has its own conversation with a user, with its own
message ids; groups and channels have one message sequence shared by all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from sluice.emulator._config import TOKEN_RE
from sluice.emulator._errors import ApiError, bad_request, forbidden
from sluice.emulator._files import FileRecord

__all__ = ["Bot", "Chat", "StoredMessage", "User", "World", "conversation_key"]

ChatType = Literal["private", "group", "supergroup", "channel"]
CHAT_TYPES: tuple[str, ...] = ("private", "group", "supergroup", "channel")


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

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

    def to_api(self) -> dict[str, Any]:
        return self.user.to_api() | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


@dataclass(slots=True)
class Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    member_user_ids: set[int] = field(default_factory=set)
    bot_ids: set[int] = field(default_factory=set)
    admin_bot_ids: set[int] = field(default_factory=set)

    def to_api(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            obj["title"] = self.title
        if self.username is not None:
            obj["username"] = self.username
        return obj


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

    @property
    def message_id(self) -> int:
        return int(self.api["message_id"])


def conversation_key(chat: Chat | User, bot_id: int) -> tuple[int, int]:
    """Private chats are per (user, bot); other chats are one conversation."""
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
        self.callbacks: dict[str, tuple[int, bool]] = {}  # id -> (bot_id, answered)

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
    ) -> User:
        if username is not None and username.lower() in self.usernames:
            raise bad_request("username is already taken")
        user = User(self._next_user_id, first_name, last_name, username, language_code)
        while user.id in self.bots:
            user.id += 1
        self._next_user_id = user.id + 1
        self.users[user.id] = user
        if username is not None:
            self.usernames[username.lower()] = user.id
        return user

    def add_chat(
        self,
        chat_type: str,
        title: str | None,
        username: str | None,
        member_user_ids: set[int],
        bot_ids: set[int],
        admin_bot_ids: set[int],
    ) -> Chat:
        if chat_type not in CHAT_TYPES or chat_type == "private":
            raise bad_request("type must be one of group, supergroup, channel")
        for user_id in member_user_ids:
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
        )
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
        elif bot.id not in chat.bot_ids:
            raise bad_request("chat not found")

    def check_can_send(self, bot: Bot, chat: Chat | User) -> None:
        if isinstance(chat, User):
            if (bot.id, chat.id) in self.blocked:
                raise forbidden("bot was blocked by the user")
            if (bot.id, chat.id) not in self.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        if chat.type == "channel":
            if bot.id in chat.admin_bot_ids:
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
        message_id = (log[-1].message_id + 1) if log else 1
        api = {"message_id": message_id, "date": int(time.time()), "chat": self.chat_api(chat)}
        api.update(body)
        stored = StoredMessage(api, sender_id, bot_id if isinstance(chat, User) else None, file)
        stored.seq = self._next_seq
        self._next_seq += 1
        log.append(stored)
        self._message_index.setdefault(key, {})[message_id] = stored
        return stored

    def find_message(self, chat: Chat | User, bot_id: int, message_id: int) -> StoredMessage | None:
        stored = self._message_index.get(conversation_key(chat, bot_id), {}).get(message_id)
        return None if stored is None or stored.deleted else stored

    def conversations_of(self, chat_id: int) -> list[tuple[int, int]]:
        return [key for key in self.messages if key[0] == chat_id]
