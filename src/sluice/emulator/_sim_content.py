"""Users' places, contacts, dice, stickers and animations, and their votes in polls."""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._content import (
    DICE_FACES,
    contact_object,
    dice_emoji,
    live_fields,
    location_object,
    roll_dice,
    venue_object,
)
from sluice.emulator._errors import bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._messages import store_upload
from sluice.emulator._params import Params
from sluice.emulator._polls import close_if_due, new_poll
from sluice.emulator._sim import Simulator, sim_content, sim_post
from sluice.emulator._text import detect_entities
from sluice.emulator._world import PollRecord, User

__all__: list[str] = []


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    assert len(payload) < 0x7F
    return element_id + bytes([0x80 | len(payload)]) + payload


# Tiny but well-formed files for what a user sends, so tests need no fixtures: a 1x1
# lossless WebP, a Lottie animation in gzip (.tgs), a WebM's EBML header with an empty
# segment, and an MP4's ftyp box with an empty mdat (Telegram keeps GIFs as MP4).
_WEBP = bytes.fromhex("524946461A000000574542505650384C0D0000002F00000010071011118888FE0700")
_LOTTIE = {"v": "5.5.2", "fr": 30, "ip": 0, "op": 30, "w": 512, "h": 512, "layers": []}
_TGS = gzip.compress(json.dumps(_LOTTIE, separators=(",", ":")).encode(), mtime=0)
_WEBM = _ebml(
    bytes.fromhex("1A45DFA3"),
    _ebml(b"\x42\x86", b"\x01")
    + _ebml(b"\x42\xf7", b"\x01")
    + _ebml(b"\x42\xf2", b"\x04")
    + _ebml(b"\x42\xf3", b"\x08")
    + _ebml(b"\x42\x82", b"webm")
    + _ebml(b"\x42\x87", b"\x02")
    + _ebml(b"\x42\x85", b"\x02"),
) + _ebml(bytes.fromhex("18538067"), b"")
_MP4 = (
    (32).to_bytes(4, "big")
    + b"ftypisom"
    + (0x200).to_bytes(4, "big")
    + b"isomiso2avc1mp41"
    + (8).to_bytes(4, "big")
    + b"mdat"
)
# format -> (bytes, MIME type, file name)
_STICKERS = {
    "static": (_WEBP, "image/webp", "sticker.webp"),
    "animated": (_TGS, "application/x-tgsticker", "sticker.tgs"),
    "video": (_WEBM, "video/webm", "sticker.webm"),
}


def _spec(value: object, name: str) -> Params:
    if not isinstance(value, dict):
        raise bad_request(f"{name} must be a JSON object")
    return Params(value)


@sim_content("location")
async def _location(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value, "location")
    return {"location": location_object(spec) | live_fields(spec)}, None


