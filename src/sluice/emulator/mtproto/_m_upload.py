"""Uploads by MTProto accounts: upload.saveFilePart and upload.saveBigFilePart, and
the InputFile / InputFileBig that messages.sendMedia turns into a stored file.

Parts are kept in memory until the file is sent; an account's unsent parts are
bounded by the emulator's upload limit, its unsent uploads by ``_MAX_PENDING``.
"""

from __future__ import annotations

import hashlib
import io
import struct
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator._errors import ApiError
from sluice.emulator._messages import store_upload
from sluice.emulator.mtproto._rpc import Call, RpcError, rpc
from sluice.emulator.mtproto._state import Upload

if TYPE_CHECKING:
    from sluice.emulator._files import FileRecord

__all__ = ["BOOL_TRUE", "uploaded_file"]

_PART_MAX = 512 * 1024  # bytes in one part, as Telegram allows
_PARTS_MAX = 4000  # parts of one file
_SMALL_MAX = 10 * 1024 * 1024  # past this a file must use saveBigFilePart
_MAX_PENDING = 16  # unsent uploads an account may have open
BOOL_TRUE = struct.pack("<I", 0x997275B5)  # boolTrue: Telethon's TL classes have no Bool


def _upload(call: Call, file_id: int, part: int, data: bytes) -> Upload:
    if not 0 <= part < _PARTS_MAX:
        raise RpcError(400, "FILE_PART_INVALID")
    if len(data) > _PART_MAX:
        raise RpcError(400, "FILE_PART_TOO_BIG")
    if not data:
        raise RpcError(400, "FILE_PART_EMPTY")
    uploads = call.mt.uploads
    account = call.account_id
    key = (account, file_id)
    upload = uploads.get(key)
    if upload is None:
        pending = [k for k in uploads if k[0] == account]
        if len(pending) >= _MAX_PENDING:
            del uploads[pending[0]]  # the oldest unsent upload is abandoned
        upload = uploads[key] = Upload()
    growth = len(data) - len(upload.parts.get(part, b""))
    held = sum(u.size for k, u in uploads.items() if k[0] == account)
    if held + growth > call.emu.config.max_upload:
        raise RpcError(400, "FILE_PARTS_INVALID")
    upload.size += growth
    upload.parts[part] = data
    return upload


@rpc(functions.upload.SaveFilePartRequest)
async def save_file_part(call: Call, request: Any) -> Any:
    upload = _upload(call, request.file_id, request.file_part, request.bytes)
    if upload.size > _SMALL_MAX:
        raise RpcError(400, "FILE_PART_SIZE_INVALID")
    return BOOL_TRUE


@rpc(functions.upload.SaveBigFilePartRequest)
async def save_big_file_part(call: Call, request: Any) -> Any:
    total = request.file_total_parts
    if not 1 <= total <= _PARTS_MAX:
        raise RpcError(400, "FILE_PARTS_INVALID")
    if request.file_part >= total:
        raise RpcError(400, "FILE_PART_INVALID")
    known = call.mt.uploads.get((call.account_id, request.file_id))
    if known is not None and known.total_parts not in (None, total):
        raise RpcError(400, "FILE_PARTS_INVALID")
    upload = _upload(call, request.file_id, request.file_part, request.bytes)
    upload.total_parts = total
    return BOOL_TRUE


async def uploaded_file(
    call: Call,
    input_file: Any,
    kind: str,
    *,
    mime_type: str | None,
    file_name: str | None,
    duration: int,
) -> FileRecord:
    """Store the file an InputFile / InputFileBig names: every part there, then gone."""
    key = (call.account_id, input_file.id)
    upload = call.mt.uploads.get(key)
    parts = input_file.parts
    if upload is None or not 1 <= parts <= _PARTS_MAX:
        raise RpcError(400, "FILE_PARTS_INVALID")
    big = isinstance(input_file, types.InputFileBig)
    if big and upload.total_parts != parts:
        raise RpcError(400, "FILE_PARTS_INVALID")
    for index in range(parts):
        if index not in upload.parts:
            raise RpcError(400, f"FILE_PART_{index}_MISSING")
    data = b"".join(upload.parts[index] for index in range(parts))
    checksum = getattr(input_file, "md5_checksum", "")
    if checksum and hashlib.md5(data, usedforsecurity=False).hexdigest() != checksum.lower():
        raise RpcError(400, "MD5_CHECKSUM_INVALID")
    del call.mt.uploads[key]
    try:
        return await store_upload(
            call.emu,
            io.BytesIO(data),
            kind,
            mime_type=mime_type,
            file_name=file_name or input_file.name or None,
            duration=duration,
        )
    except ApiError:
        error = "PHOTO_SAVE_FILE_INVALID" if kind == "photo" else "FILE_PARTS_INVALID"
        raise RpcError(400, error) from None
