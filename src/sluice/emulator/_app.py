"""The emulator's HTTP face: a small ASGI router over :class:`Emulator`.

Routing is written here rather than with Starlette's ``Router`` because the
emulator must control every byte it answers: Telegram-shaped JSON for every
error (never an HTML 500 page), a 413 while an oversized body is still
streaming in, and a connection dropped after the headers for fault injection.
Starlette's ``Request`` and responses still do the parsing and writing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    RangeNotSatisfiable,
    Response,
    StreamingResponse,
)

from sluice.emulator._core import DropConnection, Emulator
from sluice.emulator._errors import ApiError, bad_request
from sluice.emulator._files import FileRecord
from sluice.emulator._messages import USER_MAX_UPLOAD
from sluice.emulator._params import Params
from sluice.emulator._sim import Simulator
from sluice.emulator._stt_dialects import endpoint_for
from sluice.emulator._stt_handlers import CountedBody, TooLarge
from sluice.emulator._synthetic import iter_synthetic

__all__ = ["MAX_PLAIN_BODY", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("sluice.emulator")

_BOT_ROUTE = re.compile(r"^/bot([^/]*)/([^/]*)/?$")
_FILE_ROUTE = re.compile(r"^/file/bot([^/]*)/(.+)$")
_SIM_MESSAGES = re.compile(r"^/_sim/chats/(-?\d+)/messages/?$")
_SIM_FILE = re.compile(r"^/_sim/files/([A-Za-z0-9_-]+)/?$")
# Room for multipart framing and the other fields around the largest file.
_FORM_OVERHEAD = 1024 * 1024
# A body without files (JSON, a url-encoded form), and a multipart field that is not a
# file, is at most this: checked while it streams in, before it is decoded. Room for a
# text far past any limit (a 2 MB text is answered "message is too long", as Telegram
# does), small enough to decode in tens of milliseconds.
MAX_PLAIN_BODY = 4 * 1024 * 1024
_MAX_FIELDS = 1000
_DECODE_ON_LOOP = 64 * 1024


class _DropFilter(logging.Filter):
    """Silence uvicorn's complaint about the responses we drop on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_DropFilter())


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
    )


def _error(exc: ApiError) -> Response:
    return _json(exc.to_json(), exc.error_code)


def _declared_length(request: Request) -> int | None:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


async def _read(
    request: Request, body: CountedBody, plain_limit: int = MAX_PLAIN_BODY
) -> tuple[dict[str, Any], dict[str, UploadFile], FormData | None]:
    values: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadFile] = {}
    if request.method != "POST":
        return values, files, None
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        body.limit = min(body.limit, plain_limit)
        if (_declared_length(request) or 0) > body.limit:
            raise TooLarge
    if ctype.startswith("application/json"):
        raw = await request.body()
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):  # RecursionError: nested too deep
                raise bad_request("can't parse JSON object") from None
            if not isinstance(data, dict):
                raise bad_request("JSON object expected")
            values.update(data)
        return values, files, None
    if ctype.startswith("application/x-www-form-urlencoded"):
        values.update(await _url_encoded(await request.body()))
        return values, files, None
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form(
                max_files=100, max_fields=_MAX_FIELDS, max_part_size=MAX_PLAIN_BODY
            )
        except MultiPartException as exc:
            raise bad_request(f"can't parse multipart form: {exc.message}") from None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files[key] = value
            else:
                values[key] = value
        return values, files, form
    return values, files, None


async def _url_encoded(raw: bytes) -> list[tuple[str, str]]:
    """A url-encoded form's fields, decoded as Starlette decodes them."""
    # Counted first: a body of nothing but "&" would otherwise be a million empty fields.
    if raw.count(b"&") >= _MAX_FIELDS:
        raise bad_request(f"can't parse form: more than {_MAX_FIELDS} fields")
    text = raw.decode("latin-1")
    if len(raw) <= _DECODE_ON_LOOP:
        return parse_qsl(text, keep_blank_values=True)
    # Percent-decoding is Python code: a large body is decoded off the event loop.
    return await asyncio.to_thread(parse_qsl, text, keep_blank_values=True)


