"""``/_sim/`` endpoints for MTProto accounts: the API apps the emulator accepts, the
login code auth.sendCode issued to a phone, and a supergroup's slow mode.

An api_hash is a secret of the app's: it is taken here and never answered back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile

from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._params import Params
from sluice.emulator._sim import Simulator, sim_post
from sluice.emulator._world import Chat

__all__: list[str] = []

_API_HASH = re.compile(r"^[0-9a-f]{32}$")


def _mtproto(sim: Simulator) -> Any:
    mt = sim.emu.mtproto
    if mt is None:
        raise ApiError(404, "Not Found: the emulator's MTProto side is switched off")
    return mt


@sim_post("apps")
async def register_app(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """Register an app (``api_id``, ``api_hash``); ``restricted``: true accepts only
    registered apps (otherwise any well-formed pair is bound on first use)."""
    mt = _mtproto(sim)
    if p.has("api_id") or p.has("api_hash"):
        api_id = p.integer("api_id", empty_error="api_id is required")
        api_hash = (p.text("api_hash", empty_error="api_hash is required") or "").lower()
        if api_id is None or not 0 < api_id < 2**31:
            raise bad_request("api_id must be a positive 32-bit integer")
        if not _API_HASH.match(api_hash):
            raise bad_request("api_hash must be 32 hexadecimal digits")
        mt.apps[api_id] = api_hash
    if p.has("restricted"):
        mt.apps_restricted = p.flag("restricted")
    return {"api_ids": sorted(mt.apps), "restricted": mt.apps_restricted}


@sim_post("mtproto/code")
async def login_code(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """The code auth.sendCode last issued for ``phone`` (what the Telegram app would show)."""
    from sluice.emulator.mtproto import RpcError, normal_phone

    mt = _mtproto(sim)
    raw = p.text("phone", empty_error="phone is required") or ""
    try:
        phone = normal_phone(raw)
    except RpcError:
        raise bad_request("phone must be 5 to 15 digits, optionally after a +") from None
    code = mt.codes.get(phone)
    if code is None:
        raise bad_request(f"no login code was sent to +{phone}: call auth.sendCode first")
    return {"phone": phone, "code": code.code}


@sim_post("mtproto/slow_mode")
async def slow_mode(sim: Simulator, p: Params, files: Mapping[str, UploadFile]) -> Any:
    """A supergroup's slow mode: ``seconds`` between a member's messages (0: off)."""
    from sluice.emulator.mtproto import set_slow_mode

    mt = _mtproto(sim)
    chat = sim.emu.world.resolve_chat(p.chat_id())
    seconds = p.integer("seconds", empty_error="seconds is required")
    if not isinstance(chat, Chat) or seconds is None:
        raise bad_request("slow mode is a supergroup's setting")
    try:
        set_slow_mode(mt, chat, seconds)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return {"chat_id": chat.id, "seconds": seconds}
