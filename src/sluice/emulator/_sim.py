"""The simulation API under ``/_sim/``: users, chats and what they do.

Tests, benchmarks and the demo drive the emulator through these operations.
Answers are bare JSON objects; errors are Telegram-shaped with a 4xx status.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import IO, Any

from starlette.datastructures import UploadFile

from sluice._exceptions import ConfigError
from sluice.emulator._config import Faults
from sluice.emulator._core import Emulator
from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._messages import (
    MAX_CAPTION,
    MAX_TEXT,
    USER_MAX_UPLOAD,
    media_fields,
    store_upload,
)
from sluice.emulator._params import Params
from sluice.emulator._text import detect_entities
from sluice.emulator._world import SERVICE_KEYS, Chat, StoredMessage, User

__all__ = ["ContentBuilder", "SimHandler", "Simulator", "sim_content", "sim_post"]

MEDIA_KINDS = ("voice", "audio", "video", "video_note", "document", "photo")
MAX_BATCH = 10_000  # users made or chats read in one call
# Said otherwise in a described message (sender, chat) or not the user's to see.
_NOT_DESCRIBED = frozenset(
    {"message_id", "date", "chat", "from", "sender_chat", "reply_to_message"}
)

SimHandler = Callable[["Simulator", Params, Mapping[str, UploadFile]], Awaitable[Any]]
_SIM_POST: dict[str, SimHandler] = {}


ContentBuilder = Callable[
    ["Simulator", Any, Params], Awaitable[tuple[dict[str, Any], FileRecord | None]]
]
_SIM_CONTENT: dict[str, ContentBuilder] = {}


def sim_content(name: str) -> Callable[[ContentBuilder], ContentBuilder]:
    """Register a kind of content a user's message may carry in ``/_sim/send``: the
    builder gets the parameter's (JSON) value and returns the message body and file."""

    def register(builder: ContentBuilder) -> ContentBuilder:
        _SIM_CONTENT[name] = builder
        return builder

    return register


def sim_post(name: str) -> Callable[[SimHandler], SimHandler]:
    """Register ``POST /_sim/<name>`` (a simulated user's or the world's action)."""

    def register(handler: SimHandler) -> SimHandler:
        _SIM_POST[name] = handler
        return handler

    return register


