"""Downloads over MTProto: ``upload.getFile`` for documents and photos.

Telegram's rules (core.telegram.org/api/files), checked before anything is read:
``offset`` and ``limit`` divisible by 4 KiB (1 KiB with ``precise``), 1 MiB
divisible by ``limit`` (not with ``precise``), ``limit`` at most 1 MiB, and no
request crossing a 1 MiB boundary; else ``OFFSET_INVALID`` / ``LIMIT_INVALID``.
An offset at or past the end answers empty bytes (how a client knows it is done).

Then the location: the document or photo id with the account-independent access
hash (``FILE_ID_INVALID``), the file reference a message carried
(``FILE_REFERENCE_EMPTY``, ``FILE_REFERENCE_EXPIRED`` once older than
``MtprotoConfig.file_reference_ttl`` by the emulator's clock), the DC that holds the
file (``FILE_MIGRATE_X``), and the account's download model (latency, bandwidth,
``FLOOD_WAIT_X``: see ``_download_model``). Bytes are read off the event loop: a
stored file with one seek and read per request, a synthetic one generated.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telethon.tl import functions, types  # type: ignore[import-untyped]

from sluice.emulator._synthetic import synthetic_bytes
from sluice.emulator.mtproto._connection import DropMtprotoConnection
from sluice.emulator.mtproto._convert import document_hash, read_file_reference
from sluice.emulator.mtproto._download_model import downloads
from sluice.emulator.mtproto._rpc import Call, RpcError, flood_wait, rpc

if TYPE_CHECKING:
    from sluice.emulator._core import Emulator
    from sluice.emulator._files import FileRecord
    from sluice.emulator.mtproto._state import MtprotoWorld

__all__ = ["check_range", "drop_connections", "read_bytes"]

KIB = 1024
MIB = 1024 * 1024
_INLINE_READ = 64 * KIB  # below this a synthetic part is generated on the loop

_FILE_TYPES = {
    "image/jpeg": types.storage.FileJpeg,
    "image/gif": types.storage.FileGif,
    "image/png": types.storage.FilePng,
    "image/webp": types.storage.FileWebp,
    "application/pdf": types.storage.FilePdf,
    "audio/mpeg": types.storage.FileMp3,
    "video/quicktime": types.storage.FileMov,
    "video/mp4": types.storage.FileMp4,
}


def check_range(offset: int, limit: int, *, precise: bool) -> None:
    """Telegram's rules on ``offset`` and ``limit`` (``OFFSET_INVALID``, ``LIMIT_INVALID``)."""
    unit = KIB if precise else 4 * KIB
    if offset < 0 or offset % unit:
        raise RpcError(400, "OFFSET_INVALID")
    if not 0 < limit <= MIB or limit % unit or (not precise and MIB % limit):
        raise RpcError(400, "LIMIT_INVALID")
    if offset // MIB != (offset + limit - 1) // MIB:
        raise RpcError(400, "LIMIT_INVALID")


def _located(call: Call, location: Any) -> FileRecord:
    """The file a location names, if its id and access hash are right."""
    if isinstance(location, types.InputDocumentFileLocation):
        photo = False
    elif isinstance(location, types.InputPhotoFileLocation):
        photo = True
    else:
        raise RpcError(400, "LOCATION_INVALID")
    emu = call.emu
    record = emu.files.by_internal_id(location.id)
    if (
        record is None
        or (record.kind == "photo") != photo
        or location.access_hash != document_hash(emu, record)
    ):
        raise RpcError(400, "FILE_ID_INVALID")
    # A document has no thumbnails here; a photo has its one size, "y".
    if location.thumb_size != ("y" if photo else ""):
        raise RpcError(400, "LOCATION_INVALID")
    return record


def _check_reference(emu: Emulator, record: FileRecord, reference: bytes) -> None:
    if not reference:
        raise RpcError(400, "FILE_REFERENCE_EMPTY")
    read = read_file_reference(emu, reference)
    # A reference Telegram cannot read is answered as an expired one: fetch it again.
    if read is None or read[0] != record.internal_id:
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")
    if emu.clock() - read[1] > emu.config.mtproto.file_reference_ttl:
        raise RpcError(400, "FILE_REFERENCE_EXPIRED")


def _read_stored(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as source:
        source.seek(offset)
        return source.read(length)


async def read_bytes(record: FileRecord, offset: int, length: int) -> bytes:
    """``length`` bytes of a file at ``offset`` (fewer at its end), off the event loop."""
    length = max(0, min(length, record.size - offset))
    if length == 0:
        return b""
    if record.seed is not None:
        if length <= _INLINE_READ:
            return synthetic_bytes(record.seed, offset, length)
        return await asyncio.to_thread(synthetic_bytes, record.seed, offset, length)
    return await asyncio.to_thread(_read_stored, record.path, offset, length)


def drop_connections(mt: MtprotoWorld, account_id: int) -> int:
    """Close every MTProto connection signed in as ``account_id``; how many."""
    dropped = [c for c in mt.connections if c.user_id == account_id]
    for connection in dropped:
        connection.close()
    return len(dropped)


def _file_type(record: FileRecord) -> Any:
    if record.kind == "photo":
        return types.storage.FileJpeg()
    return _FILE_TYPES.get(record.mime_type or "", types.storage.FileUnknown)()


@rpc(functions.upload.GetFileRequest)
async def get_file(call: Call, request: Any) -> Any:
    offset, limit = request.offset, request.limit
    check_range(offset, limit, precise=bool(request.precise))
    record = _located(call, request.location)
    if record.dc != call.dc:
        raise RpcError(303, f"FILE_MIGRATE_{record.dc}")
    _check_reference(call.emu, record, request.location.file_reference)
    model = downloads(call.emu)
    account = model.account(call.account_id)
    if account.drop_after is not None:
        if account.drop_after <= 0:
            account.drop_after = None
            account.drops += drop_connections(call.mt, call.account_id)
            raise DropMtprotoConnection
        account.drop_after -= 1
    if account.flood_after is not None:
        if account.flood_after <= 0:
            account.flood_after = None
            account.flood_waits += 1
            raise flood_wait(account.flood_seconds)
        account.flood_after -= 1
    nbytes = max(0, min(limit, record.size - offset))
    delay = model.admit(call.account_id, nbytes)
    if delay > 0:
        # Cut short when the server stops: the request is answered, not abandoned.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(call.emu._stopping.wait(), delay)
    data = await read_bytes(record, offset, nbytes)
    return types.upload.File(type=_file_type(record), mtime=int(time.time()), bytes=data)
