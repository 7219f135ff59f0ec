"""The bot's profile: its name, descriptions and menu button."""

from __future__ import annotations

from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import bad_request
from sluice.emulator._params import Params
from sluice.emulator._shape import Shape, https_problem, read_object, read_string
from sluice.emulator._world import Bot

__all__: list[str] = []


# -- the bot's name, descriptions and menu button ------------------------------------------

_TEXT_LIMITS = {"name": 64, "description": 512, "short_description": 120}


def _language(p: Params) -> str:
    code = p.text("language_code") or ""
    if code and not (len(code) == 2 and code.isascii() and code.isalpha() and code.islower()):
        raise bad_request("invalid language code specified")
    return code


def _register_text(name: str, setter: str, getter: str) -> None:
    async def set_text(emu: Emulator, bot: Bot, p: Params) -> Any:
        language = _language(p)
        text = p.text(name) or ""
        if len(text) > _TEXT_LIMITS[name]:
            raise bad_request(f"{name.replace('_', ' ')} is too long")
        if name == "name" and not language:
            if not text:
                raise bad_request("name must be non-empty for the default language")
            bot.user.first_name = text  # what getMe and every message's "from" say
        elif text:
            bot.texts[(name, language)] = text
        else:
            bot.texts.pop((name, language), None)
        return True

    async def get_text(emu: Emulator, bot: Bot, p: Params) -> Any:
        language = _language(p)
        default = bot.user.first_name if name == "name" else bot.texts.get((name, ""), "")
        return {name: bot.texts.get((name, language)) or default}

    method(setter)(set_text)
    method(getter)(get_text)


for _name, _setter, _getter in (
    ("name", "setMyName", "getMyName"),
    ("description", "setMyDescription", "getMyDescription"),
    ("short_description", "setMyShortDescription", "getMyShortDescription"),
):
    _register_text(_name, _setter, _getter)


def _menu_chat(emu: Emulator, p: Params) -> int:
    """The private chat a menu button call names (0: the bot's default), as tdlib reads it."""
    if not p.has("chat_id"):
        return 0
    try:
        user_id = int(str(p.raw("chat_id")).strip())
    except ValueError:
        user_id = 0
    if user_id <= 0:
        raise bad_request("invalid chat_id specified")
    if user_id not in emu.world.users:
        raise bad_request("user not found")
    return user_id


def _menu_button(p: Params) -> dict[str, Any]:
    raw = p.json("menu_button", "menu button")
    if raw is None:
        return {"type": "default"}
    try:
        if not isinstance(raw, dict):
            raise Shape("MenuButton must be an Object")
        kind = read_string(raw, "type")
        if kind in {"default", "commands"}:
            return {"type": kind}
        if kind != "web_app":
            raise Shape("MenuButton has unsupported type")
        text = read_string(raw, "text") or ""
        url = read_string(read_object(raw, "web_app", required=True) or {}, "url") or ""
    except Shape as exc:
        raise bad_request(f"can't parse menu button: {exc}") from None
    if not text:
        raise bad_request("menu button text can't be empty")
    if (problem := https_problem(url)) is not None:
        raise bad_request(f"inline keyboard button web app URL '{url}' is invalid: {problem}")
    return {"type": "web_app", "text": text, "web_app": {"url": url}}


@method("setChatMenuButton")
async def set_chat_menu_button(emu: Emulator, bot: Bot, p: Params) -> Any:
    button = _menu_button(p)
    chat = _menu_chat(emu, p)
    if button["type"] == "default":
        bot.menu_buttons.pop(chat, None)
    else:
        bot.menu_buttons[chat] = button
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = _menu_chat(emu, p)
    # Unset, a chat shows the default; unset, the default is the list of commands.
    return bot.menu_buttons.get(chat) or {"type": "default" if chat else "commands"}