def _path(scope: Scope) -> str:
    # Bot API paths carry the token: only what precedes its secret half is logged.
    return str(scope.get("path", "?")).split(":")[0]


def _check_range(byte_range: str, size: int) -> None:
    """Refuse a bad Range header Telegram-shaped; FileResponse would answer it in plain text."""
    try:
        FileResponse._parse_range_header(byte_range, size)
    except MalformedRangeHeader:
        raise bad_request("wrong Range header") from None
    except RangeNotSatisfiable:
        raise ApiError(416, "Requested Range Not Satisfiable") from None


def _stored(record: FileRecord) -> bool:
    """The file's bytes exist: on disk, or generated (a synthetic file)."""
    return record.seed is not None or record.path.is_file()


def _synthetic_response(record: FileRecord, media_type: str) -> Response:
    """A synthetic file's bytes, generated as they stream (a Range header is ignored:
    the whole file is answered, as HTTP allows)."""
    assert record.seed is not None
    chunks = iter_synthetic(record.seed, record.size)
    headers = {"content-length": str(record.size)}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


def _with_downloads(emu: Emulator, stats: dict[str, Any]) -> dict[str, Any]:
    """``/_sim/stats`` with the MTProto accounts' downloads and calls, once there are any."""
    if emu.mtproto is None:
        return stats
    from sluice.emulator.mtproto import downloads

    accounts = downloads(emu).to_json()
    calls = emu.mtproto.calls_json()
    if not (accounts or calls):
        return stats
    return stats | {"mtproto": {"downloads": accounts, "calls": calls}}


