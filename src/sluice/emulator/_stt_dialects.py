"""What each emulated speech-to-text provider accepts, and how it says no.

Groq, Together and OpenAI all speak OpenAI's ``/audio/transcriptions``, but
each with its own models, response formats, file types, limits and error
wording; Deepgram speaks its own ``/v1/listen``. The wording below is the
providers' own where it is published or widely reported, so client code that
matches on it behaves here as it will in production.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.emulator._transcript import language_name

__all__ = ["DIALECTS", "DeepgramDialect", "OpenAIDialect", "SttError", "endpoint_for"]

_ALL_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
_JSON_TEXT = frozenset({"json", "text"})


class SttError(Exception):
    """An error answer in a provider's own shape."""

    def __init__(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _mask(key: str) -> str:
    # OpenAI echoes a wrong key with its middle starred out; a short one is hidden whole.
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}" if len(key) > 12 else "***"


@dataclass(frozen=True, slots=True)
class OpenAIDialect:
    """An OpenAI-compatible provider: ``POST {base}/audio/transcriptions``, multipart."""

    name: str
    base: str
    # model -> response formats it supports; None: any model, every format.
    models: Mapping[str, frozenset[str]] | None
    # Accepted file name extensions; None: any name.
    extensions: tuple[str, ...] | None
    # How verbose_json names the language: "name" (english), "Name" (English) or "code".
    language_style: str = "code"
    whisper_fields: bool = True
    x_groq: bool = False
    usage: bool = False

    def new_request_id(self) -> str:
        return "req_" + secrets.token_hex(16)

    def error(
        self, status: int, message: str, type_: str, param: str | None = None, code: Any = None
    ) -> SttError:
        inner: dict[str, Any] = {"message": message, "type": type_}
        if self.name == "groq":  # Groq leaves out what it has nothing to say about
            if code is not None:
                inner["code"] = code
        else:
            inner.update(param=param, code=code)
        return SttError(status, {"error": inner})

    def unauthorized(self, key: str | None) -> SttError:
        if self.name == "groq":
            return self.error(
                401, "Invalid API Key", "invalid_request_error", code="invalid_api_key"
            )
        if self.name == "together":
            return self.error(
                401,
                "Invalid API key provided. You can find your API key at "
                "https://api.together.xyz/settings/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        if not key:
            return self.error(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). "
                "You can obtain an API key from https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
            )
        return self.error(
            401,
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            code="invalid_api_key",
        )

    def unknown_model(self, model: str) -> SttError:
        if self.name == "together":
            return self.error(
                404,
                f"Unable to access model {model}. Please visit https://api.together.ai/models "
                "to view the list of supported models.",
                "invalid_request_error",
                code="model_not_available",
            )
        return self.error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            code="model_not_found",
        )

    def invalid(self, message: str, param: str | None = None, code: str | None = None) -> SttError:
        return self.error(400, message, "invalid_request_error", param, code)

    def unsupported_format(self, fmt: str, model: str) -> SttError:
        formats = self.formats(model)
        if fmt not in _ALL_FORMATS or self.models is None:
            listed = ", ".join(f"'{f}'" for f in sorted(_ALL_FORMATS))
            return self.invalid(
                f"Invalid value: '{fmt}'. Supported values are: {listed}.",
                "response_format",
                "invalid_value",
            )
        if self.name == "openai":
            allowed = " or ".join(f"'{f}'" for f in sorted(formats))
            return self.invalid(
                f"response_format '{fmt}' is not compatible with model '{model}'. "
                f"Use {allowed} instead.",
                "response_format",
                "unsupported_value",
            )
        return self.invalid(
            f"response_format must be one of [{' '.join(sorted(formats))}]", "response_format"
        )

    def bad_extension(self) -> SttError:
        assert self.extensions is not None
        if self.name == "groq":
            message = f"file must be one of the following types: [{' '.join(self.extensions)}]"
        elif self.name == "together":
            message = "Unsupported file format. Supported formats: " + ", ".join(
                f".{e}" for e in self.extensions
            )
        else:
            message = f"Invalid file format. Supported formats: {list(self.extensions)}"
        return self.invalid(message)

    def undecodable(self) -> SttError:
        if self.name == "groq":
            return self.invalid(
                "could not process file - is it a valid media file?", code="invalid_media_file"
            )
        if self.name == "together":
            return self.invalid(
                "Could not decode the audio file: is it a valid media file?", "file"
            )
        return self.invalid("Audio file might be corrupted or unsupported", "file", "invalid_value")

    def too_large(self, limit: int, read: int) -> SttError:
        if self.name == "groq":
            return self.error(
                413, "Request Entity Too Large", "invalid_request_error", code="request_too_large"
            )
        if self.name == "together":
            return self.error(413, "Payload Too Large", "invalid_request_error")
        return self.error(
            413,
            f"Maximum content size limit ({limit}) exceeded ({read} bytes read)",
            "server_error",
        )

    def rate_limited(self, model: str, retry_after: int) -> SttError:
        if self.name == "groq":
            error = self.error(
                429,
                f"Rate limit reached for model `{model}` in organization `org_emulator` service "
                "tier `on_demand` on requests per minute (RPM): Limit 20, Used 20, Requested 1. "
                f"Please try again in {retry_after}s.",
                "requests",
                code="rate_limit_exceeded",
            )
            headers = {
                "x-ratelimit-limit-requests": "20",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after}s",
            }
        elif self.name == "together":
            error = self.error(
                429,
                "You have exceeded the rate limit for this model. Please slow down.",
                "rate_limit",
                code="rate_limit_exceeded",
            )
            headers = {
                "x-ratelimit-limit": "10",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(retry_after),
            }
        else:
            error = self.error(
                429,
                f"Rate limit reached for {model or 'whisper-1'} in organization org-emulator on "
                "requests per min (RPM): Limit 50, Used 50, Requested 1. Please try again in "
                f"{retry_after}s. Visit https://platform.openai.com/account/rate-limits to "
                "learn more.",
                "requests",
                code="rate_limit_exceeded",
            )
            headers = {
                "x-ratelimit-limit-requests": "50",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after}s",
            }
        error.headers = {"retry-after": str(retry_after), **headers}
        return error

    def server_error(self, status: int) -> SttError:
        if status == 502 and self.name == "openai":
            return SttError(
                502,
                {"error": {"code": 502, "message": "Bad gateway.", "param": None,
                           "type": "cf_bad_gateway"}},
            )  # fmt: skip
        messages = {
            500: "The server had an error while processing your request. Sorry about that!",
            502: "Bad Gateway",
            503: "The server is overloaded or not ready yet.",
        }
        if self.name == "groq":
            messages = {
                500: "Internal Server Error",
                502: "Bad Gateway",
                503: "Service Unavailable",
            }
            return self.error(status, messages[status], "internal_server_error")
        return self.error(status, messages[status], "server_error")

    def formats(self, model: str) -> frozenset[str]:
        if self.models is None:
            return _ALL_FORMATS
        return self.models.get(model, frozenset())

    def language(self, code: str) -> str:
        if self.language_style == "name":
            return language_name(code)
        if self.language_style == "Name":
            return language_name(code).capitalize()
        return code


