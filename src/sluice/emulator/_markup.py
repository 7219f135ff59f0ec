"""Validation of what a message carries besides its text: keyboards, replies, entities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice.emulator._errors import bad_request
from sluice.emulator._params import Params
from sluice.emulator._text import (
    EntityParseError,
    detect_entities,
    parse_text,
    validate_entities,
)

__all__ = [
    "MARKUP_ALLOWANCE",
    "formatted_text",
    "inline_keyboard",
    "reply_parameters",
    "user_keyboard",
]

# With a parse_mode, a text or caption whose raw string is longer than this many times
# ``max_length`` (32768 characters for a message, 8192 for a caption) is refused as too
# long before it is parsed: room for a full message with every character escaped
# (MarkdownV2's "\x" doubles it, HTML's "&amp;" or "&quot;" takes 5 or 6) plus its tags,
# and a bound on what any parser is given. Without one, the bound is max_length itself.
MARKUP_ALLOWANCE = 8

_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "web_app",
    "login_url",
    "callback_game",
    "pay",
)


def formatted_text(
    p: Params,
    *,
    text_field: str,
    entities_field: str,
    max_length: int,
    empty_error: str | None,
    too_long_error: str,
    users: Callable[[int], dict[str, Any] | None],
) -> tuple[str | None, list[dict[str, Any]]]:
    """The text after ``parse_mode`` (or explicit entities), and its entities.

    ``users`` gives the whole User a ``text_mention`` names (``World.user_api``), as
    Telegram sends it; a mention of a user it does not know stays plain text.
    """
    raw = p.text(text_field, empty_error=empty_error)
    if raw is None:
        return None, []
    parse_mode = p.text("parse_mode")
    # Checked before any parsing: only markup can shrink a text, and the finders and
    # parsers are then given a bounded string.
    if len(raw) > max_length * (MARKUP_ALLOWANCE if parse_mode else 1):
        raise bad_request(too_long_error)
    explicit = p.json(entities_field, "entities")
    try:
        if explicit is not None:
            text, entities = raw, validate_entities(raw, explicit)
        elif parse_mode:
            text, entities = parse_text(raw, parse_mode)
        else:
            text, entities = raw, detect_entities(raw)
    except EntityParseError as exc:
        raise bad_request(exc.description.removeprefix("Bad Request: ")) from None
    if empty_error is not None and not text.strip():
        raise bad_request(empty_error)
    if len(text) > max_length:
        raise bad_request(too_long_error)
    return text, _complete_mentions(entities, users)


def _complete_mentions(
    entities: list[dict[str, Any]], users: Callable[[int], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    completed = []
    for entity in entities:
        if entity.get("type") == "text_mention":
            user = users(int(entity["user"]["id"]))
            if user is None:
                continue
            entity = entity | {"user": user}
        completed.append(entity)
    return completed


def _button(button: object) -> dict[str, Any]:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    actions = [key for key in _BUTTON_ACTIONS if key in button]
    if len(actions) != 1:
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must have exactly one "
            "optional field"
        )
    data = button.get("callback_data")
    if "callback_data" in button and (
        not isinstance(data, str) or not 1 <= len(data.encode()) <= 64
    ):
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if "url" in button and (not isinstance(url, str) or "://" not in url):
        raise bad_request("BUTTON_URL_INVALID")
    return {key: button[key] for key in ("text", *actions)}


def inline_keyboard(p: Params) -> dict[str, Any] | None:
    """The inline keyboard to echo in the message, or None.

    Reply keyboards, keyboard removal and force-reply are validated and
    accepted but, as on Telegram, not echoed in the sent message.
    """
    markup = p.json("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                "can't parse inline keyboard markup: "
                'field "inline_keyboard" must be an Array of Arrays'
            )
        return {"inline_keyboard": [[_button(b) for b in row] for row in rows]}
    user_keyboard(p)  # validated; not echoed
    return None


def _key(button: object) -> Any:
    if isinstance(button, str):
        return {"text": button}
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse keyboard button: field "text" must be of type String')
    return button


def user_keyboard(p: Params) -> dict[str, Any] | None:
    """A reply keyboard, its removal or a force-reply: what the user's client shows."""
    markup = p.json("reply_markup", "reply keyboard markup")
    if markup is None or (isinstance(markup, dict) and "inline_keyboard" in markup):
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'can\'t parse reply keyboard markup: field "keyboard" must be an Array of Arrays'
            )
        return markup | {"keyboard": [[_key(b) for b in row] for row in rows]}
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def reply_parameters(p: Params) -> tuple[int | None, bool]:
    """(message_id to reply to, allow_sending_without_reply)."""
    params = p.json("reply_parameters", "reply parameters")
    if params is not None:
        if not isinstance(params, dict):
            raise bad_request("can't parse reply parameters JSON object")
        message_id = Params(params).integer(
            "message_id", empty_error="message to be replied not found"
        )
        return message_id, Params(params).flag("allow_sending_without_reply")
    return p.integer("reply_to_message_id"), p.flag("allow_sending_without_reply")
