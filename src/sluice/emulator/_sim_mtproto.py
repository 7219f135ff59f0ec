"""``/_sim/`` endpoints for MTProto downloads: synthetic files, the DC a file lives
on, and deterministic dropped connections.

- ``synthetic`` content in ``POST /_sim/send`` (``{"synthetic": {"size": ..., "seed":
  ...}}``) and ``POST /_sim/mtproto/synthetic``: a message carrying a file of any size
  up to 4 GiB whose bytes are ``sluice.emulator.synthetic_bytes(seed, ...)``; nothing
  is written to disk. The latter also posts as a channel itself (no ``from_user_id``).
- ``POST /_sim/mtproto/file_dc``: move a file to DC 2 (or back), so a download from the
  other DC answers ``FILE_MIGRATE_X``.
- ``POST /_sim/mtproto/drop``: drop an account's MTProto connections now, or when it
  asks for a part after its next N ``upload.getFile`` requests.
- ``POST /_sim/mtproto/flood``: answer an account's ``upload.getFile`` once with
  ``FLOOD_WAIT_X``, after its next N requests.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._params import Params
from sluice.emulator._sim import Simulator, sim_content, sim_post
from sluice.emulator._synthetic import SYNTHETIC_MAX_SIZE
from sluice.emulator._text import detect_entities
from sluice.emulator._world import Chat, User

__all__: list[str] = []

SYNTHETIC_KINDS = ("document", "video", "audio", "voice", "animation")
_DC_IDS = (1, 2)
_MAX_DROP_AFTER = 1_000_000
_MAX_FLOOD_SECONDS = 86_400
_FILE_FIELDS = ("size", "seed", "kind", "file_name", "mime_type", "duration", "dc", "caption")
# What else POST /_sim/mtproto/synthetic passes on to /_sim/send.
_SEND_FIELDS = ("chat_id", "from_user_id", "bot_id", "reply_to_message_id", "message_thread_id")


def _mtproto(sim: Simulator) -> Any:
    mt = sim.emu.mtproto
    if mt is None:
        raise ApiError(404, "Not Found: the emulator's MTProto side is switched off")
    return mt


def _dc(p: Params) -> int:
    dc = p.integer("dc")
    if dc is None:
        return 1
    if dc not in _DC_IDS:
        raise bad_request(f"dc must be one of {', '.join(map(str, _DC_IDS))}")
    return dc


def synthetic_record(sim: Simulator, spec: Params) -> FileRecord:
    """A synthetic file: ``size`` (bytes, 1..4 GiB), ``seed`` (random if omitted),
    ``kind``, ``file_name``, ``mime_type``, ``duration``, ``dc``."""
    size = spec.integer("size", empty_error="synthetic.size is required")
    if size is None or not 1 <= size <= SYNTHETIC_MAX_SIZE:
        raise bad_request(f"synthetic.size must be within 1..{SYNTHETIC_MAX_SIZE} bytes")
    seed = spec.integer("seed")
    if seed is None:
        seed = secrets.randbits(63)
    elif not 0 <= seed < 2**63:
        raise bad_request("synthetic.seed must be within 0..2^63-1")
    kind = spec.text("kind") or "document"
    if kind not in SYNTHETIC_KINDS:
        raise bad_request(f"synthetic.kind must be one of {', '.join(SYNTHETIC_KINDS)}")
    duration = spec.integer("duration") or 0
    if not 0 <= duration < 2**31:
        raise bad_request("synthetic.duration must be a non-negative number of seconds")
    return sim.emu.files.add_synthetic(
        kind,
        size,
        seed,
        mime_type=spec.text("mime_type"),
        file_name=spec.text("file_name"),
        duration=duration,
        dc=_dc(spec),
    )


def _caption(p: Params, spec: Params) -> dict[str, Any]:
    caption = spec.text("caption") or p.text("caption")
    if not caption:
        return {}
    from sluice.emulator._messages import MAX_CAPTION

    if len(caption) > MAX_CAPTION:
        raise bad_request(f"caption is longer than {MAX_CAPTION} characters")
    body: dict[str, Any] = {"caption": caption}
    if entities := detect_entities(caption):
        body["caption_entities"] = entities
    return body


def _spec(value: object) -> Params:
    if not isinstance(value, dict):
        raise bad_request("synthetic must be an object: {size, seed?, kind?, ...}")
    return Params(value)


@sim_content("synthetic")
async def _synthetic(
    sim: Simulator, value: object, p: Params
) -> tuple[dict[str, Any], FileRecord | None]:
    spec = _spec(value)
    body = _caption(p, spec)  # checked before the file is made
    return body, synthetic_record(sim, spec)


def _file_json(record: FileRecord) -> dict[str, Any]:
    return {
        "file_unique_id": record.unique_id,
        "kind": record.kind,
        "size": record.size,
        "seed": record.seed,
        "dc": record.dc,
        "file_name": record.file_name,
        "mime_type": record.mime_type,
    }


@sim_post("mtproto/synthetic")
async def post_synthetic(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A message with a synthetic file in ``chat_id``: from ``from_user_id`` (as
    ``/_sim/send``), or, in a channel without it, posted by the channel itself. The
    file's fields (``size``, ``seed``...) are top-level parameters here. Answers the
    message and ``file`` (its ``file_unique_id``, ``seed``, ``dc``...)."""
    if p.has("from_user_id"):
        spec = {name: p.raw(name) for name in _FILE_FIELDS if p.has(name)}
        message = {name: p.raw(name) for name in _SEND_FIELDS if p.has(name)}
        sent = await sim.send(Params(message | {"synthetic": spec}), None)
        chat = sim.emu.world.resolve_chat(p.chat_id())
        record = _last_file(sim, chat, int(sent["message_id"]), p)
        return {"message": sent, "file": _file_json(record)}
    chat = sim.emu.world.resolve_chat(p.chat_id())
    if not isinstance(chat, Chat) or chat.type != "channel":
        raise bad_request("from_user_id is required: only a channel posts as itself")
    body = _caption(p, p)
    record = synthetic_record(sim, p)
    # The channel is the author (sender_chat); no user is behind the post.
    poster = User(0, chat.title or "channel")
    sent = sim.deliver_group(chat, poster, body, record)
    return {"message": sent, "file": _file_json(record)}