@dataclass(frozen=True, slots=True)
class DeepgramDialect:
    """Deepgram's pre-recorded ``POST /v1/listen``: raw audio body, options in the query."""

    name: str = "deepgram"
    base: str = "/deepgram/v1"
    models: frozenset[str] = frozenset(
        {
            "nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general",
            "nova-2-meeting", "nova-2-phonecall", "nova-2-medical", "nova", "enhanced", "base",
            # Whisper Cloud, Deepgram's hosted Whisper (pre-recorded audio only): "whisper"
            # or one size of it.
            "whisper", "whisper-tiny", "whisper-base", "whisper-small", "whisper-medium",
            "whisper-large",
        }
    )  # fmt: skip
    default_model: str = "base"

    def error(self, status: int, err_code: str, err_msg: str, request_id: str) -> SttError:
        body = {"err_code": err_code, "err_msg": err_msg, "request_id": request_id}
        return SttError(status, body, {"dg-request-id": request_id})


_WHISPER_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")

DIALECTS: dict[str, OpenAIDialect | DeepgramDialect] = {
    "openai": OpenAIDialect(
        "openai",
        "/openai/v1",
        {
            "whisper-1": _ALL_FORMATS,
            "gpt-4o-transcribe": _JSON_TEXT,
            "gpt-4o-mini-transcribe": _JSON_TEXT,
        },
        _WHISPER_EXTENSIONS,
        language_style="name",
        usage=True,
    ),
    "groq": OpenAIDialect(
        "groq",
        "/groq/openai/v1",
        dict.fromkeys(
            ("whisper-large-v3", "whisper-large-v3-turbo"), _JSON_TEXT | {"verbose_json"}
        ),
        ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "opus", "wav", "webm"),
        language_style="Name",
        x_groq=True,
    ),
    "together": OpenAIDialect(
        "together",
        "/together/v1",
        {"openai/whisper-large-v3": frozenset({"json", "verbose_json"})},
        ("wav", "mp3", "m4a", "webm", "flac", "ogg", "opus", "aac"),
        whisper_fields=False,
    ),
    "generic": OpenAIDialect("generic", "/v1", None, None),
    "deepgram": DeepgramDialect(),
}


_ENDPOINTS = {
    dialect.base
    + ("/listen" if isinstance(dialect, DeepgramDialect) else "/audio/transcriptions"): name
    for name, dialect in DIALECTS.items()
}


def endpoint_for(path: str) -> str | None:
    """The provider whose transcription endpoint ``path`` is, if any."""
    # One dict lookup: this runs before every Bot API call too.
    return _ENDPOINTS.get(path.rstrip("/"))
