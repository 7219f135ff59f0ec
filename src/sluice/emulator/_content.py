"""Albums, animations, stickers, places, contacts and dice; replacing a message's media."""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._core import Emulator, method
from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._markup import inline_keyboard
from sluice.emulator._messages import (
    apply_edit,
    caption_of,
    edit_target,
    input_file,
    media_fields,
    reply_to,
    send_body,
    send_target,
    store_sent,
    store_upload,
    topic_of,
)
from sluice.emulator._params import Params
from sluice.emulator._world import Bot

__all__ = [
    "DICE_FACES",
    "contact_object",
    "dice_emoji",
    "live_fields",
    "location_object",
    "roll_dice",
    "sticker_mime",
    "venue_object",
]

_ALBUM_KINDS = frozenset({"photo", "video", "document", "audio"})
_EDITABLE_KINDS = _ALBUM_KINDS | {"animation"}
_OWN_ALBUM = frozenset({"document", "audio"})  # kinds an album holds only with their own kind
_ABOVE_MEDIA = frozenset({"photo", "video", "animation"})  # may show the caption above
MAX_ALBUM = 10
# Telegram's dice and the values each can show.
DICE_FACES = {"🎲": 6, "🎯": 6, "🎳": 6, "🏀": 5, "⚽": 5, "🎰": 64}
_LIVE_FOREVER = 0x7FFFFFFF
_STICKER_MIMES = {".tgs": "application/x-tgsticker", ".webm": "video/webm", ".webp": "image/webp"}


def _caption(emu: Emulator, p: Params) -> dict[str, Any]:
    caption, entities = caption_of(emu, p)
    body: dict[str, Any] = {}
    if caption:
        body["caption"] = caption
        if entities:
            body["caption_entities"] = entities
    return body


# -- albums and replaced media --------------------------------------------------------------


@dataclass(slots=True)
class _Media:
    """One InputMedia: its kind, its file (an upload not yet stored, or a stored file)."""

    kind: str
    source: UploadFile | FileRecord
    caption: dict[str, Any]
    above: bool  # show_caption_above_media
    spec: Params


def _input_media(emu: Emulator, bot: Bot, p: Params, value: object, *, album: bool) -> _Media:
    """An InputMedia read as Telegram reads it: caption, then file, then type."""

    def refused(reason: str) -> ApiError:
        return bad_request(f"can't parse InputMedia: {reason}")

    if not isinstance(value, dict):
        raise refused("expected an Object")
    spec = Params(value)
    caption = _caption(emu, spec)
    media = value.get("media")
    source: UploadFile | FileRecord
    if not isinstance(media, str) or not media:
        raise refused("media not found")
    if media.startswith("attach://"):
        part = p.upload(media.removeprefix("attach://"))
        if not isinstance(part, UploadFile):
            raise refused("media not found")
        source = part
    elif media.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    else:
        record = emu.files.resolve(media, bot.id)
        if record is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        source = record
    kind = value.get("type")
    if kind is None:
        raise refused('Can\'t find field "type"')
    if not isinstance(kind, str):
        raise refused('Field "type" must be of type String')
    if album and kind == "animation":
        raise refused(f'type "{kind}" can\'t be used in sendMediaGroup')
    if kind not in _EDITABLE_KINDS:
        raise refused(f'type "{kind}" is unsupported')
    above = kind in _ABOVE_MEDIA and spec.flag("show_caption_above_media")
    return _Media(kind, source, caption, above, spec)


async def _media_file(emu: Emulator, item: _Media) -> FileRecord:
    if isinstance(item.source, FileRecord):
        return item.source
    upload = item.source
    record = await store_upload(
        emu,
        upload.file,
        item.kind,
        mime_type=upload.content_type
        if upload.content_type != "application/octet-stream"
        else None,
        file_name=upload.filename,
        duration=max(0, item.spec.integer("duration") or 0),
    )
    _sized(record, item.spec)
    return record


def _sized(record: FileRecord, spec: Params) -> None:
    """A new video or animation takes the dimensions its sender gives."""
    if record.kind in {"video", "animation"}:
        record.width = max(0, spec.integer("width") or 0) or record.width
        record.height = max(0, spec.integer("height") or 0) or record.height


def _media_json(p: Params, what: str) -> object:
    if p.raw("media") in (None, ""):
        raise bad_request('parameter "media" is required')
    return p.json("media", what)


