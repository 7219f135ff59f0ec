"""User accounts signing in by phone: auth.sendCode, auth.resendCode, auth.signIn.

Codes are never sent anywhere: ``POST /_sim/mtproto/code`` reveals the last one
issued for a phone (test data, like a bot token). Sign-up, two-step passwords and
QR logins are not emulated: a phone no user has is ``PHONE_NUMBER_UNOCCUPIED``.
Users live on DC 1, as bots do; DC 2 answers ``PHONE_MIGRATE_1``.
"""

from __future__ import annotations

import secrets
from typing import Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator.mtproto._convert import user_tl
from sluice.emulator.mtproto._m_upload import BOOL_TRUE
from sluice.emulator.mtproto._rpc import Call, RpcError, rpc
from sluice.emulator.mtproto._state import LoginCode
from sluice.emulator.mtproto._updates import listen

__all__ = ["CODE_ATTEMPTS", "CODE_LENGTH", "CODE_TTL", "normal_phone"]

CODE_LENGTH = 5
CODE_TTL = 300.0  # seconds (emulator clock) a code may be used
CODE_ATTEMPTS = 5  # wrong codes before the code expires


def normal_phone(phone: str) -> str:
    """The digits of a phone number, or ``PHONE_NUMBER_INVALID``."""
    digits = phone.strip().removeprefix("+").replace(" ", "").replace("-", "")
    if not (digits.isdigit() and 5 <= len(digits) <= 15):
        raise RpcError(400, "PHONE_NUMBER_INVALID")
    return digits


def _on_dc1(call: Call) -> None:
    if call.dc != 1:
        raise RpcError(303, "PHONE_MIGRATE_1")


def _sent(code: LoginCode) -> Any:
    return types.auth.SentCode(
        type=types.auth.SentCodeTypeApp(length=CODE_LENGTH),
        phone_code_hash=code.phone_code_hash,
        timeout=int(CODE_TTL),
    )


@rpc(functions.auth.SendCodeRequest, auth=False, faults=False)
async def send_code(call: Call, request: Any) -> Any:
    call.mt.check_app(request.api_id, request.api_hash)
    phone = normal_phone(request.phone_number)
    _on_dc1(call)
    code = LoginCode(
        code=f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}",
        phone_code_hash=secrets.token_hex(8),
        issued=call.emu.clock(),
    )
    call.mt.codes[phone] = code
    return _sent(code)


def _current(call: Call, phone: str, phone_code_hash: str) -> LoginCode:
    code = call.mt.codes.get(phone)
    if code is None or not secrets.compare_digest(code.phone_code_hash, phone_code_hash):
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    if call.emu.clock() - code.issued > CODE_TTL:
        del call.mt.codes[phone]
        raise RpcError(400, "PHONE_CODE_EXPIRED")
    return code


@rpc(functions.auth.ResendCodeRequest, auth=False, faults=False)
async def resend_code(call: Call, request: Any) -> Any:
    phone = normal_phone(request.phone_number)
    _on_dc1(call)
    code = _current(call, phone, request.phone_code_hash)
    code.issued = call.emu.clock()
    return _sent(code)


@rpc(functions.auth.CancelCodeRequest, auth=False, faults=False)
async def cancel_code(call: Call, request: Any) -> Any:
    phone = normal_phone(request.phone_number)
    _current(call, phone, request.phone_code_hash)
    del call.mt.codes[phone]
    return BOOL_TRUE


@rpc(functions.auth.SignInRequest, auth=False, faults=False)
async def sign_in(call: Call, request: Any) -> Any:
    phone = normal_phone(request.phone_number)
    _on_dc1(call)
    if not request.phone_code:
        raise RpcError(400, "PHONE_CODE_EMPTY")
    code = _current(call, phone, request.phone_code_hash)
    if not secrets.compare_digest(code.code, request.phone_code):
        code.attempts += 1
        if code.attempts >= CODE_ATTEMPTS:
            del call.mt.codes[phone]
        raise RpcError(400, "PHONE_CODE_INVALID")
    del call.mt.codes[phone]
    user_id = call.emu.world.phones.get(phone)
    if user_id is None:
        raise RpcError(400, "PHONE_NUMBER_UNOCCUPIED")
    listen(call.emu)
    call.key.user_id = user_id
    call.mt.box(user_id)
    return types.auth.Authorization(user=user_tl(call.emu, user_id, user_id))


@rpc(functions.auth.SignUpRequest, auth=False, faults=False)
async def sign_up(call: Call, request: Any) -> Any:
    raise RpcError(400, "PHONE_NUMBER_UNOCCUPIED")  # sign-up is not emulated
