"""Inline mode and Web App answers: answerInlineQuery, answerWebAppQuery and their results."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._ledger import (
    QUERY_INVALID,
    InlineResult,
    InvoiceFacts,
    InvoiceState,
    ledger,
    user_message,
)
from sluice.emulator._markup import formatted_text, inline_keyboard
from sluice.emulator._messages import MAX_CAPTION, MAX_TEXT, media_fields
from sluice.emulator._params import Params
from sluice.emulator._payments import invoice_content
from sluice.emulator._shape import (
    Shape,
    https_problem,
    read_integer,
    read_number,
    read_object,
    read_string,
)
from sluice.emulator._world import Bot

__all__ = ["INLINE_ANSWER_WINDOW", "record_invoice", "sent_message"]

# Telegram publishes no figure for inline queries; bots see them expire after about 10 s.
INLINE_ANSWER_WINDOW = 10.0
MAX_INLINE_RESULTS = 50
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")


# type -> (fields it always needs, and for media: its URL field, what a URL also needs, and
# the file_id field it needs instead of a URL), in the order tdlib reads them.
_RESULT_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, tuple[str, ...], str] | None]] = {
    "article": (("title",), None),
    "audio": ((), ("audio_url", ("title",), "audio_file_id")),
    "contact": (("phone_number", "first_name"), None),
    "document": (("title",), ("document_url", ("mime_type",), "document_file_id")),
    "game": (("game_short_name",), None),
    "gif": ((), ("gif_url", (), "gif_file_id")),
    "location": (("latitude", "longitude", "title"), None),
    "mpeg4_gif": ((), ("mpeg4_url", (), "mpeg4_file_id")),
    "photo": ((), ("photo_url", (), "photo_file_id")),
    "sticker": (("sticker_file_id",), None),
    "venue": (("latitude", "longitude", "title", "address"), None),
    "video": (("title",), ("video_url", ("mime_type",), "video_file_id")),
    "voice": (("title",), ("voice_url", (), "voice_file_id")),
}
_NUMBERS = frozenset({"latitude", "longitude"})


def _formatted(emu: Emulator, obj: dict[str, Any], text: str, entities: str) -> dict[str, Any]:
    """Text and its entities after parse_mode; tdlib's words for what it can't parse."""
    try:
        parsed, found = formatted_text(
            Params(obj),
            text_field=text,
            entities_field=entities,
            max_length=1 << 15,
            empty_error=None,
            too_long_error="text is too long",
            users=emu.world.user_api,
        )
    except ApiError as exc:
        reason = exc.description.removeprefix("Bad Request: ")
        raise Shape(reason[:1].upper() + reason[1:]) from None
    body: dict[str, Any] = {text: parsed} if parsed else {}
    if found:
        body[entities] = found
    return body


def _location(obj: dict[str, Any]) -> dict[str, Any]:
    location: dict[str, Any] = {
        "latitude": read_number(obj, "latitude"),
        "longitude": read_number(obj, "longitude"),
    }
    if (accuracy := read_number(obj, "horizontal_accuracy", required=False)) is not None:
        location["horizontal_accuracy"] = accuracy
    for name in ("live_period", "heading", "proximity_alert_radius"):
        if obj.get(name) is not None:
            location[name] = read_integer(obj, name)
    return location


def _venue(obj: dict[str, Any]) -> dict[str, Any]:
    location = _location(obj)
    venue: dict[str, Any] = {
        "location": location,
        "title": read_string(obj, "title"),
        "address": read_string(obj, "address"),
    }
    for name in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
        if (value := read_string(obj, name, required=False)) is not None:
            venue[name] = value
    return {"venue": venue, "location": location}


def _contact(obj: dict[str, Any]) -> dict[str, Any]:
    contact = {
        "phone_number": read_string(obj, "phone_number"),
        "first_name": read_string(obj, "first_name"),
    }
    for name in ("last_name", "vcard"):
        if (value := read_string(obj, name, required=False)) is not None:
            contact[name] = value
    return {"contact": contact}


def _content(
    emu: Emulator, content: dict[str, Any], *, required: bool
) -> tuple[dict[str, Any] | None, InvoiceFacts | None]:
    """An InputMessageContent: the message it makes, and the invoice if it is one."""
    if read_string(content, "message_text", required=False):
        body = _formatted(emu, content, "message_text", "entities")
        body = {"text": body.pop("message_text")} | body
        if len(body["text"]) > MAX_TEXT:
            raise bad_request("MESSAGE_TOO_LONG")
        return body, None
    if "latitude" in content and "longitude" in content:
        if "title" in content and "address" in content:
            return _venue(content), None
        return {"location": _location(content)}, None
    if "phone_number" in content:
        return _contact(content), None
    if "payload" in content:
        facts = invoice_content(content)
        return {"invoice": facts.to_api()}, facts
    if required:
        raise Shape("Input message content is not specified")
    return None, None


def _inline_result(emu: Emulator, bot: Bot, value: Any) -> InlineResult:
    """One InlineQueryResult, checked as telegram-bot-api reads it (raises Shape)."""
    if not isinstance(value, dict):
        raise Shape("Inline query result must be an object")
    kind = (read_string(value, "type") or "").lower()
    read_string(value, "id")
    content = read_object(value, "input_message_content")
    invoice = None
    if content is not None:
        body, invoice = _content(emu, content, required=kind == "article")
    else:  # the legacy fields of an article
        text = read_string(value, "message_text", required=kind == "article")
        body = None
        if kind == "article" or text:
            if not text:
                raise Shape("Message text is empty")
            body, _ = _content(emu, value, required=True)
    caption = _formatted(emu, value, "caption", "caption_entities")
    if len(caption.get("caption", "")) > MAX_CAPTION:
        raise bad_request("MEDIA_CAPTION_TOO_LONG")
    markup_object = read_object(value, "reply_markup")
    markup = inline_keyboard(Params({"reply_markup": markup_object})) if markup_object else None
    spec = _RESULT_TYPES.get(kind)
    if spec is None:
        raise Shape(f'type "{kind}" is unsupported for the inline query result')
    needed, media = spec
    for name in needed:
        if name in _NUMBERS:
            read_number(value, name)
        else:
            read_string(value, name)
    file = None
    if media is not None:
        url_field, url_needs, file_id_field = media
        if read_string(value, url_field, required=False):
            for name in url_needs:
                read_string(value, name)
        else:
            file_id = read_string(value, file_id_field) or ""
            file = emu.files.resolve(file_id, bot.id)
            if file is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
    elif kind == "sticker":
        file = emu.files.resolve(read_string(value, "sticker_file_id") or "", bot.id)
        if file is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
    if body is not None:
        return InlineResult(value, body, None, markup, invoice)
    body = _default_body(emu, bot, kind, value, file, caption)
    return InlineResult(value, body, file if body is not None else None, markup)


def _default_body(
    emu: Emulator,
    bot: Bot,
    kind: str,
    value: dict[str, Any],
    file: FileRecord | None,
    caption: dict[str, Any],
) -> dict[str, Any] | None:
    """The message a result sends without an input_message_content."""
    if kind == "contact":
        return _contact(value)
    if kind == "location":
        return {"location": _location(value)}
    if kind == "venue":
        return _venue(value)
    if file is None:
        return None  # a URL (or a game): Telegram fetches it; the emulator can't
    return media_fields(emu, bot, file) | caption


def _check_ids(results: list[InlineResult]) -> None:
    seen: set[str] = set()
    for result in results:
        result_id = str(result.api["id"])
        if not 1 <= len(result_id.encode()) <= 64:
            raise bad_request("RESULT_ID_INVALID")
        if result_id in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(result_id)


def _results_button(p: Params) -> dict[str, Any] | None:
    raw = p.json("button", "inline query results button")
    if raw is None:
        text = p.text("switch_pm_text")  # the legacy form
        if not text:
            return None
        raw = {"text": text, "start_parameter": p.text("switch_pm_parameter") or ""}
    try:
        if not isinstance(raw, dict):
            raise Shape("InlineQueryResultsButton must be an Object")
        text = read_string(raw, "text") or ""
        if "start_parameter" in raw:
            start = read_string(raw, "start_parameter") or ""
            button: dict[str, Any] = {"text": text, "start_parameter": start}
        elif "web_app" in raw:
            url = read_string(read_object(raw, "web_app", required=True) or {}, "url") or ""
            button = {"text": text, "web_app": {"url": url}}
        else:
            raise Shape("InlineQueryResultsButton must have exactly one optional field")
    except Shape as exc:
        raise bad_request(f"can't parse inline query results button: {exc}") from None
    if "start_parameter" in button:
        start = button["start_parameter"]
        if not start:
            raise bad_request("can't use empty start_parameter")
        if len(start) > 64:
            raise bad_request("too long start_parameter specified")
        if not _BASE64URL.match(start):
            raise bad_request("unallowed characters in start_parameter are used")
    elif (problem := https_problem(button["web_app"]["url"])) is not None:
        raise bad_request(f"inline query button Web App {problem}")
    return button


def _decode(p: Params, name: str, error: str) -> Any:
    raw = p.raw(name)
    if not isinstance(raw, str):
        return raw
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad_request(f"{error}{exc}") from None


@method("answerInlineQuery")
async def answer_inline_query(emu: Emulator, bot: Bot, p: Params) -> Any:
    query_id = p.text("inline_query_id") or ""
    cache_time = p.integer("cache_time")
    next_offset = p.text("next_offset") or ""
    button = _results_button(p)
    values = _decode(p, "results", "can't parse JSON encoded inline query results: ")
    if values is None:
        values = []
    if not isinstance(values, list):
        raise bad_request("expected an Array of inline query results")
    if len(values) > MAX_INLINE_RESULTS:
        raise bad_request("too many inline query results specified")
    try:
        results = [_inline_result(emu, bot, value) for value in values]
    except Shape as exc:
        raise bad_request(f"can't parse inline query result: {exc}") from None
    state = ledger(emu).inline_queries.get(query_id)
    too_old = state is not None and emu.clock() - state.sent_at > INLINE_ANSWER_WINDOW
    if state is None or state.bot_id != bot.id or state.answer is not None or too_old:
        raise bad_request(QUERY_INVALID)
    _check_ids(results)
    if len(next_offset.encode()) > 64:
        raise bad_request("NEXT_OFFSET_INVALID")
    state.results = {str(result.api["id"]): result for result in results}
    state.answer = {
        "results": [result.api for result in results],
        "cache_time": min(max(300 if cache_time is None else cache_time, 0), 24 * 3600),
        "is_personal": p.flag("is_personal"),
        "next_offset": next_offset,
    }
    if button is not None:
        state.answer["button"] = button
    return True


def sent_message(result: InlineResult, bot: Bot) -> dict[str, Any] | None:
    """The body of the message a chosen result sends via ``bot`` (None: none the emulator
    can make); an inline keyboard makes it an inline message with an inline_message_id."""
    if result.body is None:
        return None
    body = {"via_bot": bot.user.to_api()} | result.body
    if result.markup is not None:
        body["reply_markup"] = result.markup
    return body


def record_invoice(
    emu: Emulator, key: tuple[int, int], message: dict[str, Any], result: InlineResult, bot: Bot
) -> None:
    """An invoice sent via the bot (into conversation ``key``) is paid like one it sent."""
    if result.invoice is not None:
        state = InvoiceState(bot.id, result.invoice)
        ledger(emu).invoices[(*key, int(message["message_id"]))] = state


@method("answerWebAppQuery")
async def answer_web_app_query(emu: Emulator, bot: Bot, p: Params) -> Any:
    query_id = p.text("web_app_query_id") or ""
    value = _decode(p, "result", "can't parse JSON encoded web view query results ")
    if value is None:
        raise bad_request("result isn't specified")
    try:
        result = _inline_result(emu, bot, value)
    except Shape as exc:
        reason = str(exc)
        raise bad_request(reason[:1].lower() + reason[1:]) from None
    query = ledger(emu).web_app_queries.get(query_id)
    if query is None or query.bot_id != bot.id or query.answered:
        raise bad_request(QUERY_INVALID)
    _check_ids([result])
    query.answered = True
    body = sent_message(result, bot)
    if body is not None:
        message = user_message(emu, bot.id, query.user, query.user, body, result.file)
        record_invoice(emu, (query.user.id, bot.id), message, result, bot)
    return {"inline_message_id": secrets.token_urlsafe(18)} if result.markup else {}