@method("sendMediaGroup")
async def send_media_group(emu: Emulator, bot: Bot, p: Params) -> Any:
    value = _media_json(p, "media")
    if not isinstance(value, list):
        raise bad_request("expected an Array of InputMedia")
    items = [_input_media(emu, bot, p, v, album=True) for v in value]
    chat = send_target(emu, bot, p)
    if not items:
        raise bad_request("there are no messages to send")
    if len(items) > MAX_ALBUM:
        raise bad_request("too many messages to send as an album")
    kinds = [item.kind for item in items]
    if len(set(kinds)) > 1:
        for kind in kinds:
            if kind in _OWN_ALBUM:
                raise bad_request(f"{kind} can't be mixed with other media types")
    if any(item.above != items[0].above for item in items):
        raise bad_request("parameter show_caption_above_media must be the same for all messages")
    reply = reply_to(emu, bot, chat, p)
    extra = topic_of(emu, bot.id, chat, p, reply) | reply
    protect = p.flag("protect_content")
    records = [await _media_file(emu, item) for item in items]
    # Every item is a message: the album counts as that many against the limits.
    emu.admit(bot, chat, paid=p.flag("allow_paid_broadcast"), n=len(items))
    # A single item goes as a message of its own, outside any album, as on Telegram.
    album = {"media_group_id": str(secrets.randbits(62))} if len(items) > 1 else {}
    sent = []
    for item, record in zip(items, records, strict=True):
        body = media_fields(emu, bot, record) | item.caption | album | extra
        if item.above and item.caption:
            body["show_caption_above_media"] = True
        sent.append(store_sent(emu, bot, chat, body, record, protect=protect).api)
    return sent


@method("editMessageMedia")
async def edit_message_media(emu: Emulator, bot: Bot, p: Params) -> Any:
    markup = inline_keyboard(p)
    item = _input_media(emu, bot, p, _media_json(p, "input media"), album=False)
    chat, stored = edit_target(emu, bot, p)
    old = stored.file
    if old is None or old.kind not in _EDITABLE_KINDS:
        raise bad_request("there is no media in the message to edit")
    if "media_group_id" in stored.api and item.kind != old.kind:
        if item.kind not in _ALBUM_KINDS:
            raise bad_request("message content type can't be used in an album")
        if old.kind in _OWN_ALBUM or item.kind in _OWN_ALBUM:
            raise bad_request("can't change media type in the album")
    record = await _media_file(emu, item)
    # The old media's fields go, the new media and its caption (or none) come.
    changes: dict[str, Any] = dict.fromkeys(media_fields(emu, bot, old))
    changes |= media_fields(emu, bot, record)
    changes |= {
        "caption": item.caption.get("caption"),
        "caption_entities": item.caption.get("caption_entities"),
        "show_caption_above_media": True if item.above and item.caption else None,
        "reply_markup": markup,
    }
    api = apply_edit(emu, bot, chat, stored, changes)
    stored.file = record
    return api


# -- animations and stickers ------------------------------------------------------------------


