"""Polls: sendPoll and stopPoll, and the Poll objects users and bots make."""

from __future__ import annotations

import copy
import itertools
import time
from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import bad_request
from sluice.emulator._markup import formatted_text, inline_keyboard
from sluice.emulator._messages import new_poll_id, send_body, send_target
from sluice.emulator._params import Params
from sluice.emulator._world import Bot, Chat, PollRecord

__all__ = ["MAX_OPEN_PERIOD", "MAX_POLL_OPTIONS", "close_if_due", "new_poll"]

MAX_POLL_OPTIONS = 12
MAX_OPEN_PERIOD = 2_628_000


def _formatted(
    emu: Emulator, values: dict[str, Any], *, only_custom_emoji: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """``text`` with its ``entities`` or ``parse_mode`` (the Bot API's 32 KiB bound only)."""
    text, entities = formatted_text(
        Params({k: v for k, v in values.items() if v is not None}),
        text_field="text",
        entities_field="entities",
        max_length=1 << 15,
        empty_error=None,
        too_long_error="text is too long",
        users=emu.world.user_api,
    )
    if only_custom_emoji:  # questions and options keep custom emoji only
        entities = [e for e in entities if e.get("type") == "custom_emoji"]
    return text or "", entities


def _poll_options(emu: Emulator, p: Params) -> list[tuple[str, list[dict[str, Any]]]]:
    value = p.json("options", "options") if p.raw("options") not in (None, "") else None
    if value is None:
        raise bad_request("can't parse options JSON object")
    if not isinstance(value, list):
        raise bad_request("expected an Array of String as options")
    options: list[tuple[str, list[dict[str, Any]]]] = []
    for option in value:
        if isinstance(option, str):
            options.append((option, []))  # a plain string is taken as it is
        elif isinstance(option, dict):
            if "text" not in option:
                raise bad_request('can\'t find field "text"')
            if not isinstance(option["text"], str):
                raise bad_request('field "text" must be of type String')
            fields = {
                "text": option["text"],
                "entities": option.get("text_entities"),
                "parse_mode": option.get("text_parse_mode"),
            }
            options.append(_formatted(emu, fields, only_custom_emoji=True))
        else:
            raise bad_request("expected an option to be of type String")
    return options


def _correct_ids(p: Params) -> list[int]:
    if p.has("correct_option_ids"):
        value = p.json("correct_option_ids", "correct option identifiers")
    else:  # the single id of Bot API 9.5 and before
        single = p.integer("correct_option_id")
        value = [] if single is None else [single]
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise bad_request("wrong correct option ID specified")
    return value


def _checked(text: str, limit: int, too_long: str) -> str:
    if not text.strip():
        raise bad_request("text must be non-empty")
    if len(text) > limit:
        raise bad_request(too_long)
    return text


def new_poll(emu: Emulator, p: Params) -> dict[str, Any]:
    """The Poll a sendPoll call describes, checked as the Bot API server, then TDLib, do."""
    question, question_entities = _formatted(
        emu,
        {
            "text": p.raw("question"),
            "entities": p.raw("question_entities"),
            "parse_mode": p.raw("question_parse_mode"),
        },
        only_custom_emoji=True,
    )
    options = _poll_options(emu, p)
    kind = p.text("type") or "regular"
    if kind not in {"regular", "quiz"}:
        raise bad_request("unsupported poll type specified")
    explanation, explanation_entities = _formatted(
        emu,
        {
            "text": p.raw("explanation"),
            "entities": p.raw("explanation_entities"),
            "parse_mode": p.raw("explanation_parse_mode"),
        },
    )
    description, description_entities = _formatted(
        emu,
        {
            "text": p.raw("description"),
            "entities": p.raw("description_entities"),
            "parse_mode": p.raw("description_parse_mode"),
        },
    )
    _checked(question, 300, "poll question length must not exceed 300")
    if not options:
        raise bad_request("poll must have at least 1 option")
    if len(options) > MAX_POLL_OPTIONS:
        raise bad_request(f"poll can't have more than {MAX_POLL_OPTIONS} options")
    for text, _ in options:
        _checked(text, 100, "poll options length must not exceed 100")
    poll: dict[str, Any] = {"id": new_poll_id(), "question": question}
    if question_entities:
        poll["question_entities"] = question_entities
    poll["options"] = []
    for index, (text, entities) in enumerate(options):
        option: dict[str, Any] = {"persistent_id": str(index), "text": text}
        if entities:
            option["text_entities"] = entities
        poll["options"].append(option | {"voter_count": 0})
    poll["total_voter_count"] = 0
    now = int(time.time())
    open_period = min(max(p.integer("open_period") or 0, 0), MAX_OPEN_PERIOD)
    close_date = p.integer("close_date") or 0
    if open_period:  # the two cannot go together: open_period wins
        close_date = now + open_period
    elif close_date:
        open_period = max(close_date - now, 0)
    if open_period and close_date:
        poll |= {"open_period": open_period, "close_date": close_date}
    poll["is_closed"] = p.flag("is_closed")
    poll["is_anonymous"] = p.flag("is_anonymous") if p.has("is_anonymous") else True
    poll["type"] = kind
    poll["allows_multiple_answers"] = p.flag("allows_multiple_answers")
    revoting = p.flag("allows_revoting") if p.has("allows_revoting") else kind == "regular"
    poll["allows_revoting"] = revoting
    poll["members_only"] = p.flag("members_only")
    if kind == "quiz":
        correct = _correct_ids(p)
        increasing = all(a < b for a, b in itertools.pairwise(correct))
        if not correct or not increasing or not 0 <= correct[0] <= correct[-1] < len(options):
            raise bad_request("wrong correct option ID specified")
        poll["correct_option_ids"] = correct
        if explanation:
            poll |= {"explanation": explanation, "explanation_entities": explanation_entities}
    if description:
        poll["description"] = description
        if description_entities:
            poll["description_entities"] = description_entities
    return poll


def close_if_due(poll: dict[str, Any]) -> bool:
    """Close a poll whose close_date has come; whether it is closed."""
    if not poll["is_closed"] and 0 < poll.get("close_date", 0) <= time.time():
        poll["is_closed"] = True
    return bool(poll["is_closed"])


@method("sendPoll")
async def send_poll(emu: Emulator, bot: Bot, p: Params) -> Any:
    poll = new_poll(emu, p)
    chat = send_target(emu, bot, p)
    if isinstance(chat, Chat) and chat.type == "channel" and not poll["is_anonymous"]:
        raise bad_request("non-anonymous polls can't be sent or forwarded to channels")
    # The message holds the very dict the registry updates: it shows the current votes.
    api = send_body(emu, bot, chat, p, {"poll": poll})
    emu.world.polls[poll["id"]] = PollRecord(poll, bot.id)
    return api


@method("stopPoll")
async def stop_poll(emu: Emulator, bot: Bot, p: Params) -> Any:
    markup = inline_keyboard(p)
    chat = emu.world.resolve_chat(p.chat_id())
    emu.world.check_can_read(bot, chat)
    message_id = p.integer("message_id", empty_error="message identifier is not specified")
    stored = emu.world.find_message(chat, bot.id, message_id or 0)
    if stored is None:
        raise bad_request("message with poll to stop not found")
    poll = stored.api.get("poll")
    if poll is None:
        raise bad_request("message is not a poll")
    if close_if_due(poll):
        raise bad_request("poll has already been closed")
    record = emu.world.polls.get(poll["id"])
    if stored.sender_id != bot.id or record is None or record.bot_id != bot.id:
        raise bad_request("poll can't be stopped")  # not the bot's own poll
    poll["is_closed"] = True
    if p.has("reply_markup"):
        if markup is None:
            stored.api.pop("reply_markup", None)
        else:
            stored.api["reply_markup"] = markup
    # No poll update: the bot stopped the poll itself.
    return copy.deepcopy(poll)
