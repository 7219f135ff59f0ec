"""Connecting and signing in: help.getConfig, bots' sign-in, authorization
carried to the other DC, users.getUsers and the updates state."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator._config import TOKEN_RE
from sluice.emulator._errors import ApiError
from sluice.emulator._world import Chat
from sluice.emulator.mtproto._convert import is_member, resolve_input_peer, user_tl
from sluice.emulator.mtproto._rpc import Call, RpcError, flood_wait, rpc
from sluice.emulator.mtproto._updates import (
    account_difference,
    channel_difference,
    is_channel,
    listen,
)

__all__: list[str] = []


def _now() -> dt.datetime:
    return dt.datetime.now(tz=dt.UTC)


@rpc(functions.help.GetConfigRequest, auth=False, faults=False)
async def get_config(call: Call, request: Any) -> Any:
    now = int(time.time())
    return types.Config(
        date=dt.datetime.fromtimestamp(now, tz=dt.UTC),
        expires=dt.datetime.fromtimestamp(now + 3600, tz=dt.UTC),
        test_mode=False,
        this_dc=call.dc,
        dc_options=[
            types.DcOption(id=dc.id, ip_address=dc.host, port=dc.port)
            for dc in call.mt.dcs.values()
        ],
        dc_txt_domain_name="",
        chat_size_max=200,
        megagroup_size_max=200_000,
        forwarded_count_max=100,
        online_update_period_ms=210_000,
        offline_blur_timeout_ms=5_000,
        offline_idle_timeout_ms=30_000,
        online_cloud_timeout_ms=300_000,
        notify_cloud_delay_ms=30_000,
        notify_default_delay_ms=1_500,
        push_chat_period_ms=60_000,
        push_chat_limit=2,
        edit_time_limit=172_800,
        revoke_time_limit=2_147_483_647,
        revoke_pm_time_limit=2_147_483_647,
        rating_e_decay=2_419_200,
        stickers_recent_limit=200,
        channels_read_media_period=604_800,
        call_receive_timeout_ms=20_000,
        call_ring_timeout_ms=90_000,
        call_connect_timeout_ms=30_000,
        call_packet_timeout_ms=10_000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=1,
    )


@rpc(functions.help.GetNearestDcRequest, auth=False, faults=False)
async def get_nearest_dc(call: Call, request: Any) -> Any:
    return types.NearestDc(country="ID", this_dc=call.dc, nearest_dc=call.dc)


def _signed_in(call: Call, user_id: int) -> Any:
    call.key.user_id = user_id
    return types.auth.Authorization(user=user_tl(call.emu, user_id, user_id))


@rpc(functions.auth.ImportBotAuthorizationRequest, auth=False, faults=False)
async def import_bot_authorization(call: Call, request: Any) -> Any:
    call.mt.check_app(request.api_id, request.api_hash)
    if TOKEN_RE.match(request.bot_auth_token) is None:
        raise RpcError(400, "ACCESS_TOKEN_INVALID")
    try:
        bot = call.emu.world.bot_for_token(request.bot_auth_token)
    except ApiError:
        raise RpcError(400, "ACCESS_TOKEN_INVALID") from None
    if call.dc != 1:  # every bot lives on DC 1
        raise RpcError(303, "USER_MIGRATE_1")
    wait = call.mt.bot_login(bot.id, call.emu.clock())
    if wait is not None:
        raise flood_wait(wait)
    return _signed_in(call, bot.id)


@rpc(functions.auth.ExportAuthorizationRequest, faults=False)
async def export_authorization(call: Call, request: Any) -> Any:
    if request.dc_id not in call.mt.dcs or request.dc_id == call.dc:
        raise RpcError(400, "DC_ID_INVALID")
    token = secrets.token_bytes(32)
    call.mt.exported[call.account_id] = (request.dc_id, token, int(time.time()) + 60)
    return types.auth.ExportedAuthorization(id=call.account_id, bytes=token)


@rpc(functions.auth.ImportAuthorizationRequest, auth=False, faults=False)
async def import_authorization(call: Call, request: Any) -> Any:
    exported = call.mt.exported.get(request.id)
    if (
        exported is None
        or exported[0] != call.dc
        or not secrets.compare_digest(exported[1], request.bytes)
        or exported[2] < time.time()
    ):
        raise RpcError(400, "AUTH_BYTES_INVALID")
    del call.mt.exported[request.id]
    return _signed_in(call, request.id)


@rpc(functions.auth.LogOutRequest, faults=False)
async def log_out(call: Call, request: Any) -> Any:
    call.key.user_id = None
    call.connection.wants_updates = False
    return types.auth.LoggedOut()


@rpc(functions.users.GetUsersRequest, faults=False)
async def get_users(call: Call, request: Any) -> Any:
    found = []
    for input_user in request.id:
        try:
            user = resolve_input_peer(call.emu, call.account_id, input_user)
        except RpcError:
            continue
        found.append(user_tl(call.emu, call.account_id, user.id))
    return found


@rpc(functions.updates.GetStateRequest, faults=False)
async def get_state(call: Call, request: Any) -> Any:
    listen(call.emu)
    box = call.mt.box(call.account_id)
    return types.updates.State(pts=box.pts, qts=0, date=_now(), seq=0, unread_count=0)


@rpc(functions.updates.GetDifferenceRequest, faults=False)
async def get_difference(call: Call, request: Any) -> Any:
    listen(call.emu)
    return account_difference(call.emu, call.mt, call.account_id, request.pts)


@rpc(functions.updates.GetChannelDifferenceRequest, faults=False)
async def get_channel_difference(call: Call, request: Any) -> Any:
    listen(call.emu)
    chat = resolve_input_peer(call.emu, call.account_id, request.channel)
    if not isinstance(chat, Chat) or not is_channel(chat):
        raise RpcError(400, "CHANNEL_INVALID")
    if not is_member(chat, call.account_id):
        raise RpcError(400, "CHANNEL_PRIVATE")
    return channel_difference(call.emu, call.mt, call.account_id, chat, request.pts, request.limit)
