"""One speech-to-text request, from the first body byte to the answer.

The order of checks: the upload cap (while the body streams in), the API key,
injected latency and faults, the request's fields, then decoding. Every error
is answered in the provider's own shape (:mod:`sluice.emulator._stt_dialects`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import shutil
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from sluice._ffmpeg import AudioAnalysis, MediaError
from sluice.emulator._stt_dialects import DIALECTS, DeepgramDialect, OpenAIDialect, SttError
from sluice.emulator._stt_faults import SttFault
from sluice.emulator._transcript import (
    deepgram_body,
    segments_for,
    srt,
    verbose_segments,
    vtt,
)

if TYPE_CHECKING:
    from sluice.emulator._stt import SttService

__all__ = ["CountedBody", "Handler", "TooLarge"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

_SPOOL_CHUNK = 1024 * 1024
_GRANULARITIES = frozenset({"word", "segment"})
_TRUE = frozenset({"true", "1"})
_DG_CORRUPT = "Bad Request: failed to process audio: corrupt or unsupported data"
_DG_FAULTS = {
    500: ("INTERNAL_SERVER_ERROR", "An internal server error occurred. Please try again."),
    502: ("BAD_GATEWAY", "Bad Gateway"),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again."),
}


class TooLarge(Exception):
    pass


class CountedBody:
    """Counts the body as it arrives and stops it the moment it passes ``limit``."""

    __slots__ = ("limit", "receive", "received")

    def __init__(self, receive: Receive, limit: int) -> None:
        self.receive = receive
        self.limit = limit
        self.received = 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise TooLarge
        return message


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status, headers, media_type="application/json")


def _plain(text: str, headers: dict[str, str]) -> Response:
    return Response(text, 200, headers, media_type="text/plain; charset=utf-8")


def _copy(source: IO[bytes], target: Path) -> None:
    source.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, _SPOOL_CHUNK)


def _suffix(filename: str | None) -> str:
    extension = Path(filename or "").suffix.lower()
    return extension if re.fullmatch(r"\.[a-z0-9]{1,8}", extension) else ""


class Handler:
    """Answers one request to one provider's transcription endpoint."""

    def __init__(self, service: SttService, name: str, request: Request, body: CountedBody):
        self.service = service
        self.name = name
        self.dialect = DIALECTS[name]
        self.provider = service.config.provider(name)
        self.stats = service.stats[name]
        self.request = request
        self.body = body
        self.model = ""
        if isinstance(self.dialect, OpenAIDialect):
            self.request_id = self.dialect.new_request_id()
            self.id_header = "x-request-id"
        else:
            self.request_id = str(uuid.uuid4())
            self.id_header = "dg-request-id"

    async def answer(self) -> Response:
        if self.request.method != "POST":
            raise self._error(405, "Method Not Allowed")
        length = self.request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.provider.max_upload:
            raise self.too_large(int(length))
        if isinstance(self.dialect, DeepgramDialect):
            return await self._deepgram(self.dialect)
        return await self._openai(self.dialect)

    def error_response(self, exc: SttError) -> Response:
        return _json(exc.body, exc.status, {**exc.headers, self.id_header: self.request_id})

    def _error(self, status: int, message: str) -> SttError:
        if isinstance(self.dialect, DeepgramDialect):
            return self.dialect.error(status, "Bad Request", message, self.request_id)
        return self.dialect.error(status, message, "invalid_request_error")

    def too_large(self, read: int) -> SttError:
        limit = self.provider.max_upload
        if isinstance(self.dialect, DeepgramDialect):
            return self.dialect.error(
                413,
                "PAYLOAD_TOO_LARGE",
                f"Payload Too Large: the request body exceeds the maximum of {limit} bytes.",
                self.request_id,
            )
        return self.dialect.too_large(limit, read)

    def server_error(self, status: int) -> SttError:
        if isinstance(self.dialect, DeepgramDialect):
            code, message = _DG_FAULTS[status]
            return self.dialect.error(status, code, message, self.request_id)
        return self.dialect.server_error(status)

    def _key(self, scheme: str) -> str | None:
        """The key after ``scheme`` in Authorization, ``""`` if blank, None if absent."""
        header = self.request.headers.get("authorization")
        if header is None:
            return None
        given, _, key = header.strip().partition(" ")
        if given.lower() not in (scheme.lower(), "bearer"):
            return ""
        return key.strip()

    def _authorised(self, key: str | None) -> bool:
        allowed = self.provider.api_keys
        return bool(key) and (allowed is None or key in allowed)

    async def _faults(self) -> None:
        injector = self.service.faults[self.name]
        delay = injector.latency()
        if delay:
            await asyncio.sleep(delay)
        fault = injector.draw()
        if fault is not None:
            raise self._fault(fault)

    def _fault(self, fault: SttFault) -> SttError:
        if fault.status == 413:
            return self.too_large(self.body.received)
        if fault.status != 429:
            return self.server_error(fault.status)
        if isinstance(self.dialect, DeepgramDialect):
            error = self.dialect.error(
                429,
                "TOO_MANY_REQUESTS",
                "Too many requests. Please try again later",
                self.request_id,
            )
            error.headers["retry-after"] = str(fault.retry_after)
            return error
        return self.dialect.rate_limited(self.model, fault.retry_after)

    async def _analyse(self, path: Path, undecodable: SttError) -> AudioAnalysis:
        try:
            analysis = await self.service.analyse(path)
        except MediaError:
            raise undecodable from None
        self.stats.audio_seconds += analysis.duration
        return analysis

    # OpenAI, Groq, Together and the generic endpoint

    async def _openai(self, dialect: OpenAIDialect) -> Response:
        ctype = self.request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise dialect.invalid(
                f"Invalid Content-Type header ({ctype or 'none'}), expected multipart/form-data. "
                "(HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')"
            )
        try:
            form = await self.request.form(max_files=8, max_fields=100)
        except TooLarge:
            raise self.too_large(self.body.received) from None
        except MultiPartException as exc:
            raise dialect.invalid(f"could not parse the multipart form: {exc.message}") from None
        try:
            return await self._transcribe(dialect, form)
        finally:
            await form.close()

    async def _transcribe(self, dialect: OpenAIDialect, form: FormData) -> Response:
        if not self._authorised(key := self._key("Bearer")):
            raise dialect.unauthorized(key)
        self.model = model = _field(form, "model")
        await self._faults()
        if not model:
            raise dialect.invalid("you must provide a model parameter")
        if dialect.models is not None and model not in dialect.models:
            raise dialect.unknown_model(model)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise dialect.invalid(
                "Missing required parameter: 'file'.", "file", "missing_required_parameter"
            )
        suffix = _suffix(upload.filename)
        if dialect.extensions is not None and suffix[1:] not in dialect.extensions:
            raise dialect.bad_extension()
        fmt = _field(form, "response_format") or "json"
        if fmt not in dialect.formats(model):
            raise dialect.unsupported_format(fmt, model)
        temperature = _temperature(dialect, _field(form, "temperature"))
        granularities = {
            str(v) for key in ("timestamp_granularities[]", "timestamp_granularities")
            for v in form.getlist(key)
        }  # fmt: skip
        if granularities - _GRANULARITIES:
            raise dialect.invalid(
                f"Invalid value: '{sorted(granularities - _GRANULARITIES)[0]}'. Supported values "
                "are: 'word' and 'segment'.",
                "timestamp_granularities",
                "invalid_value",
            )
        language = _field(form, "language") or "en"
        with self.service.spool(suffix) as path:
            await asyncio.to_thread(_copy, upload.file, path)
            analysis = await self._analyse(path, dialect.undecodable())
        self.stats.models[model] += 1
        return self._openai_answer(dialect, analysis, model, fmt, language, temperature,
                                   granularities)  # fmt: skip

    def _openai_answer(
        self,
        dialect: OpenAIDialect,
        analysis: AudioAnalysis,
        model: str,
        fmt: str,
        language: str,
        temperature: float,
        granularities: set[str],
    ) -> Response:
        segments = segments_for(analysis.spans)
        text = " ".join(s.word for s in segments)
        headers = {self.id_header: self.request_id}
        if fmt == "text":
            return _plain(text + "\n", headers)
        if fmt == "srt":
            return _plain(srt(segments), headers)
        if fmt == "vtt":
            return _plain(vtt(segments), headers)
        body: dict[str, Any] = {"text": text}
        if fmt == "verbose_json":
            body = {
                "task": "transcribe",
                "language": dialect.language(language),
                "duration": round(analysis.duration, 2),
                "text": text,
            }
            if "segment" in granularities or not granularities:
                body["segments"] = verbose_segments(
                    segments, temperature, whisper_fields=dialect.whisper_fields
                )
            if "word" in granularities:
                body["words"] = [{"word": s.word, "start": s.start, "end": s.end} for s in segments]
        if dialect.usage:
            body["usage"] = _usage(model, analysis.duration, len(segments))
        if dialect.x_groq:
            body["x_groq"] = {"id": self.request_id}
        return _json(body, 200, headers)

    # Deepgram

    async def _deepgram(self, dialect: DeepgramDialect) -> Response:
        query = self.request.query_params
        ctype = self.request.headers.get("content-type", "").lower()
        with self.service.spool("") as path:
            sha256 = await self._stream_to(path)
            if not self._authorised(self._key("Token")):
                raise dialect.error(401, "INVALID_AUTH", "Invalid credentials.", self.request_id)
            self.model = model = query.get("model") or dialect.default_model
            await self._faults()
            if model not in dialect.models:
                raise dialect.error(
                    400,
                    "Bad Request",
                    "No such model/language/tier combination found. Use the /v1/models "
                    "endpoint to see the models available to you.",
                    self.request_id,
                )
            if ctype.startswith("application/json"):
                raise dialect.error(
                    400,
                    "Bad Request",
                    "Bad Request: this emulator fetches no URLs; send the audio as the body "
                    "with Content-Type: audio/*",
                    self.request_id,
                )
            corrupt = dialect.error(400, "Bad Request", _DG_CORRUPT, self.request_id)
            if self.body.received == 0:
                raise corrupt
            analysis = await self._analyse(path, corrupt)
        self.stats.models[model] += 1

        def flag(name: str) -> bool:
            return query.get(name, "").strip().lower() in _TRUE

        body = deepgram_body(
            segments_for(analysis.spans),
            duration=round(analysis.duration, 6),
            model=model,
            request_id=self.request_id,
            sha256=sha256,
            punctuate=flag("punctuate") or flag("smart_format"),
            detect_language=flag("detect_language"),
            utterances=flag("utterances"),
        )
        return _json(body, 200, {self.id_header: self.request_id})

    async def _stream_to(self, path: Path) -> str:
        """Write the raw body to ``path`` (off the event loop); its SHA-256."""
        digest = hashlib.sha256()
        pending: list[bytes] = []
        size = 0
        try:
            with path.open("wb") as out:
                async for chunk in self.request.stream():
                    digest.update(chunk)
                    pending.append(chunk)
                    size += len(chunk)
                    if size >= _SPOOL_CHUNK:
                        await asyncio.to_thread(out.writelines, pending)
                        pending, size = [], 0
                await asyncio.to_thread(out.writelines, pending)
        except TooLarge:
            raise self.too_large(self.body.received) from None
        return digest.hexdigest()


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _temperature(dialect: OpenAIDialect, raw: str) -> float:
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise dialect.invalid(
            f"Invalid 'temperature': expected a number between 0 and 1, got {raw!r}.",
            "temperature",
            "invalid_value",
        )
    return value


def _usage(model: str, duration: float, words: int) -> dict[str, Any]:
    if model.startswith("gpt-"):
        audio = math.ceil(duration * 10)
        return {
            "type": "tokens",
            "input_tokens": audio,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
            "output_tokens": 3 * words,
            "total_tokens": audio + 3 * words,
        }
    return {"type": "duration", "seconds": math.ceil(duration)}