class Simulator:
    """What simulated users do, applied to an :class:`Emulator`."""

    def __init__(self, emu: Emulator) -> None:
        # Importing the modules registers their endpoints.
        from sluice.emulator import (  # noqa: F401
            _sim_accounts,
            _sim_admin,
            _sim_chatops,
            _sim_content,
            _sim_mtproto,
            _sim_profile,
        )

        self.emu = emu

    async def post(self, name: str, p: Params, files: Mapping[str, UploadFile]) -> Any:
        """Perform a registered ``POST /_sim/<name>``; 404 if there is none."""
        handler = _SIM_POST.get(name)
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(self, p, files)

    def add_user(self, p: Params) -> dict[str, Any]:
        name = p.text("first_name", empty_error="first_name is required")
        assert name is not None
        user = self.emu.world.add_user(
            name,
            p.text("language_code"),
            p.text("username"),
            p.text("last_name"),
            phone=p.text("phone"),
        )
        # The phone is the account's (MTProto sign-in), not part of Telegram's User object.
        return user.to_api() | ({"phone": user.phone} if user.phone else {})

    def add_users(self, p: Params) -> dict[str, Any]:
        """``count`` users named ``first_name`` + a number; each starts ``start_bot_id``
        if given. One call for what would take thousands (demos, benchmarks)."""
        count = p.integer("count", empty_error="count is required")
        if count is None or not 1 <= count <= MAX_BATCH:
            raise bad_request(f"count must be within 1..{MAX_BATCH}")
        prefix = p.text("first_name") or "user"
        language = p.text("language_code")
        bot_id = p.integer("start_bot_id")
        bot = self.emu.world.ensure_bot(bot_id) if bot_id is not None else None
        ids = []
        for n in range(count):
            user = self.emu.world.add_user(f"{prefix}{n}", language, None, None)
            if bot is not None:
                self._start(bot.id, user)
            ids.append(user.id)
        return {"ids": ids}

    def add_chat(self, p: Params) -> dict[str, Any]:
        world = self.emu.world
        bot_ids = self._ids(p, "bot_ids")
        admin_ids = self._ids(p, "admin_bot_ids")
        for bot_id in bot_ids | admin_ids:
            world.ensure_bot(bot_id)
        chat = world.add_chat(
            p.text("type", empty_error="type is required") or "",
            p.text("title"),
            p.text("username"),
            self._ids(p, "member_user_ids"),
            bot_ids,
            admin_ids,
            owner_user_id=p.integer("owner_user_id"),
            is_forum=p.flag("is_forum"),
        )
        return chat.to_api()

    @staticmethod
    def _ids(p: Params, name: str) -> set[int]:
        value = p.json(name, name)
        if value is None:
            return set()
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise bad_request(f"{name} must be a list of integers")
        return set(value)

    def user(self, p: Params, name: str) -> User:
        user_id = p.integer(name, empty_error=f"{name} is required")
        user = self.emu.world.users.get(user_id or 0)
        if user is None:
            raise bad_request(f"user {user_id} not found")
        return user

    def start(self, p: Params) -> dict[str, Any]:
        world = self.emu.world
        bot_id = p.integer("bot_id", empty_error="bot_id is required")
        assert bot_id is not None
        bot = world.ensure_bot(bot_id)
        return self._start(bot.id, self.user(p, "user_id"), p.text("payload"))

    def _start(self, bot_id: int, user: User, payload: str | None = None) -> dict[str, Any]:
        from sluice.emulator._sim_chatops import start_message

        body = start_message(payload)  # a deep link's payload, checked before anything changes
        world = self.emu.world
        world.started.add((bot_id, user.id))
        world.blocked.discard((bot_id, user.id))
        return self.deliver_private(bot_id, user, body, None)

    def block(self, p: Params) -> dict[str, Any]:
        world = self.emu.world
        bot_id = p.integer("bot_id", empty_error="bot_id is required")
        assert bot_id is not None
        bot = world.ensure_bot(bot_id)
        user = self.user(p, "user_id")
        if (bot.id, user.id) not in world.blocked:
            world.blocked.add((bot.id, user.id))
            self.emu.hub.push(
                bot.id,
                "my_chat_member",
                {
                    "chat": world.chat_api(user),
                    "from": user.to_api(),
                    "date": _now(),
                    "old_chat_member": {"status": "member", "user": bot.user.to_api()},
                    "new_chat_member": {
                        "status": "kicked",
                        "user": bot.user.to_api(),
                        "until_date": 0,
                    },
                },
            )
        return {"bot_id": bot.id, "user_id": user.id, "blocked": True}

    def private_bot(self, user: User, p: Params) -> int:
        world = self.emu.world
        bot_id = p.integer("bot_id")
        started = sorted(b for (b, u) in world.started if u == user.id)
        if bot_id is None:
            if len(started) != 1:
                raise bad_request(
                    "bot_id is required: the user has started "
                    f"{len(started)} bots, so the private chat is ambiguous"
                )
            bot_id = started[0]
        if bot_id not in started:
            raise bad_request(f"user {user.id} has not started bot {bot_id}")
        if (bot_id, user.id) in world.blocked:
            raise bad_request(f"user {user.id} has blocked bot {bot_id}")
        return bot_id

    async def send(self, p: Params, upload: IO[bytes] | None) -> dict[str, Any]:
        world = self.emu.world
        user = self.user(p, "from_user_id")
        chat = world.resolve_chat(p.chat_id())
        body, record = await self.content(p, upload)
        if isinstance(chat, User):
            if chat.id != user.id:
                raise bad_request("a user can only write in their own private chat")
            bot_id = self.private_bot(user, p)
            body |= self.context(p, chat, bot_id, user)
            return self.deliver_private(bot_id, user, body, record)
        if (refusal := chat.send_refusal(user.id, _now())) is not None:
            raise bad_request(refusal)
        if user.id not in chat.member_user_ids:
            raise bad_request(f"user {user.id} is not a member of chat {chat.id}")
        body |= self.context(p, chat, 0, user)
        return self.deliver_group(chat, user, body, record)

    async def content(
        self, p: Params, upload: IO[bytes] | None
    ) -> tuple[dict[str, Any], FileRecord | None]:
        """What a user's message carries: ``text``, a ``file`` (with a ``caption``), or
        one of the registered kinds (``location``, ``contact``...: :func:`sim_content`)."""
        for name, build in _SIM_CONTENT.items():
            if p.has(name):
                return await build(self, p.json(name, name), p)
        text = p.text("text")
        caption = p.text("caption")
        # A user's message has the limits a bot's has: checked before anything reads it.
        if text is not None and len(text) > MAX_TEXT:
            raise bad_request(f"text is longer than {MAX_TEXT} characters")
        if caption is not None and len(caption) > MAX_CAPTION:
            raise bad_request(f"caption is longer than {MAX_CAPTION} characters")
        record = await self._file(p, upload)
        if text is None and record is None:
            raise bad_request("a message needs text, a file or one of " + ", ".join(_SIM_CONTENT))
        body: dict[str, Any] = {}
        if record is None:
            body["text"] = text
            if entities := detect_entities(text or ""):
                body["entities"] = entities
        elif caption:
            body["caption"] = caption
            if entities := detect_entities(caption):
                body["caption_entities"] = entities
        return body, record

    def context(self, p: Params, chat: Chat | User, bot_id: int, user: User) -> dict[str, Any]:
        """Where a user's message sits: a reply, a forward's origin, a forum topic.

        ``bot_id`` is the private chat's bot (0 in other chats)."""
        from sluice.emulator._sim_chatops import message_context

        return message_context(self, p, chat, bot_id)

    async def _file(self, p: Params, upload: IO[bytes] | None) -> FileRecord | None:
        # It carries the file itself (base64): bounded by the body, not as a parameter.
        spec = p.json("file", "file", limit=2**62)
        if spec is None and upload is None:
            return None
        spec = spec if isinstance(spec, dict) else {}
        fp = Params(spec) if spec else p
        if upload is None and (unique_id := fp.text("file_unique_id")):
            # The same file sent again (forwarded, or picked from the user's own
            # media): Telegram keeps its file_unique_id.
            found = self.emu.files.by_unique_id(unique_id)
            if found is None:
                raise bad_request(f"no file {unique_id!r} was uploaded")
            return found
        kind = fp.text("kind", empty_error="file.kind is required")
        if kind not in MEDIA_KINDS:
            raise bad_request(f"file.kind must be one of {', '.join(MEDIA_KINDS)}")
        if upload is None:
            encoded = fp.text("base64", empty_error="file.base64 is required")
            try:
                upload = io.BytesIO(base64.b64decode(encoded or "", validate=True))
            except (binascii.Error, ValueError):
                raise bad_request("file.base64 is not valid base64") from None
        return await store_upload(
            self.emu,
            upload,
            kind,
            mime_type=fp.text("mime_type"),
            file_name=fp.text("file_name"),
            duration=fp.integer("duration") or 0,
            max_size=USER_MAX_UPLOAD,  # a user's limit, not the bot's
        )

    def for_bot(self, bot_id: int, stored: StoredMessage) -> dict[str, Any]:
        if stored.file is None:
            return stored.api
        bot = self.emu.world.bots[bot_id]
        return stored.api | media_fields(self.emu, bot, stored.file)

    def deliver_private(
        self, bot_id: int, user: User, body: dict[str, Any], record: FileRecord | None
    ) -> dict[str, Any]:
        if record is not None:
            body = body | media_fields(self.emu, self.emu.world.bots[bot_id], record)
        elif body.get("text", "").startswith("/") and "entities" not in body:
            body["entities"] = detect_entities(body["text"])
        stored = self.emu.world.store_message(
            user, bot_id, user.id, {"from": user.to_api()} | body, record
        )
        self.emu.flood.user_wrote(bot_id, user.id)
        self.emu.hub.push(bot_id, "message", stored.api)
        return stored.api

    def deliver_group(
        self, chat: Chat, user: User, body: dict[str, Any], record: FileRecord | None
    ) -> dict[str, Any]:
        world = self.emu.world
        author = (
            {"sender_chat": chat.to_api()} if chat.type == "channel" else {"from": user.to_api()}
        )
        if record is not None and chat.bot_ids:
            body = body | media_fields(self.emu, world.bots[min(chat.bot_ids)], record)
        stored = world.store_message(chat, 0, user.id, author | body, record)
        kind = "channel_post" if chat.type == "channel" else "message"
        for bot_id in sorted(chat.bot_ids):
            self.emu.hub.push(bot_id, kind, self.for_bot(bot_id, stored))
        return stored.api

    def callback(self, p: Params) -> dict[str, Any]:
        world = self.emu.world
        user = self.user(p, "from_user_id")
        chat = world.resolve_chat(p.chat_id())
        message_id = p.integer("message_id", empty_error="message_id is required")
        data = p.text("data")
        if not data:  # whitespace is data: a button's callback_data may be " "
            raise bad_request("data is required")
        bot_id = self.private_bot(user, p) if isinstance(chat, User) else p.integer("bot_id")
        candidates = [bot_id] if bot_id is not None else sorted(world.bots)
        for candidate in candidates:
            stored = world.find_message(chat, candidate, message_id or 0)
            if stored is not None and stored.sender_id == candidate:
                query_id = str(secrets.randbits(63))
                world.callbacks[query_id] = (candidate, False)
                query = {
                    "id": query_id,
                    "from": user.to_api(),
                    "message": self.for_bot(candidate, stored),
                    "chat_instance": str(abs(hash((chat.id, candidate))) % 10**18),
                    "data": data,
                }
                self.emu.hub.push(candidate, "callback_query", query)
                if isinstance(chat, User):  # a press asks for an answer, as a message does
                    self.emu.flood.user_wrote(candidate, user.id)
                return query
        raise bad_request("no bot message with this message_id in the chat")

    def messages(self, chat_id: int, bot_id: int | None) -> list[dict[str, Any]]:
        world = self.emu.world
        found: list[StoredMessage] = []
        for key in world.conversations_of(chat_id):
            if bot_id is None or key[1] in (bot_id, 0):
                found.extend(world.messages[key])
        if not found and world.chats.get(chat_id) is None and world.users.get(chat_id) is None:
            raise bad_request("chat not found")
        return [self._describe(m) for m in sorted(found, key=lambda m: m.seq)]

    def messages_of(self, p: Params) -> dict[str, list[dict[str, Any]]]:
        """:meth:`messages` of many chats at once, keyed by chat id."""
        chat_ids = self._ids(p, "chat_ids")
        if not chat_ids or len(chat_ids) > MAX_BATCH:
            raise bad_request(f"chat_ids must list 1..{MAX_BATCH} chats")
        bot_id = p.integer("bot_id")
        return {str(chat): self.messages(chat, bot_id) for chat in sorted(chat_ids)}

    def _describe(self, m: StoredMessage) -> dict[str, Any]:
        """A message as the chat's user sees it: its content, formatting, keyboard,
        album, poll, pin and edits (the file as a summary, not a bot's file_id)."""
        world = self.emu.world
        api = m.api
        out: dict[str, Any] = {
            "message_id": m.message_id,
            "sender": {"type": "bot" if m.sender_id in world.bots else "user", "id": m.sender_id},
            "date": api["date"],
            "deleted": m.deleted,
            "pinned": m.pinned,
            "service": not SERVICE_KEYS.isdisjoint(api),
        }
        if m.bot_id is not None:
            out["bot_id"] = m.bot_id
        media_keys = {m.file.kind} if m.file is not None else set()
        if "animation" in media_keys:
            media_keys.add("document")  # the animation again, for older clients
        for key, value in api.items():
            if key not in _NOT_DESCRIBED and key not in media_keys:
                out[key] = value
        if "reply_markup" not in out and m.keyboard is not None:
            out["reply_markup"] = m.keyboard
        if "reply_to_message" in api:
            out["reply_to_message_id"] = api["reply_to_message"]["message_id"]
        if m.file is not None:
            out["media"] = {
                "kind": m.file.kind,
                "file_unique_id": m.file.unique_id,
                "file_name": m.file.file_name,
                "size": m.file.size,
            }
        if m.reactions:
            out["reactions"] = [{"user_id": who, "reaction": r} for who, r in m.reactions.items()]
        out["edit_history"] = m.history
        return out

    def stats(self) -> dict[str, Any]:
        bots = {str(bot_id): s.to_json() for bot_id, s in sorted(self.emu.stats.items())}
        totals = {
            "sends_accepted": sum(s.sends_accepted for s in self.emu.stats.values()),
            "r429": sum(s.r429_limit + s.r429_injected for s in self.emu.stats.values()),
        }
        return {"bots": bots, "totals": totals}

    def set_faults(self, p: Params) -> dict[str, Any]:
        current = dataclasses.asdict(self.emu.faults.faults)
        for name, value in current.items():
            if p.has(name):
                raw = p.raw(name)
                if isinstance(raw, bool) or not isinstance(raw, int | float):
                    raise bad_request(f"{name} must be a number")
                if isinstance(value, int) and not (isinstance(raw, int) or raw.is_integer()):
                    raise bad_request(f"{name} must be a whole number of seconds")
                try:
                    current[name] = type(value)(raw)
                except OverflowError:  # an integer past any float
                    raise bad_request(f"{name} is far out of range") from None
        try:
            faults = Faults(**current)
        except ConfigError as exc:
            raise bad_request(str(exc)) from None
        self.emu.set_faults(faults)
        return dataclasses.asdict(faults)

    def config(self) -> dict[str, Any]:
        cfg = self.emu.config
        lim = cfg.limits
        return {
            "limits": {
                "bot": str(lim.bot),
                "private": str(lim.private),
                "private_burst": lim.private_burst,
                "private_reply": lim.private_reply,
                "group": str(lim.group),
                "paid": str(lim.paid),
                "speed": lim.speed,
                "enforce_retry_after": lim.enforce_retry_after,
            },
            "faults": dataclasses.asdict(self.emu.faults.faults),
            "local": cfg.local,
            "stt": self.emu.stt.config_json(),
            "mtproto": {
                "enabled": self.emu.mtproto is not None,
                "file_reference_ttl": cfg.mtproto.file_reference_ttl,
                "download": {
                    "model": cfg.mtproto.download_model,
                    "latency_ms": cfg.mtproto.download_latency_ms,
                    "bytes_per_s": cfg.mtproto.download_bytes_per_s,
                    "requests": str(cfg.mtproto.download_requests),
                },
                "bot_logins": str(cfg.mtproto.bot_logins),
                "peer_flood": cfg.mtproto.peer_flood,
            },
        }

    def mtproto(self) -> dict[str, Any]:
        """What a Telethon client needs to connect: the DCs and the key to trust."""
        mt = self.emu.mtproto
        if mt is None:
            raise ApiError(404, "Not Found: the emulator's MTProto side is switched off")
        return {
            "dcs": [{"id": dc.id, "host": dc.host, "port": dc.port} for dc in mt.dcs.values()],
            "rsa_public_key_pem": mt.rsa.public_pem,
            "rsa_fingerprint": mt.rsa.fingerprint,
        }


def _now() -> int:
    import time

    return int(time.time())
