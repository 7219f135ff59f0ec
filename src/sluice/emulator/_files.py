"""Files the emulator holds: on disk, never whole in memory.

A file is stored once; each bot sees it under its own ``file_id`` (Telegram's
file_ids are valid only for the bot that received them), while
``file_unique_id`` is the same for every bot. Uploading the same bytes twice
gives two files with different ``file_unique_id`` values, as on Telegram.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["FileRecord", "FileStore"]

_EXTENSIONS = {
    "voice": "oga",
    "audio": "mp3",
    "video": "mp4",
    "video_note": "mp4",
    "photo": "jpg",
    "document": "bin",
    "animation": "mp4",
    "sticker": "webp",
}
# A sticker's file is named after its format: static .webp, animated .tgs, video .webm.
_STICKER_EXTENSIONS = {"application/x-tgsticker": "tgs", "video/webm": "webm"}
_DIRS = {
    "voice": "voice",
    "audio": "music",
    "video": "videos",
    "video_note": "video_notes",
    "photo": "photos",
    "document": "documents",
    "animation": "animations",
    "sticker": "stickers",
}
_SIZES = {
    "photo": (800, 600),
    "video": (1280, 720),
    "video_note": (384, 384),
    "animation": (320, 240),
    "sticker": (512, 512),
}
_SYNTHETIC_SIZES = {"video": (1280, 720), "video_note": (384, 384), "animation": (320, 240)}


@dataclass(slots=True)
class FileRecord:
    internal_id: int
    unique_id: str
    kind: str
    path: Path
    size: int
    file_path: str
    mime_type: str | None = None
    file_name: str | None = None
    duration: int = 0
    width: int = 0
    height: int = 0
    emoji: str | None = None  # a sticker's
    # The bots issued a file_id for this file: only they may download it by file_path.
    bots: set[int] = field(default_factory=set)
    # The MTProto data centre that holds it (downloads from the other answer FILE_MIGRATE_X).
    dc: int = 1
    # A synthetic file has no bytes on disk: they are generated from this seed.
    seed: int | None = None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FileStore:
    """Stores uploaded files under a directory and maps ids to them."""

    def __init__(self, directory: Path, secret: bytes, local: bool) -> None:
        self.directory = directory
        self.local = local
        self._secret = secret
        self._records: dict[int, FileRecord] = {}
        self._by_unique: dict[str, FileRecord] = {}
        self._by_file_path: dict[str, FileRecord] = {}
        self._next_id = 1

    @classmethod
    def temporary(cls, secret: bytes, local: bool, parent: str | None = None) -> FileStore:
        if parent is not None:
            os.makedirs(parent, exist_ok=True)
        return cls(Path(tempfile.mkdtemp(prefix="sluice-emulator-", dir=parent)), secret, local)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
        self._records.clear()
        self._by_unique.clear()
        self._by_file_path.clear()

    def add(
        self,
        source: IO[bytes],
        kind: str,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        duration: int = 0,
        max_size: int | None = None,
    ) -> FileRecord:
        """Copy ``source`` into the store in chunks; raises ValueError past ``max_size``."""
        internal_id = self._next_id
        self._next_id += 1
        subdir = self.directory / _DIRS[kind]
        subdir.mkdir(exist_ok=True)
        extension = _EXTENSIONS[kind]
        if kind == "sticker":
            extension = _STICKER_EXTENSIONS.get(mime_type or "", extension)
        name = f"file_{internal_id}.{extension}"
        path = subdir / name
        size = 0
        with path.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                size += len(chunk)
                if max_size is not None and size > max_size:
                    out.close()
                    path.unlink(missing_ok=True)
                    raise ValueError("file is too big")
                out.write(chunk)
        return self._register(
            internal_id,
            kind,
            path,
            size,
            _SIZES.get(kind, (0, 0)),
            mime_type=mime_type,
            file_name=file_name,
            duration=duration,
        )

    def file_id(self, record: FileRecord, bot_id: int) -> str:
        """``record``'s file_id for ``bot_id``, which may then also download the file."""
        record.bots.add(bot_id)
        body = f"{bot_id}.{record.internal_id}"
        tag = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()[:8]
        return "BQAC" + _b64(body.encode() + b"." + tag)

    def resolve(self, file_id: str, bot_id: int) -> FileRecord | None:
        """The file behind ``file_id`` if it was issued to ``bot_id``."""
        if not file_id.startswith("BQAC"):
            return None
        try:
            raw = base64.urlsafe_b64decode(file_id[4:] + "=" * (-len(file_id[4:]) % 4))
            # The decoder skips foreign characters and ignores the last character's spare
            # bits: only the canonical spelling of an issued file_id is that file_id.
            if _b64(raw) != file_id[4:]:
                return None
            # The tag is 8 raw bytes and may itself contain b".": split by length.
            body, dot, tag = raw[:-9], raw[-9:-8], raw[-8:]
            owner, _, internal = body.decode().partition(".")
        except (ValueError, UnicodeDecodeError):
            return None
        if dot != b".":
            return None
        expected = hmac.new(self._secret, body, hashlib.sha256).digest()[:8]
        if not hmac.compare_digest(tag, expected) or owner != str(bot_id):
            return None
        return self._records.get(int(internal)) if internal.isdigit() else None

    def add_synthetic(
        self,
        kind: str,
        size: int,
        seed: int,
        *,
        mime_type: str | None = None,
        file_name: str | None = None,
        duration: int = 0,
        dc: int = 1,
    ) -> FileRecord:
        """A file whose bytes are generated from ``seed`` (``sluice.emulator.synthetic_bytes``):
        nothing is written; its ``path`` names no file on disk."""
        internal_id = self._next_id
        self._next_id += 1
        extension = _EXTENSIONS[kind]
        name = f"synthetic_{internal_id}.{extension}"
        path = self.directory / "synthetic" / name
        record = self._register(
            internal_id,
            kind,
            path,
            size,
            _SYNTHETIC_SIZES.get(kind, (0, 0)),
            mime_type=mime_type,
            file_name=file_name,
            duration=duration,
        )
        record.dc, record.seed = dc, seed
        return record

    def _register(
        self,
        internal_id: int,
        kind: str,
        path: Path,
        size: int,
        dimensions: tuple[int, int],
        *,
        mime_type: str | None,
        file_name: str | None,
        duration: int,
    ) -> FileRecord:
        """Give a stored file its ids and index it."""
        digest = hmac.new(self._secret, f"u{internal_id}".encode(), hashlib.sha256).digest()
        unique_id = "AgAD" + _b64(digest[:9])
        file_path = str(path) if self.local else f"{_DIRS[kind]}/{path.name}"
        record = FileRecord(
            internal_id=internal_id,
            unique_id=unique_id,
            kind=kind,
            path=path,
            size=size,
            file_path=file_path,
            mime_type=mime_type,
            file_name=file_name,
            duration=duration,
            width=dimensions[0],
            height=dimensions[1],
        )
        self._records[internal_id] = record
        self._by_unique[unique_id] = record
        self._by_file_path[file_path] = record
        return record

    def by_internal_id(self, internal_id: int) -> FileRecord | None:
        """The file MTProto names by its document or photo id."""
        return self._records.get(internal_id)

    def by_unique_id(self, unique_id: str) -> FileRecord | None:
        return self._by_unique.get(unique_id)

    def by_file_path(self, file_path: str) -> FileRecord | None:
        return self._by_file_path.get(file_path)
