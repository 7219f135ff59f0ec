"""Bot API methods other than sending: identity, updates, files, chats, commands."""

from __future__ import annotations

import re
from typing import Any

from sluice.emulator._admin import chat_member
from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import bad_request
from sluice.emulator._params import Params
from sluice.emulator._world import Bot, Chat, User

__all__: list[str] = []

_ALLOWED_DEFAULT = ["callback_query", "edited_message", "message", "my_chat_member"]
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


@method("getMe")
async def get_me(emu: Emulator, bot: Bot, p: Params) -> Any:
    return bot.to_api()


@method("logOut")
async def log_out(emu: Emulator, bot: Bot, p: Params) -> Any:
    return True


@method("close")
async def close(emu: Emulator, bot: Bot, p: Params) -> Any:
    return True


@method("getUpdates")
async def get_updates(emu: Emulator, bot: Bot, p: Params) -> Any:
    emu.hub.set_allowed(bot.id, p.json("allowed_updates", "allowed updates"))
    limit = p.integer("limit") or 100
    timeout = p.integer("timeout") or 0
    return await emu.hub.get_updates(bot.id, p.integer("offset"), limit, min(max(timeout, 0), 50))


@method("setWebhook")
async def set_webhook(emu: Emulator, bot: Bot, p: Params) -> Any:
    url = (p.text("url") or "").strip()
    secret = p.text("secret_token")
    if secret is not None and not _SECRET_TOKEN.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = p.integer("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("max_connections must be between 1 and 100")
    emu.hub.set_allowed(bot.id, p.json("allowed_updates", "allowed updates"))
    emu.hub.set_webhook(bot.id, url, secret, max_connections, p.flag("drop_pending_updates"))
    return True


@method("deleteWebhook")
async def delete_webhook(emu: Emulator, bot: Bot, p: Params) -> Any:
    emu.hub.delete_webhook(bot.id, p.flag("drop_pending_updates"))
    return True


@method("getWebhookInfo")
async def get_webhook_info(emu: Emulator, bot: Bot, p: Params) -> Any:
    return emu.hub.webhook_info(bot.id, _ALLOWED_DEFAULT)


@method("getFile")
async def get_file(emu: Emulator, bot: Bot, p: Params) -> Any:
    file_id = p.text("file_id", empty_error="invalid file_id")
    assert file_id is not None
    record = emu.files.resolve(file_id.strip(), bot.id)
    if record is None:
        raise bad_request("invalid file_id")
    if not emu.config.local and record.size > emu.config.max_download_cloud:
        raise bad_request("file is too big")
    return {
        "file_id": file_id.strip(),
        "file_unique_id": record.unique_id,
        "file_size": record.size,
        "file_path": record.file_path,
    }


@method("sendChatAction")
async def send_chat_action(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_send(bot, chat)
    action = p.text("action", empty_error="action is empty")
    if action not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    emu.admit(bot, chat)
    return True


@method("answerCallbackQuery")
async def answer_callback_query(emu: Emulator, bot: Bot, p: Params) -> Any:
    query_id = p.text(
        "callback_query_id",
        empty_error="query is too old and response timeout expired or query ID is invalid",
    )
    owner = emu.world.callbacks.get(query_id or "")
    if owner is None or owner[0] != bot.id or owner[1]:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = p.text("text") or ""
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    emu.world.callbacks[query_id or ""] = (bot.id, True)
    return True


def _full_info(chat: Chat | User) -> dict[str, Any]:
    base: dict[str, Any]
    if isinstance(chat, User):
        base = {"id": chat.id, "type": "private", "first_name": chat.first_name}
        for key in ("last_name", "username"):
            if getattr(chat, key) is not None:
                base[key] = getattr(chat, key)
    else:
        base = chat.to_api()
        if chat.type != "channel":
            base["permissions"] = dict(chat.permissions)
    return base | {
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


@method("getChat")
async def get_chat(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    return _full_info(chat)


@method("getChatMember")
async def get_chat_member(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    user_id = p.integer("user_id", empty_error="user not found")
    world = emu.world
    member = world.users.get(user_id or 0) or (
        world.bots[user_id].user if user_id in world.bots else None
    )
    if member is None:
        raise bad_request("user not found")
    user = member.to_api()
    if isinstance(chat, User):
        in_chat = member.id in (chat.id, bot.id)
        return {"status": "member" if in_chat else "left", "user": user}
    return chat_member(emu, bot, chat, member.id)


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.json("scope", "bot command scope")
    scope_type = scope.get("type", "default") if isinstance(scope, dict) else "default"
    return str(scope_type), p.text("language_code") or ""


@method("setMyCommands")
async def set_my_commands(emu: Emulator, bot: Bot, p: Params) -> Any:
    commands = p.json("commands", "bot commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    parsed: list[dict[str, str]] = []
    for entry in commands:
        if not isinstance(entry, dict):
            raise bad_request("can't parse BotCommand JSON object")
        name = entry.get("command")
        description = entry.get("description")
        if not isinstance(name, str) or not _COMMAND.match(name.removeprefix("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise bad_request("command description must be non-empty")
        parsed.append({"command": name.removeprefix("/"), "description": description})
    bot.commands[_commands_key(p)] = parsed
    return True


@method("getMyCommands")
async def get_my_commands(emu: Emulator, bot: Bot, p: Params) -> Any:
    return bot.commands.get(_commands_key(p), [])


@method("deleteMyCommands")
async def delete_my_commands(emu: Emulator, bot: Bot, p: Params) -> Any:
    bot.commands.pop(_commands_key(p), None)
    return True