def _last_file(sim: Simulator, chat: Chat | User, message_id: int, p: Params) -> FileRecord:
    world = sim.emu.world
    other = 0 if isinstance(chat, Chat) else sim.private_bot(chat, p)
    stored = world.find_message(chat, other, message_id)
    assert stored is not None
    assert stored.file is not None
    return stored.file


@sim_post("mtproto/file_dc")
async def file_dc(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """Move the file ``file_unique_id`` to data centre ``dc`` (1 or 2)."""
    _mtproto(sim)
    unique_id = p.text("file_unique_id", empty_error="file_unique_id is required") or ""
    record = sim.emu.files.by_unique_id(unique_id)
    if record is None:
        raise bad_request(f"no file {unique_id!r}")
    if not p.has("dc"):
        raise bad_request("dc is required")
    record.dc = _dc(p)
    return _file_json(record)


@sim_post("mtproto/drop")
async def drop(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """Drop the MTProto connections of ``account_id`` (a bot or user account): now, or
    with ``after_requests`` N, when it asks for a part after its next N upload.getFile
    requests (those are answered; the one after is not, and every connection of the
    account closes). The client must reconnect and ask again."""
    from sluice.emulator.mtproto import downloads, drop_connections

    mt = _mtproto(sim)
    account_id = p.integer("account_id", empty_error="account_id is required")
    assert account_id is not None
    after = p.integer("after_requests")
    state = downloads(sim.emu).account(account_id)
    if after is None:
        dropped = drop_connections(mt, account_id)
        state.drops += dropped
        return {"account_id": account_id, "dropped": dropped}
    if not 0 <= after <= _MAX_DROP_AFTER:
        raise bad_request(f"after_requests must be within 0..{_MAX_DROP_AFTER}")
    state.drop_after = after
    return {"account_id": account_id, "after_requests": after}


@sim_post("mtproto/flood")
async def flood(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """Answer ``account_id``'s upload.getFile with ``FLOOD_WAIT_<seconds>`` once, after
    its next ``after_requests`` (default 0) requests, whatever the download model says:
    a flood wait in the middle of a download, where a test wants it."""
    from sluice.emulator.mtproto import downloads

    _mtproto(sim)
    account_id = p.integer("account_id", empty_error="account_id is required")
    seconds = p.integer("seconds", empty_error="seconds is required")
    assert account_id is not None
    assert seconds is not None
    if not 1 <= seconds <= _MAX_FLOOD_SECONDS:
        raise bad_request(f"seconds must be within 1..{_MAX_FLOOD_SECONDS}")
    after = p.integer("after_requests") or 0
    if not 0 <= after <= _MAX_DROP_AFTER:
        raise bad_request(f"after_requests must be within 0..{_MAX_DROP_AFTER}")
    state = downloads(sim.emu).account(account_id)
    state.flood_after, state.flood_seconds = after, seconds
    return {"account_id": account_id, "seconds": seconds, "after_requests": after}
