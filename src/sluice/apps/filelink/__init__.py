"""The file-to-link bot: any Telegram file up to 4 GB as a fast, seekable, signed
link, served by every bot of the pool. Run it with ``sluice run filelink``; see
docs/filelink.md."""

from __future__ import annotations

from sluice import _extras

try:  # the extra this module needs, named if it is missing
    import aiogram  # noqa: F401
    import sqlalchemy  # noqa: F401
    import starlette  # noqa: F401
    import telethon  # type: ignore[import-untyped]  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as error:
    raise _extras.missing_extra("the file-to-link bot", "filelink", error) from None

from sluice.apps.filelink._app import FilelinkApp, StorageReport, open_filelink, run_filelink
from sluice.apps.filelink._bot import FilelinkBot
from sluice.apps.filelink._botapi import BotApiSource
from sluice.apps.filelink._engine import MtprotoSource, StreamFailed, plan
from sluice.apps.filelink._http import create_http_app
from sluice.apps.filelink._intake import Intake, Media, media_of
from sluice.apps.filelink._links import LinkResolver, Links, LinkSigner
from sluice.apps.filelink._model import ByteSource, Link, LinkRefused, Resolver, StoredFile
from sluice.apps.filelink._records import Records
from sluice.apps.filelink._settings import FilelinkSettings, load_filelink_settings

__all__ = [
    "BotApiSource",
    "ByteSource",
    "FilelinkApp",
    "FilelinkBot",
    "FilelinkSettings",
    "Intake",
    "Link",
    "LinkRefused",
    "LinkResolver",
    "LinkSigner",
    "Links",
    "Media",
    "MtprotoSource",
    "Records",
    "Resolver",
    "StorageReport",
    "StoredFile",
    "StreamFailed",
    "create_http_app",
    "load_filelink_settings",
    "media_of",
    "open_filelink",
    "plan",
    "run_filelink",
]