@sim_content("venue")
async def _venue(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    venue = venue_object(_spec(value, "venue"))
    return {"venue": venue, "location": dict(venue["location"])}, None


@sim_content("contact")
async def _contact(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value, "contact")
    contact = contact_object(spec)
    if (user_id := spec.integer("user_id")) is not None:  # a user sharing a Telegram account
        contact["user_id"] = user_id
    return {"contact": contact}, None


@sim_content("poll")
async def _poll(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    """A poll the user made (a keyboard's request_poll button, or the attachment menu):
    ``{question, options, type?, is_anonymous?, allows_multiple_answers?,
    correct_option_ids?...}`` as sendPoll takes them."""
    poll = new_poll(sim.emu, _spec(value, "poll"))
    sim.emu.world.polls[poll["id"]] = PollRecord(poll, 0)  # no bot hears its votes
    return {"poll": poll}, None


@sim_content("dice")
async def _dice(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value if value is not None else {}, "dice")
    emoji = dice_emoji(spec.text("emoji"))
    thrown = spec.integer("value")
    if thrown is None:
        # Seeded by where it lands: the chat, the user, and how many messages came before.
        chat_id = p.integer("chat_id") or 0
        world = sim.emu.world
        before = sum(len(world.messages[key]) for key in world.conversations_of(chat_id))
        thrown = roll_dice(sim.emu, emoji, chat_id, p.integer("from_user_id"), before)
    elif not 1 <= thrown <= DICE_FACES[emoji]:
        raise bad_request(f"a {emoji} shows 1..{DICE_FACES[emoji]}")
    return {"dice": {"emoji": emoji, "value": thrown}}, None


def _reused(sim: Simulator, spec: Params, kind: str) -> FileRecord | None:
    """The file a user sends again by its file_unique_id, or None for a new one."""
    unique_id = spec.text("file_unique_id")
    if not unique_id:
        return None
    found = sim.emu.files.by_unique_id(unique_id)
    if found is None:
        raise bad_request(f"no file {unique_id!r} was uploaded")
    if found.kind != kind:
        raise bad_request(f"file {unique_id!r} is a {found.kind}, not a {kind}")
    return found


@sim_content("sticker")
async def _sticker(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value if value is not None else {}, "sticker")
    record = _reused(sim, spec, "sticker")
    if record is None:
        sticker_format = spec.text("format") or "static"
        if sticker_format not in _STICKERS:
            raise bad_request(f"sticker.format must be one of {', '.join(_STICKERS)}")
        data, mime_type, file_name = _STICKERS[sticker_format]
        record = await store_upload(
            sim.emu,
            io.BytesIO(data),
            "sticker",
            mime_type=mime_type,
            file_name=file_name,
            duration=0,
        )
        record.emoji = spec.text("emoji") or None
    return {}, record


@sim_content("animation")
async def _animation(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value if value is not None else {}, "animation")
    record = _reused(sim, spec, "animation")
    if record is None:
        record = await store_upload(
            sim.emu,
            io.BytesIO(_MP4),
            "animation",
            mime_type="video/mp4",
            file_name=spec.text("file_name") or "animation.mp4",
            duration=max(0, spec.integer("duration") or 0),
        )
        record.width = max(0, spec.integer("width") or 0) or record.width
        record.height = max(0, spec.integer("height") or 0) or record.height
    body: dict[str, Any] = {}
    if caption := spec.text("caption") or p.text("caption"):
        body["caption"] = caption
        if entities := detect_entities(caption):
            body["caption_entities"] = entities
    return body, record


# -- votes ----------------------------------------------------------------------------------


def _poll_of(sim: Simulator, p: Params, user: User) -> PollRecord:
    """The poll named by ``poll_id``, or by the message (``chat_id``, ``message_id``) holding it."""
    world = sim.emu.world
    if p.has("poll_id"):
        poll_id = p.text("poll_id") or ""
        record = world.polls.get(poll_id)
        if record is None:
            raise bad_request(f"poll {poll_id} not found")
        return record
    if not p.has("chat_id"):
        raise bad_request("poll_id, or chat_id and message_id, is required")
    chat = world.resolve_chat(p.chat_id())
    message_id = p.integer("message_id", empty_error="message_id is required") or 0
    if isinstance(chat, User):
        if chat.id != user.id:
            raise bad_request("a user votes only in their own private chat")
        stored = world.find_message(chat, sim.private_bot(user, p), message_id)
    else:
        if user.id not in chat.member_user_ids:
            raise bad_request(f"user {user.id} is not a member of chat {chat.id}")
        stored = world.find_message(chat, 0, message_id)
    poll = stored.api.get("poll") if stored is not None else None
    record = world.polls.get(poll["id"]) if poll is not None else None
    if record is None:
        raise bad_request(f"no poll in message {message_id} of chat {chat.id}")
    return record


def _option_ids(p: Params, options: int) -> list[int]:
    value = p.json("option_ids", "option_ids")
    if (
        not isinstance(value, list)
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in value)
        or len(set(value)) != len(value)
        or not all(0 <= i < options for i in value)
    ):
        raise bad_request(f"option_ids must be a list of distinct option indexes 0..{options - 1}")
    return sorted(value)


@sim_post("poll/answer")
async def answer_poll(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A user votes (``option_ids``), changes or retracts (``[]``) a vote; the poll's bot gets
    ``poll_answer`` (non-anonymous polls) and ``poll`` updates, as Telegram sends them."""
    user = sim.user(p, "from_user_id")
    record = _poll_of(sim, p, user)
    poll = record.poll
    chosen = _option_ids(p, len(poll["options"]))
    if close_if_due(poll):
        raise bad_request("the poll is closed")
    if len(chosen) > 1 and not poll["allows_multiple_answers"]:
        raise bad_request("the poll allows one answer")
    previous = record.votes.get(user.id, [])
    if previous and chosen != previous and not poll["allows_revoting"]:
        raise bad_request("the poll does not allow changing or retracting an answer")
    if chosen != previous:
        for index in previous:
            poll["options"][index]["voter_count"] -= 1
        for index in chosen:
            poll["options"][index]["voter_count"] += 1
        if chosen:
            record.votes[user.id] = chosen
        else:
            record.votes.pop(user.id, None)
        poll["total_voter_count"] = len(record.votes)
        if not poll["is_anonymous"]:
            answer = {
                "poll_id": poll["id"],
                "user": user.to_api(),
                "option_ids": chosen,
                "option_persistent_ids": [poll["options"][i]["persistent_id"] for i in chosen],
            }
            sim.emu.hub.push(record.bot_id, "poll_answer", answer)
        sim.emu.hub.push(record.bot_id, "poll", copy.deepcopy(poll))
    return {"poll": copy.deepcopy(poll), "option_ids": chosen}