def create_app(emu: Emulator) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI application serving ``emu`` over the Bot API and ``/_sim``."""
    sim = Simulator(emu)
    body_limit = emu.config.max_upload + _FORM_OVERHEAD
    # A simulated user sends what a Telegram user may (2 GB) as a multipart upload,
    # streamed to disk; base64 in JSON is parsed in memory, so it keeps the bot's cap
    # (a third more for the encoding).
    sim_body_limit = max(body_limit, USER_MAX_UPLOAD + _FORM_OVERHEAD)
    sim_plain_limit = body_limit * 4 // 3 + _FORM_OVERHEAD

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await _serve(scope, receive, tracked)
        except asyncio.CancelledError:
            if not emu.stopping:
                raise
            # The server stopped while this request was still streaming in (its grace
            # period is over): it is told so, and that is no error worth a traceback.
            log.debug("stopped while answering %s", _path(scope))
            if not started and scope["type"] == "http":
                await _error(ApiError(503, "Service Unavailable: the emulator is stopping"))(
                    scope, receive, send
                )

    async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        # The speech-to-text providers have their own upload caps and error shapes.
        if (provider := endpoint_for(scope["path"])) is not None:
            await emu.stt.serve(provider, scope, receive, send)
            return
        limit = sim_body_limit if scope["path"].startswith("/_sim/") else body_limit
        body = CountedBody(receive, limit)
        request = Request(scope, body)
        form: FormData | None = None
        try:
            if (_declared_length(request) or 0) > limit:
                raise TooLarge
            response, form = await _route(request, body)
        except ClientDisconnect:
            # The client went away mid-body: nobody to answer, and nothing went wrong here.
            log.debug("client left before sending all of %s", _path(scope))
            return
        except TooLarge:
            response = _json(
                {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}, 413
            )
        except ApiError as exc:
            response = _error(exc)
        except DropConnection:
            # Headers go out, then the connection closes: the client sees a broken answer.
            await send({"type": "http.response.start", "status": 200, "headers": []})
            return
        except Exception:
            log.exception("emulator bug while answering %s", _path(scope))
            response = _json(
                {"ok": False, "error_code": 500, "description": "Internal Server Error"}, 500
            )
        finally:
            if form is not None:
                await form.close()
        await response(scope, receive, send)

    async def _route(request: Request, body: CountedBody) -> tuple[Response, FormData | None]:
        path = request.url.path
        if match := _BOT_ROUTE.match(path):
            token, method_name = match.groups()
            values, files, form = await _read(request, body)
            try:
                result = await emu.call(token, method_name, Params(values, files))
            finally:
                if form is not None:
                    await form.close()
            return _json({"ok": True, "result": result}), None
        if match := _FILE_ROUTE.match(path):
            token, file_path = match.groups()
            return _download(token, file_path, request.headers.get("range")), None
        if path.startswith("/_sim/"):
            return await _sim_route(request, body, path)
        if path in ("", "/"):
            return _json({"ok": True, "result": "sluice Telegram Bot API emulator"}), None
        raise ApiError(404, "Not Found")

    def _download(token: str, file_path: str, byte_range: str | None) -> Response:
        bot = emu.world.bot_for_token(token)
        record = emu.files.by_file_path(file_path) or emu.files.by_file_path("/" + file_path)
        # A file_path is the bot's own, as on Telegram: another bot's file is not found.
        if record is None or bot.id not in record.bots or not _stored(record):
            raise ApiError(404, "Not Found")
        if not emu.config.local and record.size > emu.config.max_download_cloud:
            raise bad_request("file is too big")
        if byte_range is not None:
            _check_range(byte_range, record.size)
        emu.bot_stats(bot.id).calls["download"] += 1
        media_type = record.mime_type or "application/octet-stream"
        if record.seed is not None:
            return _synthetic_response(record, media_type)
        return FileResponse(record.path, media_type=media_type)

    async def _sim_route(
        request: Request, body: CountedBody, path: str
    ) -> tuple[Response, FormData | None]:
        method = request.method
        if method == "GET":
            if match := _SIM_MESSAGES.match(path):
                bot_id = request.query_params.get("bot_id")
                if bot_id is not None and not bot_id.lstrip("-").isdigit():
                    raise bad_request("bot_id must be an integer")
                found = sim.messages(int(match.group(1)), int(bot_id) if bot_id else None)
                return _json(found), None
            if match := _SIM_FILE.match(path):
                record = emu.files.by_unique_id(match.group(1))
                if record is None:
                    raise ApiError(404, "Not Found")
                if record.seed is not None:
                    return _synthetic_response(record, "application/octet-stream"), None
                return FileResponse(record.path, media_type="application/octet-stream"), None
            if path == "/_sim/stats":
                return _json(_with_downloads(emu, sim.stats())), None
            if path == "/_sim/config":
                return _json(sim.config()), None
            if path.rstrip("/") == "/_sim/mtproto":
                return _json(sim.mtproto()), None
            if path.rstrip("/") == "/_sim/stt/stats":
                return _json(emu.stt.stats_json()), None
            raise ApiError(404, "Not Found")
        if method != "POST":
            raise ApiError(405, "Method Not Allowed")
        # A simulated user's file may come base64-encoded in a JSON body.
        values, files, form = await _read(request, body, plain_limit=sim_plain_limit)
        try:
            name = path.removeprefix("/_sim/").rstrip("/")
            result = await _sim_post(name, values, files)
        finally:
            # Closed whatever the answer: an upload's spooled file must not outlive it.
            if form is not None:
                await form.close()
        return _json(result), None

    async def _sim_post(name: str, values: dict[str, Any], files: dict[str, UploadFile]) -> Any:
        p = Params(values, files)
        if name == "users":
            result: Any = sim.add_user(p)
        elif name == "users/batch":
            result = sim.add_users(p)
        elif name == "chats/messages":
            result = sim.messages_of(p)
        elif name == "chats":
            result = sim.add_chat(p)
        elif name == "start":
            result = sim.start(p)
        elif name == "block":
            result = sim.block(p)
        elif name == "send":
            upload = files.get("file")
            result = await sim.send(p, upload.file if upload is not None else None)
        elif name == "callback":
            result = sim.callback(p)
        elif name == "faults":
            result = sim.set_faults(p)
        elif name == "reset":
            await emu.reset()
            result = {"ok": True}
        elif name == "stt/faults":
            result = emu.stt.set_faults(values)
        elif name == "stt/reset":
            emu.stt.reset()
            result = {"ok": True}
        else:
            result = await sim.post(name, p, files)
        return result

    return app