@method("sendAnimation")
async def send_animation(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = send_target(emu, bot, p)
    body = _caption(emu, p)
    uploaded = isinstance(p.upload("animation"), UploadFile)
    record = await input_file(emu, bot, p, "animation")
    if uploaded:
        _sized(record, p)
    if body and p.flag("show_caption_above_media"):
        body["show_caption_above_media"] = True
    return send_body(emu, bot, chat, p, media_fields(emu, bot, record) | body, record)


def sticker_mime(file_name: str | None, content_type: str | None) -> str:
    """A sticker's format by its name (.webp, .tgs, .webm), else by its content type."""
    suffix = PurePosixPath(file_name or "").suffix.lower()
    if suffix in _STICKER_MIMES:
        return _STICKER_MIMES[suffix]
    if content_type is not None and content_type in _STICKER_MIMES.values():
        return content_type
    return "image/webp"


@method("sendSticker")
async def send_sticker(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = send_target(emu, bot, p)
    upload = p.upload("sticker")
    if isinstance(upload, UploadFile):
        record = await store_upload(
            emu,
            upload.file,
            "sticker",
            mime_type=sticker_mime(upload.filename, upload.content_type),
            file_name=upload.filename,
            duration=0,
        )
        record.emoji = p.text("emoji") or None  # only a new sticker takes one
    else:
        record = await input_file(emu, bot, p, "sticker")
    return send_body(emu, bot, chat, p, media_fields(emu, bot, record), record)


# -- locations, venues, contacts ------------------------------------------------------------


def _coordinate(p: Params, name: str) -> float:
    raw = p.text(name)
    if raw is None or not raw.strip():
        raise bad_request(f"{name} is empty")
    try:
        return float(raw.strip())
    except ValueError:
        return 0.0  # the Bot API reads what is not a number as 0


def location_object(p: Params, *, venue: bool = False) -> dict[str, Any]:
    """A Location from ``latitude``, ``longitude`` and ``horizontal_accuracy``."""
    latitude, longitude = _coordinate(p, "latitude"), _coordinate(p, "longitude")
    if not (
        math.isfinite(latitude)
        and math.isfinite(longitude)
        and abs(latitude) <= 90
        and abs(longitude) <= 180
    ):
        raise bad_request("wrong venue location specified" if venue else "wrong location specified")
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    try:
        accuracy = float((p.text("horizontal_accuracy") or "0").strip())
    except ValueError:
        accuracy = 0.0
    if math.isfinite(accuracy) and accuracy > 0:
        location["horizontal_accuracy"] = min(accuracy, 1500.0)
    return location


def live_fields(p: Params) -> dict[str, Any]:
    """A live location's period, heading and proximity alert radius, checked as Telegram does."""
    period = p.integer("live_period") or 0
    heading = p.integer("heading") or 0
    radius = p.integer("proximity_alert_radius") or 0
    if period and period != _LIVE_FOREVER and not 60 <= period <= 86400:
        raise bad_request("wrong live location period specified")
    if heading and not 1 <= heading <= 360:
        raise bad_request("wrong live location heading specified")
    if not 0 <= radius <= 100_000:
        raise bad_request("wrong live location proximity alert radius specified")
    if not period:
        return {}  # a plain location keeps none of them
    fields: dict[str, Any] = {"live_period": period}
    if heading:
        fields["heading"] = heading
    if radius:
        fields["proximity_alert_radius"] = radius
    return fields


def venue_object(p: Params) -> dict[str, Any]:
    venue: dict[str, Any] = {
        "location": location_object(p, venue=True),
        "title": p.text("title") or "",
        "address": p.text("address") or "",
    }
    # One provider: Foursquare's fields win over Google's, as in the Bot API server.
    for provider in ("foursquare", "google_place"):
        place_id, place_type = p.text(f"{provider}_id"), p.text(f"{provider}_type")
        if place_id or place_type:
            if place_id:
                venue[f"{provider}_id"] = place_id
            if place_type:
                venue[f"{provider}_type"] = place_type
            break
    return venue


def contact_object(p: Params) -> dict[str, Any]:
    contact: dict[str, Any] = {}
    for name in ("phone_number", "first_name"):
        value = p.text(name)
        if not value:
            raise bad_request(f'parameter "{name}" is required')
        contact[name] = value
    for name in ("last_name", "vcard"):
        if value := p.text(name):
            contact[name] = value
    return contact


@method("sendLocation")
async def send_location(emu: Emulator, bot: Bot, p: Params) -> Any:
    location = location_object(p) | live_fields(p)
    chat = send_target(emu, bot, p)
    return send_body(emu, bot, chat, p, {"location": location})


@method("sendVenue")
async def send_venue(emu: Emulator, bot: Bot, p: Params) -> Any:
    venue = venue_object(p)
    chat = send_target(emu, bot, p)
    # The location again, for clients that predate venues.
    return send_body(emu, bot, chat, p, {"venue": venue, "location": dict(venue["location"])})


@method("sendContact")
async def send_contact(emu: Emulator, bot: Bot, p: Params) -> Any:
    contact = contact_object(p)
    chat = send_target(emu, bot, p)
    return send_body(emu, bot, chat, p, {"contact": contact})


# -- dice -----------------------------------------------------------------------------------


def dice_emoji(raw: str | None) -> str:
    emoji = (raw or "").replace("\ufe0f", "") or "🎲"
    if emoji not in DICE_FACES:
        raise bad_request("EMOTICON_INVALID")
    return emoji


def roll_dice(emu: Emulator, emoji: str, *where: object) -> int:
    """A throw's value. With a seed it depends only on the seed and ``where`` (the chat, the
    thrower, the message), not on what else the emulator drew, so faults stay as they were."""
    seed = emu.config.seed
    rng = random.Random(f"dice {seed} {where}") if seed is not None else random.Random()
    return rng.randint(1, DICE_FACES[emoji])


@method("sendDice")
async def send_dice(emu: Emulator, bot: Bot, p: Params) -> Any:
    chat = send_target(emu, bot, p)
    emoji = dice_emoji(p.text("emoji"))  # Telegram's servers check it, after the chat
    dice = {"emoji": emoji, "value": 0}
    api = send_body(emu, bot, chat, p, {"dice": dice})
    dice["value"] = roll_dice(emu, emoji, chat.id, bot.id, api["message_id"])
    return api
